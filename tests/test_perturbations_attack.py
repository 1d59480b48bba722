"""The greedy word-importance attack on toy models whose weak spots are known."""

from __future__ import annotations

import math

import pytest

from stages.xlt.perturbations.attack import attack_qa, summarize_attacks

CONTEXT = "The Normans conquered England in 1066 after the battle of Hastings."
EXAMPLE = {"id": "n1", "article": "Normans", "lang": "en", "context": CONTEXT,
           "question": "When did the Normans conquer England?",
           "answers": {"text": ["1066"], "answer_start": [CONTEXT.index("1066")]}}


def exact_match(prediction: str, golds: list[str], lang: str) -> float:
    return float(prediction in golds)


class ToyModel:
    """Answers correctly unless one of its ``weak_words`` is missing from the question; records its batches."""

    def __init__(self, weak_words: set[str], answer: str = "1066"):
        self.weak_words, self.answer, self.batches = weak_words, answer, []

    def __call__(self, examples: list[dict]) -> list[str]:
        self.batches.append(len(examples))
        words = lambda q: set(q.replace("?", " ").split())  # noqa: E731
        return [self.answer if self.weak_words <= words(e["question"]) else "Hastings" for e in examples]


def test_attack_finds_the_weak_word_first_and_succeeds_with_one_edit():
    model = ToyModel({"When"})
    (result,) = attack_qa([EXAMPLE], model, exact_match, max_words=3, seed=0)
    assert result.success and result.status == "succeeded"
    assert result.words_changed == 1
    assert result.example["perturbation"]["changed_words"] == ["When"]
    assert not result.example["question"].startswith("When ")
    assert result.example["question"].endswith(" did the Normans conquer England?")
    assert result.original_score == 1.0 and result.final_score == 0.0
    # one batched call for the clean question + 6 deletions, then one call with the candidates for "When"
    assert model.batches[0] == 7 and len(model.batches) == 2
    assert result.queries == sum(model.batches)
    assert result.example["context"] == CONTEXT and result.example["answers"] == EXAMPLE["answers"]


def test_attack_is_deterministic_per_seed():
    first = attack_qa([EXAMPLE], ToyModel({"When"}), exact_match, max_words=3, seed=5)[0]
    again = attack_qa([EXAMPLE], ToyModel({"When"}), exact_match, max_words=3, seed=5)[0]
    assert first.example == again.example and first.queries == again.queries


def test_attack_with_lexicon_swaps_the_weak_word():
    lexicons = {("en", "de"): {"when": "wann", "normans": "normannen"}}
    (result,) = attack_qa([EXAMPLE], ToyModel({"When"}), exact_match, max_words=2, seed=0,
                          transformation="lexicon", lexicons=lexicons, target_lang="de")
    assert result.success and result.example["question"] == "Wann did the Normans conquer England?"
    assert result.queries == 7 + 1


def test_robust_model_fails_within_the_word_budget():
    model = ToyModel(set())
    (result,) = attack_qa([EXAMPLE], model, exact_match, max_words=2, seed=0)
    assert not result.success and result.status == "failed"
    assert result.words_changed == 0  # no edit lowered the score, so none was kept
    assert len(model.batches) == 1 + 6  # importance, then every word tried once
    assert result.example["question"] == EXAMPLE["question"]


def test_words_inside_the_gold_answer_are_never_edited():
    example = {**EXAMPLE, "question": "Who were the Normans?",
               "answers": {"text": ["Normans"], "answer_start": [CONTEXT.index("Normans")]}}
    model = ToyModel({"Normans"}, answer="Normans")
    (result,) = attack_qa([example], model, exact_match, max_words=3, seed=0)
    assert "Normans" in result.example["question"] and not result.success


def test_already_wrong_examples_are_skipped_and_summary_counts():
    wrong = attack_qa([EXAMPLE], ToyModel({"When"}, answer="1067"), exact_match, max_words=1, seed=0)
    right = attack_qa([EXAMPLE], ToyModel({"When"}), exact_match, max_words=1, seed=0)
    assert wrong[0].status == "skipped" and wrong[0].queries == 7
    summary = summarize_attacks(wrong + right)
    assert summary["n_skipped"] == 1 and summary["success_rate"] == 1.0 and summary["mean_words_changed"] == 1.0
    assert math.isnan(summarize_attacks(wrong)["success_rate"])


@pytest.mark.parametrize("kwargs, message", [
    ({"transformation": "paraphrase"}, "transformation must be one of"),
    ({"max_words": 0}, "max_words must be"),
    ({"goal_fraction": 1.5}, "goal_fraction must be"),
    ({"transformation": "lexicon", "target_lang": "de"}, "needs lexicons"),
])
def test_bad_attack_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attack_qa([EXAMPLE], ToyModel(set()), exact_match, seed=0, **{"max_words": 2, **kwargs})

"""The greedy word-importance attacks (QA and sentence pairs) on toy models whose weak spots are known."""

from __future__ import annotations

import pytest

from stages.xlt.perturbations.attack import attack_classification, attack_qa

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


def test_already_wrong_examples_are_skipped():
    (wrong,) = attack_qa([EXAMPLE], ToyModel({"When"}, answer="1067"), exact_match, max_words=1, seed=0)
    (right,) = attack_qa([EXAMPLE], ToyModel({"When"}), exact_match, max_words=1, seed=0)
    assert wrong.status == "skipped" and wrong.queries == 7 and not wrong.success
    assert wrong.example["question"] == EXAMPLE["question"] and wrong.example["perturbation"]["applied"] is False
    assert "min_clean_score" in wrong.example["perturbation"]["reason"]
    assert right.status == "succeeded" and right.example["perturbation"]["applied"] is True


def test_known_clean_prediction_saves_the_first_query_and_skips_below_threshold():
    model = ToyModel({"When"})
    (result,) = attack_qa([EXAMPLE], model, exact_match, max_words=3, seed=0, clean_predictions={"n1": "1066"})
    assert result.success and result.clean_score == 1.0 and result.original_score == 1.0
    assert model.batches[0] == 6  # only the deletions: the clean answer was given
    assert result.example["perturbation"]["clean_score"] == 1.0

    def half_f1(prediction, golds, lang):
        return 0.4
    model = ToyModel({"When"})
    (skipped,) = attack_qa([EXAMPLE], model, half_f1, seed=0, clean_predictions={"n1": "1066 AD"})
    assert skipped.status == "skipped" and skipped.queries == 0 and model.batches == []
    (low,) = attack_qa([EXAMPLE], ToyModel({"When"}), half_f1, seed=0, min_clean_score=0.3,
                       clean_predictions={"n1": "x"})
    assert low.status != "skipped"


@pytest.mark.parametrize("kwargs, message", [
    ({"transformation": "paraphrase"}, "transformation must be one of"),
    ({"max_words": 0}, "max_words must be"),
    ({"goal_fraction": 1.5}, "goal_fraction must be"),
    ({"transformation": "lexicon", "target_lang": "de"}, "needs lexicons"),
])
def test_bad_attack_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attack_qa([EXAMPLE], ToyModel(set()), exact_match, seed=0, **{"max_words": 2, **kwargs})


# ---------------------------------------------------------------- classification

PAIR = {"id": "p1", "lang": "en", "text_a": "A man is playing a guitar on stage.",
        "text_b": "A man is playing an instrument.", "label": 0, "cluster": 7}


class ToyClassifier:
    """Predicts ``label`` unless ``weak_word`` in ``side`` was changed (typo'd or swapped); records what it saw."""

    def __init__(self, weak_word: str, side: str = "text_b", label: int = 0, other: int = 2,
                 probabilities: bool = False):
        self.weak_word, self.side, self.label, self.other = weak_word, side, label, other
        self.probabilities, self.batches, self.seen = probabilities, [], []

    def __call__(self, examples: list[dict]) -> list:
        self.batches.append(len(examples))
        self.seen.extend(examples)
        out = []
        for e in examples:
            intact = self.weak_word in e[self.side].replace(".", " ").split()
            label = self.label if intact else self.other
            out.append([0.8 if i == label else 0.1 for i in range(3)] if self.probabilities else label)
        return out


def test_classification_attack_flips_the_label_by_editing_the_weak_word():
    model = ToyClassifier("instrument")
    (result,) = attack_classification([PAIR], model, seed=0, max_words=3)
    assert result.success and result.status == "succeeded" and result.words_changed == 1
    assert result.changed_words == ["instrument"]
    assert "instrument" not in result.example["text_b"] and result.example["text_b"].startswith("A man is playing an ")
    assert result.example["text_a"] == PAIR["text_a"]  # NLI default: only the hypothesis is edited
    assert result.example["label"] == 0 and result.example["cluster"] == 7
    assert result.clean_prediction == 0 and result.final_prediction == 2
    record = result.example["perturbation"]
    assert record["applied"] and record["clean_score"] == 1.0 and record["final_score"] == 0.0
    assert record["chrf_text_a"] == 100.0 and record["chrf_text_b"] < 100.0
    # importance batch: clean + one deletion per hypothesis word; then the weak word's candidates in ONE call
    assert model.batches[0] == 1 + 6 and len(model.batches) == 2
    assert result.queries == sum(model.batches)


def test_classification_attack_never_edits_the_forbidden_side():
    model = ToyClassifier("guitar", side="text_a")  # the weakness is in the premise, which NLI may not edit
    (result,) = attack_classification([PAIR], model, seed=0, max_words=3)
    assert not result.success and result.status == "failed"
    assert all(e["text_a"] == PAIR["text_a"] for e in model.seen)
    assert result.example["text_a"] == PAIR["text_a"]
    (both,) = attack_classification([PAIR], ToyClassifier("guitar", side="text_a"), seed=0, task="paraphrase")
    assert both.success and "guitar" not in both.example["text_a"]  # paraphrase default: both sides
    (hyp_only,) = attack_classification([PAIR], ToyClassifier("guitar", side="text_a"), seed=0, task="pawsx",
                                        fields=["text_b"])
    assert not hyp_only.success


def test_classification_attack_respects_max_words_and_max_edit_fraction():
    class NeedsTwo(ToyClassifier):
        def __call__(self, examples):
            self.batches.append(len(examples))
            words = [set(e["text_b"].replace(".", " ").split()) for e in examples]
            return [[0.9, 0.05, 0.05] if {"man", "instrument"} <= w else
                    [0.6, 0.3, 0.1] if {"man", "instrument"} & w else [0.2, 0.1, 0.7] for w in words]

    (one,) = attack_classification([PAIR], NeedsTwo("x"), seed=0, max_words=1)
    assert not one.success and one.words_changed == 1
    assert one.final_score == pytest.approx(0.6)  # the probability of the gold label went down: edit kept
    (two,) = attack_classification([PAIR], NeedsTwo("x"), seed=0, max_words=2)
    assert two.success and two.words_changed == 2 and set(two.changed_words) == {"man", "instrument"}
    short = {**PAIR, "text_b": "Music."}  # one word: floor(0.5 x 1) = 0 edits allowed
    (skipped,) = attack_classification([short], ToyClassifier("Music"), seed=0)
    assert skipped.status == "skipped" and "max_edit_fraction" in skipped.example["perturbation"]["reason"]
    (allowed,) = attack_classification([short], ToyClassifier("Music"), seed=0, max_edit_fraction=1.0)
    assert allowed.success


def test_classification_attack_skips_wrong_clean_predictions():
    model = ToyClassifier("instrument", label=1)  # predicts 1, gold is 0
    (result,) = attack_classification([PAIR], model, seed=0)
    assert result.status == "skipped" and result.words_changed == 0 and result.queries == 7
    assert result.example["text_b"] == PAIR["text_b"] and result.example["perturbation"]["applied"] is False
    model = ToyClassifier("instrument", label=1)
    (known,) = attack_classification([PAIR], model, seed=0, clean_predictions={"p1": 1})
    assert known.status == "skipped" and known.queries == 0 and model.batches == []


def test_classification_attack_with_lexicon_and_probabilities():
    lexicons = {("en", "de"): {"instrument": "instrument", "man": "mann", "playing": "spielt"}}
    model = ToyClassifier("playing", probabilities=True)
    (result,) = attack_classification([PAIR], model, seed=0, transformation="lexicon", lexicons=lexicons,
                                      target_lang="de")
    assert result.success and result.example["text_b"] == "A man is spielt an instrument."
    again = attack_classification([PAIR], ToyClassifier("playing", probabilities=True), seed=0,
                                  transformation="lexicon", lexicons=lexicons, target_lang="de")[0]
    assert again.example == result.example


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "sts"}, "task="),
    ({"fields": ["label"]}, "fields must be"),
    ({"transformation": "lexicon", "target_lang": "de"}, "needs lexicons"),
    ({"max_words": 0}, "max_words must be"),
])
def test_bad_classification_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attack_classification([PAIR], ToyClassifier("x"), seed=0, **kwargs)

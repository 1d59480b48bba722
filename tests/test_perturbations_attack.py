"""The greedy word-importance attacks (QA and sentence pairs) on toy models whose weak spots are known."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from stages.xlt.perturbations.attack import (CleanPredictionMismatch, attack_classification, attack_qa,
                                             importance_order, Outcome)
from stages.xlt.perturbations.attack_typos import typo_model

CONTEXT = "The Normans conquered England in 1066 after the battle of Hastings."
EXAMPLE = {"id": "n1", "article": "Normans", "lang": "en", "context": CONTEXT,
           "question": "When did the Normans conquer England?",
           "answers": {"text": ["1066"], "answer_start": [CONTEXT.index("1066")]}}
ANSWER = (CONTEXT.index("1066"), CONTEXT.index("1066") + 4)
# The words the typo model may edit: "When", "did" and "the" are stop words or too short.
EDITABLE = ["Normans", "conquer", "England"]


def exact_match(prediction: str, golds: list[str], lang: str) -> float:
    return float(prediction in golds)


@dataclass(frozen=True)
class Span:
    answer: str
    span: tuple[int, int] | None
    probability: float


def words(text: str) -> set[str]:
    return set(text.replace("?", " ").replace(".", " ").split())


class ToyQA:
    """Answers "1066" while ``weak_word`` is intact in the question, else "Hastings". The probability of the
    answer span falls a little (x ``other``) for every other original word that is missing, and a lot (x 0.2) when
    the weak word is. Records every batch it is sent."""

    def __init__(self, weak_word: str | None, other: float = 0.97, answer: str = "1066"):
        self.weak_word, self.other, self.answer, self.batches = weak_word, other, answer, []

    def __call__(self, examples: list[dict], targets: list) -> list[Span]:
        self.batches.append([e["question"] for e in examples])
        out = []
        for example, target in zip(examples, targets):
            present = words(example["question"])
            missing = words(EXAMPLE["question"]) - present
            weak_missing = self.weak_word is not None and self.weak_word in missing
            probability = 0.9 * (0.2 if weak_missing else 1.0) * self.other ** len(missing - {self.weak_word})
            answer = "Hastings" if weak_missing else self.answer
            start = CONTEXT.index(answer)
            out.append(Span(answer, (start, start + len(answer)), probability))
        return out


def test_the_search_ranks_words_by_the_models_score_and_attacks_the_weak_word_first():
    model = ToyQA("England")  # the last editable word: word order would try it last
    (result,) = attack_qa([EXAMPLE], model, exact_match, max_words=3, seed=0)
    assert result.success and result.status == "succeeded" and result.words_changed == 1
    assert result.changed_words == ["England"]
    # batches: the clean question; one deletion per editable word; then the candidates of "England" only
    assert len(model.batches[0]) == 1 and len(model.batches[1]) == len(EDITABLE)
    assert all("Normans" in q and "conquer" in q and "England" not in q for q in model.batches[2])
    assert result.queries == sum(len(b) for b in model.batches)
    assert result.clean_score == pytest.approx(0.9) and result.final_score == pytest.approx(0.18)
    assert result.clean_metric == 1.0 and result.final_metric == 0.0
    assert result.example["context"] == CONTEXT and result.example["answers"] == EXAMPLE["answers"]
    (edit,) = result.edits
    assert edit["word"] == "England" and edit["replacement"] in {t.text for t in typo_model("en").typos("England")}
    assert result.n_words == 6


def test_the_goal_score_is_the_probability_of_the_clean_span():
    targets = []

    def model(examples, spans):
        targets.extend(spans)
        return ToyQA("Normans")(examples, spans)

    attack_qa([EXAMPLE], model, exact_match, max_words=1, seed=0)
    assert targets[0] is None  # the clean query asks for the model's own answer
    assert set(targets[1:]) == {ANSWER}  # every later query scores the clean answer's span


def test_ties_are_broken_in_a_seeded_order_not_word_order():
    firsts = set()
    for seed in range(12):
        model = ToyQA(None, other=1.0)  # deleting any word changes nothing: all importances tie
        (result,) = attack_qa([EXAMPLE], model, exact_match, max_words=3, seed=seed)
        assert not result.success and result.words_changed == 0
        first_attacked = next(w for w in EDITABLE if all(w not in q for q in model.batches[2]))
        firsts.add(first_attacked)
    assert len(firsts) > 1


def test_importance_order_puts_unranked_words_last_in_seeded_order():
    import random

    clean = Outcome(1.0, 1.0, None)
    deleted = [Outcome(0.5, 1, None), Outcome(0.9, 1, None), Outcome(0.5, 1, None)]
    order = importance_order(clean, deleted, 5, random.Random(3))
    assert set(order[:2]) == {0, 2} and order[2] == 1 and set(order[3:]) == {3, 4}


def test_attack_is_deterministic_per_seed():
    first = attack_qa([EXAMPLE], ToyQA("Normans"), exact_match, max_words=3, seed=5)[0]
    again = attack_qa([EXAMPLE], ToyQA("Normans"), exact_match, max_words=3, seed=5)[0]
    assert first.example == again.example and first.queries == again.queries


def test_the_query_budget_is_kept_and_reported():
    (limited,) = attack_qa([EXAMPLE], ToyQA(None, other=0.99), exact_match, max_words=3, seed=0, max_queries=6)
    assert limited.queries == 6 and limited.budget_exhausted and limited.status == "failed"
    assert limited.example["perturbation"]["reason"] == "the query budget ran out"
    (free,) = attack_qa([EXAMPLE], ToyQA(None, other=0.99), exact_match, max_words=3, seed=0)
    assert free.queries > 6 and not free.budget_exhausted
    with pytest.raises(ValueError, match="max_queries"):
        attack_qa([EXAMPLE], ToyQA(None), exact_match, seed=0, max_queries=1)


def test_attack_with_lexicon_swaps_the_weak_word():
    lexicons = {("en", "de"): {"normans": "normannen", "england": "england"}}
    (result,) = attack_qa([EXAMPLE], ToyQA("Normans"), exact_match, max_words=2, seed=0,
                          transformation="lexicon", lexicons=lexicons, target_lang="de")
    assert result.success and result.example["question"] == "When did the Normannen conquer England?"
    assert result.edits[0]["operation"] == "translate"
    assert result.queries == 1 + 1 + 1  # clean, the one translatable word deleted, its translation


def test_words_inside_the_gold_answer_are_never_edited():
    example = {**EXAMPLE, "question": "Who were the Normans?",
               "answers": {"text": ["Normans"], "answer_start": [CONTEXT.index("Normans")]}}
    (result,) = attack_qa([example], ToyQA("Normans", answer="Normans"), exact_match, max_words=3, seed=0)
    assert "Normans" in result.example["question"] and not result.success


def test_stored_predictions_decide_eligibility_without_a_query():
    model = ToyQA("Normans")
    (wrong,) = attack_qa([EXAMPLE], model, exact_match, seed=0, stored_predictions={"n1": "1067"})
    assert wrong.status == "skipped" and wrong.queries == 0 and model.batches == []
    assert "min_clean_score" in wrong.example["perturbation"]["reason"]
    assert wrong.example["perturbation"]["applied"] is False
    (right,) = attack_qa([EXAMPLE], model, exact_match, seed=0, stored_predictions={"n1": "1066"})
    assert right.status == "succeeded" and right.example["perturbation"]["applied"] is True


def test_a_recomputed_clean_prediction_that_differs_from_the_stored_one_fails_loudly():
    with pytest.raises(CleanPredictionMismatch, match="n1.*re-run"):
        attack_qa([EXAMPLE], ToyQA("Normans", answer="Hastings"), exact_match, seed=0,
                  stored_predictions={"n1": "1066"})
    with pytest.raises(CleanPredictionMismatch, match="p1"):
        attack_classification([PAIR], ToyClassifier("instrument", label=1), seed=0, stored_predictions={"p1": 0})


def test_without_stored_predictions_the_recomputed_one_decides():
    (wrong,) = attack_qa([EXAMPLE], ToyQA("Normans", answer="Hastings"), exact_match, seed=0)
    assert wrong.status == "skipped" and wrong.queries == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"transformation": "paraphrase"}, "transformation must be one of"),
    ({"max_words": 0}, "max_words must be"),
    ({"goal_fraction": 1.5}, "goal_fraction must be"),
    ({"transformation": "lexicon", "target_lang": "de"}, "needs lexicons"),
])
def test_bad_attack_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attack_qa([EXAMPLE], ToyQA(None), exact_match, seed=0, **{"max_words": 2, **kwargs})


# ---------------------------------------------------------------- classification

PAIR = {"id": "p1", "lang": "en", "text_a": "A man is playing a guitar on stage.",
        "text_b": "A man is playing an instrument.", "label": 0, "cluster": 7}


class ToyClassifier:
    """Predicts ``label`` unless ``weak_word`` in ``side`` was changed (typo'd or swapped); records what it saw."""

    def __init__(self, weak_word: str, side: str = "text_b", label: int = 0, other: int = 2):
        self.weak_word, self.side, self.label, self.other = weak_word, side, label, other
        self.batches, self.seen = [], []

    def __call__(self, examples: list[dict]) -> list:
        self.batches.append(len(examples))
        self.seen.extend(examples)
        out = []
        for e in examples:
            label = self.label if self.weak_word in words(e[self.side]) else self.other
            out.append([0.8 if i == label else 0.1 for i in range(3)])
        return out


def test_classification_attack_flips_the_label_by_editing_the_weak_word():
    model = ToyClassifier("instrument")
    (result,) = attack_classification([PAIR], model, seed=0, max_words=3)
    assert result.success and result.status == "succeeded" and result.words_changed == 1
    assert result.changed_words == ["instrument"]
    assert "instrument" not in result.example["text_b"] and result.example["text_b"].startswith("A man is playing an ")
    assert result.example["text_a"] == PAIR["text_a"]  # NLI default: only the hypothesis is edited
    assert result.example["label"] == 0 and result.example["cluster"] == 7
    assert result.clean_metric == 1.0 and result.final_metric == 0.0
    record = result.example["perturbation"]
    assert record["applied"] and record["clean_score"] == 0.8 and record["final_score"] == pytest.approx(0.1)
    assert record["chrf_text_a"] == 100.0 and record["chrf_text_b"] < 100.0
    # clean; deletions of the editable hypothesis words ("playing", "instrument"); the weak word's candidates
    assert model.batches[:2] == [1, 2] and result.queries == sum(model.batches)


def test_classification_attack_never_edits_the_forbidden_side():
    model = ToyClassifier("guitar", side="text_a")  # the weakness is in the premise, which NLI may not edit
    (result,) = attack_classification([PAIR], model, seed=0, max_words=3)
    assert not result.success and result.status == "failed"
    assert all(e["text_a"] == PAIR["text_a"] for e in model.seen)
    (both,) = attack_classification([PAIR], ToyClassifier("guitar", side="text_a"), seed=0, task="paraphrase")
    assert both.success and "guitar" not in both.example["text_a"]  # paraphrase default: both sides
    (hyp_only,) = attack_classification([PAIR], ToyClassifier("guitar", side="text_a"), seed=0, task="pawsx",
                                        fields=["text_b"])
    assert not hyp_only.success


def test_classification_attack_respects_max_words_and_max_edit_fraction():
    class NeedsTwo(ToyClassifier):
        def __call__(self, examples):
            self.batches.append(len(examples))
            found = [words(e["text_b"]) & {"playing", "instrument"} for e in examples]
            return [[0.9, 0.05, 0.05] if len(w) == 2 else [0.6, 0.3, 0.1] if w else [0.2, 0.1, 0.7] for w in found]

    (one,) = attack_classification([PAIR], NeedsTwo("x"), seed=0, max_words=1)
    assert not one.success and one.words_changed == 1
    assert one.final_score == pytest.approx(0.6)  # the probability of the gold label went down: edit kept
    (two,) = attack_classification([PAIR], NeedsTwo("x"), seed=0, max_words=2)
    assert two.success and two.words_changed == 2 and set(two.changed_words) == {"playing", "instrument"}
    short = {**PAIR, "text_b": "Music."}  # one word: floor(0.5 x 1) = 0 edits allowed
    (skipped,) = attack_classification([short], ToyClassifier("Music"), seed=0)
    assert skipped.status == "skipped" and "max_edit_fraction" in skipped.example["perturbation"]["reason"]
    (allowed,) = attack_classification([short], ToyClassifier("Music"), seed=0, max_edit_fraction=1.0)
    assert allowed.success


def test_classification_attack_skips_wrong_clean_predictions():
    model = ToyClassifier("instrument", label=1)  # predicts 1, gold is 0
    (result,) = attack_classification([PAIR], model, seed=0)
    assert result.status == "skipped" and result.words_changed == 0 and result.queries == 1
    assert result.example["text_b"] == PAIR["text_b"] and result.example["perturbation"]["applied"] is False
    model = ToyClassifier("instrument", label=1)
    (known,) = attack_classification([PAIR], model, seed=0, stored_predictions={"p1": 1})
    assert known.status == "skipped" and known.queries == 0 and model.batches == []


def test_stop_words_and_negations_are_never_attacked():
    pair = {**PAIR, "text_b": "The man is not playing any instrument."}
    model = ToyClassifier("not")
    (result,) = attack_classification([pair], model, seed=0, max_words=3)
    assert "not" in words(result.example["text_b"]) and not result.success
    assert all("not" in words(e["text_b"]) and "The" in words(e["text_b"]) for e in model.seen)


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "sts"}, "task="),
    ({"fields": ["label"]}, "fields must be"),
    ({"transformation": "lexicon", "target_lang": "de"}, "needs lexicons"),
    ({"max_words": 0}, "max_words must be"),
])
def test_bad_classification_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        attack_classification([PAIR], ToyClassifier("x"), seed=0, **kwargs)

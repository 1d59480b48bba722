"""Model-aware word-level attacks on QA questions and on sentence pairs, framed as in TextAttack (Morris et al.
2020): a goal, constraints, a transformation and a search, each a small piece shared by both attacks.

* goal (its score: higher = the model does better; the search lowers it):
  - QA (``QASpanGoal``): the score is the probability the model gives the CLEAN predicted answer span
    (``inference.predict_spans``: p_start x p_end in a window, the maximum over the windows holding the span), so it
    moves continuously when a word is deleted or edited, where the answer's F1 rarely moves. The attack succeeds
    when the answer's F1 against the gold answers falls below ``goal_fraction`` x the clean answer's F1 (0.5: at
    least halved). An item is attacked only when the clean answer's F1 is at least ``min_clean_score`` (and > 0).
  - classification (``LabelFlipGoal``): the score is the probability of the gold label; an item is attacked only
    when the clean prediction is the gold label; the attack succeeds when the predicted label is no longer gold.
  Ineligible items are SKIPPED (TextAttack's term), with the reason in the record, and cost no query.
* constraints (``WordConstraints``): only the chosen fields are edited (QA: the question, so the context and the
  answer offsets never change; NLI: by default the hypothesis ``text_b``; PAWS-X: by default both sentences);
  QA question words overlapping a gold answer string are never edited; each word is edited at most once; at most
  ``max_words`` words and never more than ``max_edit_fraction`` of the words; the transformation's own rules
  (for typos, ``attack_typos``: stop words and negations are never edited, one character operation per word,
  no typo that is a real word of the language).
* transformation: ``"typo"`` (``attack_typos.TypoModel``: realistic typos per language, ``candidates_per_word``
  drawn per word) or ``"lexicon"`` (the word's translation from ``lexicons[(lang, target_lang)]``, see
  ``lexicon.py``).
* search (``greedy_search``): greedy with word-importance ranking (Jin et al. 2020's "delete-one" importance: the
  clean score minus the score with the word deleted, over the words the transformation can edit); ties (and words
  left unranked by the budget) in a seeded order, never in word order; words are attacked in decreasing importance,
  keeping the best candidate of a word only if it lowers the score, until the goal is met, the word budget is
  spent or ``max_queries`` (the same for every model) is reached.

One clean prediction: the caller passes the STORED clean predictions (``stored_predictions``: id -> answer text or
label); eligibility is decided on them without a query. An eligible item's clean prediction is recomputed (the
search needs the answer's span or the class probabilities) and must equal the stored one, else
``CleanPredictionMismatch`` is raised: the two would not describe the same model.

``queries`` counts examples sent to the model, the clean one included, as TextAttack counts them.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..languages import SCRIPTS
from ..scoring.metrics import label_accuracy
from .attack_typos import typo_model
from .codeswitch import _match_case, _spaced
from .knobs import ATTACK_TRANSFORMATIONS, FIELDS, pair_task
from .lexicon import lexicon_key
from .rng import check_rate, example_rng
from .spans import check_answers
from .strength import with_record
from .text_units import SUPPORTED_SCRIPTS, Unit, uses_spaces, word_units
from .typos import check_fields

Predict = Callable[[list[dict]], list[Any]]
# QA: (examples, target spans) -> one answer per example with .answer, .span and .probability (of the target span;
# of the answer itself where the target is None), as ``inference.predict_spans`` gives them.
PredictSpans = Callable[[list[dict], list[tuple[int, int] | None]], list[Any]]
ScoreFn = Callable[[str, list[str], str], float]


class CleanPredictionMismatch(ValueError):
    """The attack's recomputed clean prediction differs from the stored one."""


@dataclass
class AttackResult:
    example: dict  # the adversarial example (the clean one when skipped), with its ``perturbation`` record
    success: bool
    status: str  # "succeeded" | "failed" | "skipped"
    words_changed: int
    queries: int
    clean_score: float  # the goal's score (QA: probability of the clean span; classification: of the gold label)
    final_score: float
    clean_metric: float  # the task metric (QA: F1 against the gold answers; classification: accuracy)
    final_metric: float
    n_words: int  # words in the editable fields (for TextAttack's "% of words perturbed")
    changed_words: list[str] = field(default_factory=list)
    edits: list[dict] = field(default_factory=list)  # {"word", "replacement", "operation"} per changed word
    clean_prediction: Any = None
    final_prediction: Any = None
    budget_exhausted: bool = False


# ---------------------------------------------------------------- the text being edited

class _Field:
    """One field as alternating gaps and word units, so edits never shift other words' positions."""

    def __init__(self, text: str, lang: str):
        self.text = text
        self.units: list[Unit] = [u for u in word_units(text, lang) if u.script in SUPPORTED_SCRIPTS]
        bounds = [0] + [x for u in self.units for x in (u.start, u.end)] + [len(text)]
        self.gaps = [text[bounds[2 * i]:bounds[2 * i + 1]] for i in range(len(self.units) + 1)]
        self.words = [text[u.start:u.end] for u in self.units]

    def render(self, replace: Mapping[int, str]) -> str:
        words = [replace.get(i, w) for i, w in enumerate(self.words)]
        return "".join(g + w for g, w in zip(self.gaps, words + [""]))

    def without(self, i: int) -> str:
        """The text with word ``i`` deleted (one of the two spaces around it goes too)."""
        left, right = self.gaps[i], self.gaps[i + 1]
        merged = left + (right[1:] if left.endswith(" ") and right.startswith(" ") else right)
        before = "".join(g + w for g, w in zip(self.gaps[:i], self.words[:i]))
        after = "".join(w + g for w, g in zip(self.words[i + 1:], self.gaps[i + 2:]))
        return before + merged + after


class Editable:
    """The editable fields of one example; words are numbered across fields (slot k = (field, word index))."""

    def __init__(self, example: dict, fields: Sequence[str]):
        self.lang = example["lang"]
        self.fields = {f: _Field(example[f], self.lang) for f in fields if example.get(f) is not None}
        self.slots = [(f, i) for f, parsed in self.fields.items() for i in range(len(parsed.words))]

    def word(self, k: int) -> str:
        f, i = self.slots[k]
        return self.fields[f].words[i]

    def unit(self, k: int) -> Unit:
        f, i = self.slots[k]
        return self.fields[f].units[i]

    def render(self, replace: Mapping[int, str] | None = None) -> dict[str, str]:
        by_field: dict[str, dict[int, str]] = {f: {} for f in self.fields}
        for k, word in (replace or {}).items():
            f, i = self.slots[k]
            by_field[f][i] = word
        return {f: parsed.render(by_field[f]) for f, parsed in self.fields.items()}

    def without(self, k: int) -> dict[str, str]:
        f, i = self.slots[k]
        return {**self.render(), f: self.fields[f].without(i)}


# ---------------------------------------------------------------- goals

@dataclass(frozen=True)
class Outcome:
    score: float  # the goal's score: higher = the model does better on the example
    metric: float  # the task metric of the prediction (F1 or accuracy)
    prediction: Any


class Goal(Protocol):
    def outcome(self, prediction: Any, example: dict) -> Outcome: ...

    def ineligible(self, clean_metric: float, example: dict) -> str | None: ...  # the reason to skip, or None

    def met(self, current: Outcome, clean: Outcome, example: dict) -> bool: ...


@dataclass(frozen=True)
class QASpanGoal:
    score_fn: ScoreFn
    goal_fraction: float = 0.5
    min_clean_score: float = 0.5

    def metric(self, answer: str, example: dict) -> float:
        return float(self.score_fn(answer, example["answers"]["text"], example["lang"]))

    def outcome(self, prediction: Any, example: dict) -> Outcome:
        return Outcome(float(prediction.probability), self.metric(prediction.answer, example), prediction)

    def ineligible(self, clean_metric: float, example: dict) -> str | None:
        if clean_metric <= 0.0 or clean_metric < self.min_clean_score:
            return f"clean F1 {clean_metric:.3f} is below min_clean_score {self.min_clean_score} (or 0)"
        return None

    def met(self, current: Outcome, clean: Outcome, example: dict) -> bool:
        return current.metric < self.goal_fraction * clean.metric


def _is_vector(prediction: Any) -> bool:
    return hasattr(prediction, "__len__") and not isinstance(prediction, (str, bytes))


def predicted_label(prediction: Any) -> int:
    """A label, or the argmax of a class-probability vector (list, tuple or array; first maximum on ties)."""
    if _is_vector(prediction):
        return max(range(len(prediction)), key=lambda i: (float(prediction[i]), -i))
    return int(prediction)


@dataclass(frozen=True)
class LabelFlipGoal:
    def outcome(self, prediction: Any, example: dict) -> Outcome:
        gold = example["label"]
        correct = label_accuracy(predicted_label(prediction), example, example.get("lang", ""))
        return Outcome(float(prediction[gold]) if _is_vector(prediction) else correct, correct, prediction)

    def ineligible(self, clean_metric: float, example: dict) -> str | None:
        return "the clean prediction is wrong: nothing to flip" if clean_metric < 1.0 else None

    def met(self, current: Outcome, clean: Outcome, example: dict) -> bool:
        return predicted_label(current.prediction) != example["label"]


# ---------------------------------------------------------------- constraints

@dataclass(frozen=True)
class WordConstraints:
    fields: tuple[str, ...]
    max_words: int
    max_edit_fraction: float
    protect_answers: bool = False  # QA: never edit question words overlapping a gold answer string

    def attackable(self, editable: Editable, example: dict) -> list[int]:
        protected: set[int] = set()
        if self.protect_answers:
            for f, parsed in editable.fields.items():
                text = parsed.text.casefold()
                for gold in (g.casefold() for g in example["answers"]["text"] if g):
                    start = text.find(gold)
                    while start != -1:
                        protected |= {k for k, (g, i) in enumerate(editable.slots) if g == f
                                      and parsed.units[i].start < start + len(gold) and start < parsed.units[i].end}
                        start = text.find(gold, start + 1)
        return [k for k in range(len(editable.slots)) if k not in protected]

    def budget(self, editable: Editable) -> int:
        return min(self.max_words, math.floor(self.max_edit_fraction * len(editable.slots)))


# ---------------------------------------------------------------- transformations

@dataclass(frozen=True)
class Candidate:
    text: str
    operation: str


@dataclass(frozen=True)
class TypoTransformation:
    """Realistic typos of the language (``attack_typos``); a word it may not edit has no candidate."""

    candidates_per_word: int = 4

    def editable(self, editable: Editable, k: int) -> bool:
        return bool(typo_model(editable.lang).typos(editable.word(k)))

    def candidates(self, editable: Editable, k: int, rng: random.Random) -> list[Candidate]:
        typos = typo_model(editable.lang).sample(editable.word(k), rng, self.candidates_per_word)
        return [Candidate(t.text, t.operation) for t in typos]


@dataclass(frozen=True)
class LexiconTransformation:
    lexicon: Mapping[str, str]
    target_lang: str

    def editable(self, editable: Editable, k: int) -> bool:
        key = lexicon_key(editable.word(k), editable.lang)
        return bool(self.lexicon.get(key)) and self.lexicon[key] != key

    def candidates(self, editable: Editable, k: int, rng: random.Random) -> list[Candidate]:
        if not self.editable(editable, k):
            return []
        word, lang = editable.word(k), editable.lang
        translation = _match_case(word, self.lexicon[lexicon_key(word, lang)])
        if not uses_spaces(SCRIPTS.get(lang, "Latn")):  # a spaced-script word in Thai/Chinese text gets spaces
            f, i = editable.slots[k]
            unit, text = editable.fields[f].units[i], editable.fields[f].text
            translation = _spaced(translation, text, unit.start, unit.end, self.target_lang)
        return [Candidate(translation, "translate")]


Transformation = TypoTransformation | LexiconTransformation


def make_transformation(transformation: str, lang: str, *, candidates_per_word: int, target_lang: str,
                        lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None, caller: str):
    if transformation == "typo":
        return TypoTransformation(candidates_per_word)
    if lang == target_lang:
        return LexiconTransformation({}, target_lang)
    if lexicons is None or (lang, target_lang) not in lexicons:
        raise ValueError(f"{caller}: transformation='lexicon' needs lexicons[({lang!r}, {target_lang!r})]; build "
                         "them with prepare.tatoeba_lexicons")
    return LexiconTransformation(lexicons[(lang, target_lang)], target_lang)


# ---------------------------------------------------------------- search

class Oracle:
    """Sends variants of one example to the model in one batch and scores them, counting queries and keeping to
    the query budget (a batch larger than what is left is cut to fit)."""

    def __init__(self, example: dict, predict: Predict, goal: Goal, queries: int, max_queries: int | None):
        self.example, self.predict, self.goal = example, predict, goal
        self.queries, self.max_queries = queries, max_queries

    @property
    def left(self) -> int | float:
        return math.inf if self.max_queries is None else max(0, self.max_queries - self.queries)

    def outcomes(self, variants: list[dict[str, str]]) -> list[Outcome]:
        variants = variants[:self.left] if self.max_queries is not None else variants
        if not variants:
            return []
        batch = [{**self.example, **fields} for fields in variants]
        predictions = self.predict(batch)
        if len(predictions) != len(batch):
            raise ValueError(f"predict returned {len(predictions)} predictions for {len(batch)} examples")
        self.queries += len(batch)
        return [self.goal.outcome(p, self.example) for p in predictions]


@dataclass
class SearchOutcome:
    status: str
    clean: Outcome
    final: Outcome
    replaced: dict[int, Candidate]
    queries: int
    reason: str | None = None
    budget_exhausted: bool = False


def importance_order(clean: Outcome, deleted: Sequence[Outcome], n: int, rng: random.Random) -> list[int]:
    """Positions 0..n-1 by decreasing delete-one importance (clean score minus the score without the word); ties,
    and positions beyond ``deleted`` (not ranked within the query budget), in the seeded order of ``rng``."""
    tie_rank = list(range(n))
    rng.shuffle(tie_rank)
    importance = [clean.score - d.score for d in deleted] + [-math.inf] * (n - len(deleted))
    return sorted(range(n), key=lambda j: (-importance[j], tie_rank[j]))


def greedy_search(example: dict, editable: Editable, goal: Goal, constraints: WordConstraints,
                  transformation: Transformation, predict: Predict, rng_for: Callable[[int], random.Random],
                  order_rng: random.Random, clean: Outcome, queries: int,
                  max_queries: int | None = None) -> SearchOutcome:
    """Greedy word-importance search (see the module docstring), from the clean outcome (which cost ``queries``)."""
    budget = constraints.budget(editable)
    if budget < 1:
        return SearchOutcome("skipped", clean, clean, {}, queries, "too few words to edit one within max_edit_fraction")
    attackable = [k for k in constraints.attackable(editable, example) if transformation.editable(editable, k)]
    if not attackable:
        return SearchOutcome("failed", clean, clean, {}, queries, "no word the transformation may edit")
    # Rank the words in a seeded order first, so a budget too small for every deletion ranks a random subset.
    ranked = list(attackable)
    random.Random(order_rng.random()).shuffle(ranked)
    oracle = Oracle(example, predict, goal, queries, max_queries)
    deleted = oracle.outcomes([editable.without(k) for k in ranked])
    order = [ranked[j] for j in importance_order(clean, deleted, len(ranked), order_rng)]
    replaced: dict[int, Candidate] = {}
    current, goal_met = clean, False
    for k in order:
        if len(replaced) >= budget or goal_met or oracle.left == 0:
            break
        options = transformation.candidates(editable, k, rng_for(k))
        results = oracle.outcomes([editable.render({**{j: c.text for j, c in replaced.items()}, k: option.text})
                                   for option in options])
        if not results:
            continue
        best = min(range(len(results)), key=lambda i: (results[i].score, i))
        if results[best].score < current.score or goal.met(results[best], clean, example):
            replaced[k], current = options[best], results[best]
            goal_met = goal.met(current, clean, example)
    exhausted = not goal_met and oracle.left == 0
    return SearchOutcome("succeeded" if goal_met else "failed", clean, current, replaced, oracle.queries,
                         "the query budget ran out" if exhausted else None, exhausted)


def _result(example: dict, editable: Editable, outcome: SearchOutcome, family: str, kind: str) -> AttackResult:
    adversarial = {**copy.deepcopy(example), **editable.render({k: c.text for k, c in outcome.replaced.items()})}
    changed = [editable.word(k) for k in sorted(outcome.replaced)]
    edits = [{"word": editable.word(k), "replacement": outcome.replaced[k].text,
              "operation": outcome.replaced[k].operation} for k in sorted(outcome.replaced)]
    success = outcome.status == "succeeded"
    details = {"success": success, "status": outcome.status, "words_changed": len(outcome.replaced),
               "queries": outcome.queries, "clean_score": outcome.clean.score, "final_score": outcome.final.score,
               "clean_metric": outcome.clean.metric, "final_metric": outcome.final.metric,
               "n_words": len(editable.slots), "changed_words": changed, "edits": edits}
    if outcome.reason is not None:
        details["reason"] = outcome.reason
    record = with_record(example, adversarial, family, kind=kind, **details)
    return AttackResult(record, success, outcome.status, len(outcome.replaced), outcome.queries, outcome.clean.score,
                        outcome.final.score, outcome.clean.metric, outcome.final.metric, len(editable.slots), changed,
                        edits, outcome.clean.prediction, outcome.final.prediction, outcome.budget_exhausted)


def _rng_for(seed: int, family: str, example_id: str, editable: Editable) -> Callable[[int], random.Random]:
    def rng(k: int) -> random.Random:
        f, i = editable.slots[k]
        return example_rng(seed, family, example_id, f"word{i}" if f == "question" else f"{f}:word{i}")
    return rng


def _check_common(caller: str, transformation: str, max_words: int, candidates_per_word: int,
                  max_edit_fraction: float, max_queries: int | None) -> float:
    if transformation not in ATTACK_TRANSFORMATIONS:
        raise ValueError(f"{caller}: transformation must be one of {ATTACK_TRANSFORMATIONS}, got {transformation!r}")
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
        raise ValueError(f"{caller}: max_words must be a positive int, got {max_words!r}")
    if not isinstance(candidates_per_word, int) or candidates_per_word < 1:
        raise ValueError(f"{caller}: candidates_per_word must be >= 1, got {candidates_per_word!r}")
    if max_queries is not None and (not isinstance(max_queries, int) or max_queries < 2):
        raise ValueError(f"{caller}: max_queries must be None or an int >= 2 (the clean query and one more), "
                         f"got {max_queries!r}")
    return check_rate(max_edit_fraction, "max_edit_fraction")


def _mismatch(caller: str, example_id: str, stored: Any, recomputed: Any) -> CleanPredictionMismatch:
    return CleanPredictionMismatch(
        f"{caller}: item {example_id!r}: the stored clean prediction {stored!r} differs from the one the attack "
        f"recomputed ({recomputed!r}); the predictions and the model are out of step: re-run `dvc repro`")


# ---------------------------------------------------------------- the two attacks

def attack_qa(examples: list[dict], predict: PredictSpans, score_fn: ScoreFn, *, max_words: int = 3, seed: int,
              transformation: str = "typo", goal_fraction: float = 0.5, max_edit_fraction: float = 0.5,
              candidates_per_word: int = 4, max_queries: int | None = None,
              lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None = None, target_lang: str = "en",
              min_clean_score: float = 0.5,
              stored_predictions: Mapping[str, str] | None = None) -> list[AttackResult]:
    """Attack each example's question (see the module docstring). ``predict(examples, targets)`` answers every
    example and gives the probability of its target span (``inference.predict_spans``); ``score_fn`` is the F1.
    ``stored_predictions`` (id -> the stored clean answer text) decide eligibility without a query."""
    max_edit_fraction = _check_common("attack_qa", transformation, max_words, candidates_per_word,
                                      max_edit_fraction, max_queries)
    goal = QASpanGoal(score_fn, check_rate(goal_fraction, "goal_fraction"),
                      check_rate(min_clean_score, "min_clean_score"))
    constraints = WordConstraints(("question",), max_words, max_edit_fraction, protect_answers=True)
    for example in examples:
        check_answers(example)

    def clean_query(example: dict) -> tuple[Any, Predict]:
        (clean,) = predict([example], [None])
        stored = (stored_predictions or {}).get(example["id"])
        if stored is not None and clean.answer != stored:
            raise _mismatch("attack_qa", example["id"], stored, clean.answer)
        return clean, lambda batch: predict(batch, [clean.span] * len(batch))

    return _attack_each(examples, goal, constraints, clean_query, kind="qa", seed=seed, transformation=transformation,
                        candidates_per_word=candidates_per_word, max_queries=max_queries, target_lang=target_lang,
                        lexicons=lexicons, stored_predictions=stored_predictions,
                        stored_metric=lambda answer, example: goal.metric(answer, example), caller="attack_qa")


def attack_classification(examples: list[dict], predict: Predict, *, seed: int, task: str = "nli",
                          fields: Sequence[str] | str | None = None, max_words: int = 3, transformation: str = "typo",
                          max_edit_fraction: float = 0.5, candidates_per_word: int = 4,
                          max_queries: int | None = None,
                          lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
                          target_lang: str = "en",
                          stored_predictions: Mapping[str, int] | None = None) -> list[AttackResult]:
    """Attack sentence-pair examples ``{"id", "lang", "text_a", "text_b", "label"}`` (goal: flip a correct label).

    ``predict`` maps a batch of examples to class-probability vectors (or labels, then the score is 0/1).
    ``fields`` are the sides that may be edited; by default the hypothesis (``text_b``) for ``task="nli"`` and both
    sentences for ``task="paraphrase"``. ``stored_predictions`` (id -> the stored clean label) decide eligibility
    without a query."""
    max_edit_fraction = _check_common("attack_classification", transformation, max_words, candidates_per_word,
                                      max_edit_fraction, max_queries)
    sides = pair_task(task, "attack_classification").label_keeping_sides
    fields = sides if fields is None else check_fields(fields, "pair", "attack_classification")
    goal = LabelFlipGoal()
    constraints = WordConstraints(tuple(fields), max_words, max_edit_fraction)
    for example in examples:
        missing = [k for k in (*FIELDS["pair"], "label", "lang", "id") if k not in example]
        if missing:
            raise ValueError(f"attack_classification: example {example.get('id', '?')!r} lacks {missing}")

    def clean_query(example: dict) -> tuple[Any, Predict]:
        (clean,) = predict([example])
        stored = (stored_predictions or {}).get(example["id"])
        if stored is not None and predicted_label(clean) != int(stored):
            raise _mismatch("attack_classification", example["id"], stored, predicted_label(clean))
        return clean, predict

    return _attack_each(examples, goal, constraints, clean_query, kind="pair", seed=seed,
                        transformation=transformation, candidates_per_word=candidates_per_word,
                        max_queries=max_queries, target_lang=target_lang, lexicons=lexicons,
                        stored_predictions=stored_predictions,
                        stored_metric=lambda label, example: label_accuracy(label, example, example["lang"]),
                        caller="attack_classification")


def _attack_each(examples: list[dict], goal, constraints: WordConstraints,
                 clean_query: Callable[[dict], tuple[Any, Predict]], *, kind: str, seed: int, transformation: str,
                 candidates_per_word: int, max_queries: int | None, target_lang: str,
                 lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None,
                 stored_predictions: Mapping[str, Any] | None, stored_metric: Callable[[Any, dict], float],
                 caller: str) -> list[AttackResult]:
    """The greedy search on every example, each with its own seeded RNGs; eligibility from the stored prediction
    when there is one (no query), else from the recomputed one."""
    family = f"attack_{transformation}"
    results = []
    for example in examples:
        changer = make_transformation(transformation, example["lang"], candidates_per_word=candidates_per_word,
                                      target_lang=target_lang, lexicons=lexicons, caller=caller)
        editable = Editable(example, constraints.fields)
        stored = (stored_predictions or {}).get(example["id"])
        clean, predict, queries = None, None, 0
        reason = goal.ineligible(stored_metric(stored, example), example) if stored is not None else None
        if reason is None:
            prediction, predict = clean_query(example)
            clean, queries = goal.outcome(prediction, example), 1
            reason = goal.ineligible(clean.metric, example)
        if reason is not None:
            if clean is None:  # skipped on the stored prediction, without a query
                clean = Outcome(math.nan, stored_metric(stored, example), stored)
            outcome = SearchOutcome("skipped", clean, clean, {}, queries, reason)
        else:
            outcome = greedy_search(example, editable, goal, constraints, changer, predict,
                                    _rng_for(seed, family, example["id"], editable),
                                    example_rng(seed, family, example["id"], "order"), clean, queries, max_queries)
        results.append(_result(example, editable, outcome, family, kind))
    return results

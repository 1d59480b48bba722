"""Model-aware word-level attacks on QA questions and on sentence pairs, framed as in TextAttack (Morris et al.
2020): a goal, constraints, a transformation and a search, each a small piece shared by both attacks.

* goal:
  - QA (``QAGoal``, untargeted F1 drop): the score of a prediction is ``score_fn(prediction, golds, lang)`` (F1);
    an example is attacked only when its clean score is at least ``min_clean_score`` (and above 0); the attack
    succeeds when the score falls below ``goal_fraction`` x the clean score (0.5: F1 at least halved).
  - classification (``LabelFlipGoal``): an example is attacked only when the clean prediction is the gold label
    (a wrong prediction cannot be flipped away from a correct one); the attack succeeds when the predicted label is
    no longer the gold one. ``predict`` may return labels (ints) or class-probability vectors; with vectors the
    score is the probability of the gold label, so the search can use edits that weaken the model without yet
    flipping it; with labels the score is 1 (correct) or 0.
  Ineligible examples are SKIPPED (TextAttack's term), with the reason in the record.
* constraints (``WordConstraints``): only the chosen fields are edited (QA: the question, so the context and the
  answer offsets never change; NLI: by default the hypothesis ``text_b``; PAWS-X: by default both sentences);
  QA question words overlapping a gold answer string are never edited; each word is edited at most once; at most
  ``max_words`` words and never more than ``max_edit_fraction`` of the editable words are changed (a text too short
  for one edit within that fraction is skipped).
* transformation: ``"typo"`` (one script-aware typo, ``candidates_per_word`` variants per word; see ``typos.py``)
  or ``"lexicon"`` (the word's translation from ``lexicons[(lang, target_lang)]``, see ``lexicon.py``).
* search (``greedy_search``, one implementation): greedy with word-importance ranking (Jin et al. 2020's
  "delete-one" importance: clean score minus the score with the word deleted); words are attacked in decreasing
  importance, keeping a candidate only if it lowers the score, until the goal is met or the budget is spent.

The model is queried through ``predict(examples)`` in batches: one call for the clean example plus all deletions
(or only the deletions when the caller passes the clean prediction), then one call per attacked word with all its
candidates. ``queries`` counts examples sent to ``predict``.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..languages import SCRIPTS
from .codeswitch import _match_case, _spaced
from .knobs import ATTACK_TRANSFORMATIONS, FIELDS
from .lexicon import lexicon_key
from .rng import check_rate, example_rng
from .spans import check_answers
from .strength import with_record
from .stress import canonical_task
from .text_units import SUPPORTED_SCRIPTS, Unit, uses_spaces, word_units
from .typos import check_fields, edit_unit

TRANSFORMATIONS = ATTACK_TRANSFORMATIONS
Predict = Callable[[list[dict]], list[Any]]
ScoreFn = Callable[[str, list[str], str], float]
DEFAULT_PAIR_FIELDS = {"nli": ("text_b",), "paraphrase": ("text_a", "text_b")}


@dataclass
class AttackResult:
    example: dict  # the adversarial example (the clean one when skipped), with its ``perturbation`` record
    success: bool
    status: str  # "succeeded" | "failed" | "skipped"
    words_changed: int
    queries: int
    clean_score: float
    final_score: float
    changed_words: list[str] = field(default_factory=list)
    clean_prediction: Any = None
    final_prediction: Any = None

    @property
    def original_score(self) -> float:
        return self.clean_score


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
    score: float  # higher = the model does better on the example
    prediction: Any


class Goal(Protocol):
    def outcome(self, prediction: Any, example: dict) -> Outcome: ...

    def ineligible(self, clean: Outcome, example: dict) -> str | None: ...  # the reason to skip, or None

    def met(self, current: Outcome, clean: Outcome, example: dict) -> bool: ...


@dataclass(frozen=True)
class QAGoal:
    score_fn: ScoreFn
    goal_fraction: float = 0.5
    min_clean_score: float = 0.5

    def outcome(self, prediction: Any, example: dict) -> Outcome:
        return Outcome(float(self.score_fn(prediction, example["answers"]["text"], example["lang"])), prediction)

    def ineligible(self, clean: Outcome, example: dict) -> str | None:
        if clean.score <= 0.0 or clean.score < self.min_clean_score:
            return f"clean score {clean.score:.3f} is below min_clean_score {self.min_clean_score} (or 0)"
        return None

    def met(self, current: Outcome, clean: Outcome, example: dict) -> bool:
        return current.score < self.goal_fraction * clean.score


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
        if _is_vector(prediction):
            return Outcome(float(prediction[gold]), prediction)
        return Outcome(float(predicted_label(prediction) == gold), prediction)

    def ineligible(self, clean: Outcome, example: dict) -> str | None:
        if predicted_label(clean.prediction) != example["label"]:
            return "the clean prediction is wrong: nothing to flip"
        return None

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
class TypoTransformation:
    candidates_per_word: int = 3

    def candidates(self, editable: Editable, k: int, rng: random.Random) -> list[str]:
        found: list[str] = []
        for _ in range(4 * self.candidates_per_word):  # a few extra tries: two random edits can coincide
            edited = edit_unit(editable.unit(k), rng)
            if edited is not None and edited[0] not in found:
                found.append(edited[0])
            if len(found) == self.candidates_per_word:
                break
        return found


@dataclass(frozen=True)
class LexiconTransformation:
    lexicon: Mapping[str, str]
    target_lang: str

    def candidates(self, editable: Editable, k: int, rng: random.Random) -> list[str]:
        word, lang = editable.word(k), editable.lang
        key = lexicon_key(word, lang)
        translation = self.lexicon.get(key)
        if not translation or translation == key:
            return []
        translation = _match_case(word, translation)
        if not uses_spaces(SCRIPTS.get(lang, "Latn")):  # a spaced-script word in Thai/Chinese text gets spaces
            f, i = editable.slots[k]
            unit, text = editable.fields[f].units[i], editable.fields[f].text
            translation = _spaced(translation, text, unit.start, unit.end, self.target_lang)
        return [translation]


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
    """Sends variants of one example to the model in one batch and scores them, counting queries."""

    def __init__(self, example: dict, predict: Predict, goal: Goal):
        self.example, self.predict, self.goal, self.queries = example, predict, goal, 0

    def outcomes(self, variants: list[dict[str, str]]) -> list[Outcome]:
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
    replaced: dict[int, str]
    queries: int
    reason: str | None = None


def greedy_search(example: dict, editable: Editable, goal: Goal, constraints: WordConstraints,
                  transformation: Transformation, predict: Predict, rng_for: Callable[[int], random.Random],
                  clean_prediction: Any = None, has_clean_prediction: bool = False) -> SearchOutcome:
    """Greedy word-importance search (see the module docstring)."""
    oracle = Oracle(example, predict, goal)
    attackable = constraints.attackable(editable, example)
    if has_clean_prediction:
        clean = goal.outcome(clean_prediction, example)
        reason = goal.ineligible(clean, example)
        if reason is not None:
            return SearchOutcome("skipped", clean, clean, {}, 0, reason)
        deleted = oracle.outcomes([editable.without(k) for k in attackable])
    else:
        first = oracle.outcomes([editable.render()] + [editable.without(k) for k in attackable])
        clean, deleted = first[0], first[1:]
        reason = goal.ineligible(clean, example)
        if reason is not None:
            return SearchOutcome("skipped", clean, clean, {}, oracle.queries, reason)
    budget = constraints.budget(editable)
    if budget < 1:
        return SearchOutcome("skipped", clean, clean, {}, oracle.queries,
                             "too few words to edit one within max_edit_fraction")
    order = sorted(range(len(attackable)), key=lambda j: (-(clean.score - deleted[j].score), j))
    replaced: dict[int, str] = {}
    current, goal_met = clean, False
    for j in order:
        if len(replaced) >= budget or goal_met:
            break
        k = attackable[j]
        options = transformation.candidates(editable, k, rng_for(k))
        if not options:
            continue
        results = oracle.outcomes([editable.render({**replaced, k: option}) for option in options])
        best = min(range(len(options)), key=lambda i: (results[i].score, i))
        if results[best].score < current.score or goal.met(results[best], clean, example):
            replaced[k], current = options[best], results[best]
            goal_met = goal.met(current, clean, example)
    return SearchOutcome("succeeded" if goal_met else "failed", clean, current, replaced, oracle.queries)


def _result(example: dict, editable: Editable, outcome: SearchOutcome, family: str, kind: str) -> AttackResult:
    adversarial = {**copy.deepcopy(example), **editable.render(outcome.replaced)}
    changed = [editable.word(k) for k in sorted(outcome.replaced)]
    success = outcome.status == "succeeded"
    details = {"success": success, "status": outcome.status, "words_changed": len(outcome.replaced),
               "queries": outcome.queries, "clean_score": outcome.clean.score, "final_score": outcome.final.score,
               "changed_words": changed}
    if outcome.reason is not None:
        details["reason"] = outcome.reason
    record = with_record(example, adversarial, family, kind=kind, **details)
    return AttackResult(record, success, outcome.status, len(outcome.replaced), outcome.queries, outcome.clean.score,
                        outcome.final.score, changed, outcome.clean.prediction, outcome.final.prediction)


def _rng_for(seed: int, family: str, example_id: str, editable: Editable) -> Callable[[int], random.Random]:
    def rng(k: int) -> random.Random:
        f, i = editable.slots[k]
        # The QA question keeps the purpose names it always had; other fields are named.
        return example_rng(seed, family, example_id, f"word{i}" if f == "question" else f"{f}:word{i}")
    return rng


def _check_common(caller: str, transformation: str, max_words: int, candidates_per_word: int,
                  max_edit_fraction: float) -> float:
    if transformation not in TRANSFORMATIONS:
        raise ValueError(f"{caller}: transformation must be one of {TRANSFORMATIONS}, got {transformation!r}")
    if not isinstance(max_words, int) or isinstance(max_words, bool) or max_words < 1:
        raise ValueError(f"{caller}: max_words must be a positive int, got {max_words!r}")
    if not isinstance(candidates_per_word, int) or candidates_per_word < 1:
        raise ValueError(f"{caller}: candidates_per_word must be >= 1, got {candidates_per_word!r}")
    return check_rate(max_edit_fraction, "max_edit_fraction")


# ---------------------------------------------------------------- the two attacks

def attack_qa(examples: list[dict], predict: Callable[[list[dict]], list[str]], score_fn: ScoreFn, *,
              max_words: int = 3, seed: int, transformation: str = "typo", goal_fraction: float = 0.5,
              max_edit_fraction: float = 0.5, candidates_per_word: int = 3,
              lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None = None, target_lang: str = "en",
              min_clean_score: float = 0.5, clean_predictions: Mapping[str, str] | None = None) -> list[AttackResult]:
    """Attack each example's question (goal: F1 at least halved; see the module docstring).

    ``clean_predictions`` (id -> the model's answer on the clean example), when given, saves the first query and
    lets ineligible examples (clean score below ``min_clean_score``) be skipped without any query.
    """
    max_edit_fraction = _check_common("attack_qa", transformation, max_words, candidates_per_word,
                                      max_edit_fraction)
    goal = QAGoal(score_fn, check_rate(goal_fraction, "goal_fraction"), check_rate(min_clean_score, "min_clean_score"))
    constraints = WordConstraints(("question",), max_words, max_edit_fraction, protect_answers=True)
    for example in examples:
        check_answers(example)
    return _attack_each(examples, goal, constraints, predict, kind="qa", seed=seed, transformation=transformation,
                        candidates_per_word=candidates_per_word, target_lang=target_lang, lexicons=lexicons,
                        clean_predictions=clean_predictions, caller="attack_qa")


def attack_classification(examples: list[dict], predict: Callable[[list[dict]], list[Any]], *, seed: int,
                          task: str = "nli", fields: Sequence[str] | str | None = None, max_words: int = 3,
                          transformation: str = "typo", max_edit_fraction: float = 0.5,
                          candidates_per_word: int = 3,
                          lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None = None,
                          target_lang: str = "en",
                          clean_predictions: Mapping[str, Any] | None = None) -> list[AttackResult]:
    """Attack sentence-pair examples ``{"id", "lang", "text_a", "text_b", "label"}`` (goal: flip a correct label).

    ``predict`` maps a batch of examples to labels or class-probability vectors. ``fields`` are the sides that may
    be edited; by default the hypothesis (``text_b``) for ``task="nli"`` and both sentences for
    ``task="paraphrase"``. ``clean_predictions`` (id -> label or probabilities) saves the first query.
    """
    max_edit_fraction = _check_common("attack_classification", transformation, max_words, candidates_per_word,
                                      max_edit_fraction)
    task = canonical_task(task, "attack_classification")
    fields = DEFAULT_PAIR_FIELDS[task] if fields is None else check_fields(fields, "pair", "attack_classification")
    goal = LabelFlipGoal()
    constraints = WordConstraints(tuple(fields), max_words, max_edit_fraction)
    for example in examples:
        missing = [k for k in (*FIELDS["pair"], "label", "lang", "id") if k not in example]
        if missing:
            raise ValueError(f"attack_classification: example {example.get('id', '?')!r} lacks {missing}")
    return _attack_each(examples, goal, constraints, predict, kind="pair", seed=seed, transformation=transformation,
                        candidates_per_word=candidates_per_word, target_lang=target_lang, lexicons=lexicons,
                        clean_predictions=clean_predictions, caller="attack_classification")


def _attack_each(examples: list[dict], goal, constraints: WordConstraints, predict: Predict, *, kind: str,
                 seed: int, transformation: str, candidates_per_word: int, target_lang: str,
                 lexicons: Mapping[tuple[str, str], Mapping[str, str]] | None,
                 clean_predictions: Mapping[str, Any] | None, caller: str) -> list[AttackResult]:
    """The greedy search on every example, each with its own seeded RNG and its clean prediction when known."""
    family = f"attack_{transformation}"
    results = []
    for example in examples:
        changer = make_transformation(transformation, example["lang"], candidates_per_word=candidates_per_word,
                                      target_lang=target_lang, lexicons=lexicons, caller=caller)
        editable = Editable(example, constraints.fields)
        known = clean_predictions is not None and example["id"] in clean_predictions
        outcome = greedy_search(example, editable, goal, constraints, changer, predict,
                                _rng_for(seed, family, example["id"], editable),
                                clean_prediction=clean_predictions[example["id"]] if known else None,
                                has_clean_prediction=known)
        results.append(_result(example, editable, outcome, family, kind))
    return results

"""Model-aware attack on QA questions, framed as in TextAttack (Morris et al. 2020):

* goal (untargeted F1 drop): succeed when the model's F1 against the gold answers falls below
  ``goal_fraction`` x its F1 on the clean example (default 0.5: the attack must at least halve F1). Examples the
  model already gets wrong (clean F1 == 0) are *skipped*: there is nothing to degrade (TextAttack's SKIPPED).
* transformation: ``"typo"`` (one script-aware typo on the word, ``candidates_per_word`` variants per word) or
  ``"lexicon"`` (the word's translation from ``lexicons[(lang, target_lang)]``).
* constraints: only the question is edited, so the context and the answer offsets never change; question words
  overlapping a gold answer string are never edited; at most ``max_words`` words and at most
  ``max_edit_fraction`` of the question's words (at least one) are changed; each word is edited at most once.
* search: greedy with word-importance ranking (Jin et al. 2020's "delete-one" importance): importance of a word =
  clean score minus the score with the word deleted; words are then attacked in decreasing importance, keeping a
  candidate only if it lowers the score, until the goal is met or the budget is spent.

The model is queried through ``predict(examples) -> list[str]`` in batches: one call for the clean example plus all
deletions, then one call per attacked word with all its candidates. ``queries`` counts examples sent to ``predict``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from .codeswitch import _match_case
from .rng import check_rate, example_rng
from .spans import check_answers
from .strength import with_record
from .text_units import SUPPORTED_SCRIPTS, word_units
from .typos import edit_unit

TRANSFORMATIONS = ("typo", "lexicon")
Predict = Callable[[list[dict]], list[str]]
ScoreFn = Callable[[str, list[str], str], float]


@dataclass
class AttackResult:
    example: dict  # the adversarial example (the clean one when skipped), with its ``perturbation`` record
    success: bool
    status: str  # "succeeded" | "failed" | "skipped"
    words_changed: int
    queries: int
    original_score: float
    final_score: float
    changed_words: list[str] = field(default_factory=list)


class _Question:
    """The question as alternating gaps and word units, so edits never shift other words' positions."""

    def __init__(self, text: str):
        self.units = [u for u in word_units(text) if u.script in SUPPORTED_SCRIPTS]
        bounds = [0] + [x for u in self.units for x in (u.start, u.end)] + [len(text)]
        self.gaps = [text[bounds[2 * i]:bounds[2 * i + 1]] for i in range(len(self.units) + 1)]
        self.words = [text[u.start:u.end] for u in self.units]

    def render(self, replace: dict[int, str] | None = None) -> str:
        words = [(replace or {}).get(i, w) for i, w in enumerate(self.words)]
        return "".join(g + w for g, w in zip(self.gaps, words + [""]))

    def without(self, i: int) -> str:
        """The question with word ``i`` deleted (one of the two spaces around it goes too)."""
        left, right = self.gaps[i], self.gaps[i + 1]
        merged = left + (right[1:] if left.endswith(" ") and right.startswith(" ") else right)
        before = "".join(g + w for g, w in zip(self.gaps[:i], self.words[:i]))
        after = "".join(w + g for w, g in zip(self.words[i + 1:], self.gaps[i + 2:]))
        return before + merged + after


def _protected_words(question: _Question, golds: list[str]) -> set[int]:
    """Indices of words overlapping an occurrence of a gold answer string in the question."""
    text, protected = question.render().casefold(), set()
    for gold in (g.casefold() for g in golds if g):
        start = text.find(gold)
        while start != -1:
            protected |= {i for i, u in enumerate(question.units) if u.start < start + len(gold) and start < u.end}
            start = text.find(gold, start + 1)
    return protected


def _candidates(word_index: int, question: _Question, lang: str, *, transformation: str, rng, n: int,
                lexicon: dict[str, str]) -> list[str]:
    word = question.words[word_index]
    if transformation == "lexicon":
        translation = lexicon.get(word.lower())
        return [_match_case(word, translation)] if translation and translation != word.lower() else []
    found: list[str] = []
    for _ in range(4 * n):  # a few extra tries: two random edits can coincide
        edited = edit_unit(question.units[word_index], rng)
        if edited is not None and edited[0] not in found:
            found.append(edited[0])
        if len(found) == n:
            break
    return found


class _Oracle:
    """Scores questions with the model, counting queries."""

    def __init__(self, example: dict, predict: Predict, score_fn: ScoreFn):
        self.example, self.predict, self.score_fn, self.queries = example, predict, score_fn, 0

    def scores(self, questions: list[str]) -> list[float]:
        batch = [{**self.example, "question": q} for q in questions]
        predictions = self.predict(batch)
        self.queries += len(batch)
        golds, lang = self.example["answers"]["text"], self.example["lang"]
        return [float(self.score_fn(p, golds, lang)) for p in predictions]


def attack_example(example: dict, predict: Predict, score_fn: ScoreFn, *, max_words: int, seed: int,
                   transformation: str, goal_fraction: float, max_edit_fraction: float,
                   candidates_per_word: int, lexicon: dict[str, str]) -> AttackResult:
    question, oracle = _Question(example["question"]), _Oracle(example, predict, score_fn)
    protected = _protected_words(question, example["answers"]["text"])
    attackable = [i for i in range(len(question.words)) if i not in protected]
    scores = oracle.scores([question.render()] + [question.without(i) for i in attackable])
    original = current = scores[0]
    family = f"attack_{transformation}"
    if original <= 0.0:
        record = with_record(example, example, family, success=False, status="skipped", words_changed=0,
                             queries=oracle.queries, original_score=original, final_score=original)
        return AttackResult(record, False, "skipped", 0, oracle.queries, original, original)
    order = sorted(range(len(attackable)), key=lambda k: (-(original - scores[k + 1]), k))
    budget = min(max_words, max(1, math.floor(max_edit_fraction * len(question.words))))
    replaced: dict[int, str] = {}
    goal_met = False
    for k in order:
        if len(replaced) >= budget or goal_met:
            break
        i = attackable[k]
        rng = example_rng(seed, family, example["id"], f"word{i}")
        options = _candidates(i, question, example["lang"], transformation=transformation, rng=rng,
                              n=candidates_per_word, lexicon=lexicon)
        if not options:
            continue
        option_scores = oracle.scores([question.render({**replaced, i: option}) for option in options])
        best = min(range(len(options)), key=lambda j: (option_scores[j], j))
        if option_scores[best] < current:
            replaced[i], current = options[best], option_scores[best]
            goal_met = current < goal_fraction * original
    adversarial = {**copy.deepcopy(example), "question": question.render(replaced)}
    status = "succeeded" if goal_met else "failed"
    changed = [question.words[i] for i in sorted(replaced)]
    record = with_record(example, adversarial, family, success=goal_met, status=status,
                         words_changed=len(replaced), queries=oracle.queries, original_score=original,
                         final_score=current, changed_words=changed)
    return AttackResult(record, goal_met, status, len(replaced), oracle.queries, original, current, changed)


def attack_qa(examples: list[dict], predict: Predict, score_fn: ScoreFn, *, max_words: int = 3, seed: int,
              transformation: str = "typo", goal_fraction: float = 0.5, max_edit_fraction: float = 0.5,
              candidates_per_word: int = 3, lexicons: dict[tuple[str, str], dict[str, str]] | None = None,
              target_lang: str = "en") -> list[AttackResult]:
    """Attack each example's question (see the module docstring for goal, constraints and search)."""
    if transformation not in TRANSFORMATIONS:
        raise ValueError(f"attack_qa: transformation must be one of {TRANSFORMATIONS}, got {transformation!r}")
    if not isinstance(max_words, int) or max_words < 1:
        raise ValueError(f"attack_qa: max_words must be a positive int, got {max_words!r}")
    if candidates_per_word < 1:
        raise ValueError(f"attack_qa: candidates_per_word must be >= 1, got {candidates_per_word!r}")
    goal_fraction = check_rate(goal_fraction, "goal_fraction")
    max_edit_fraction = check_rate(max_edit_fraction, "max_edit_fraction")
    results = []
    for example in examples:
        check_answers(example)
        lexicon: dict[str, str] = {}
        if transformation == "lexicon" and example["lang"] != target_lang:
            if lexicons is None or (example["lang"], target_lang) not in lexicons:
                raise ValueError(f"attack_qa: transformation='lexicon' needs lexicons[({example['lang']!r}, "
                                 f"{target_lang!r})]; build them with lexicon.tatoeba_lexicons")
            lexicon = lexicons[(example["lang"], target_lang)]
        results.append(attack_example(example, predict, score_fn, max_words=max_words, seed=seed,
                                      transformation=transformation, goal_fraction=goal_fraction,
                                      max_edit_fraction=max_edit_fraction,
                                      candidates_per_word=candidates_per_word, lexicon=lexicon))
    return results


def summarize_attacks(results: list[AttackResult]) -> dict[str, float]:
    """Success rate over attacked (non-skipped) examples, and mean words changed / queries / scores over them."""
    attacked = [r for r in results if r.status != "skipped"]
    n = len(attacked)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {
        "n_examples": float(len(results)),
        "n_skipped": float(len(results) - n),
        "success_rate": mean([float(r.success) for r in attacked]),
        "mean_words_changed": mean([float(r.words_changed) for r in attacked]),
        "mean_queries": mean([float(r.queries) for r in attacked]),
        "mean_original_score": mean([r.original_score for r in attacked]),
        "mean_final_score": mean([r.final_score for r in attacked]),
    }

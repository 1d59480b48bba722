"""The perturbation catalogue, declared once: the families per input kind, their knobs and the knobs' defaults, the
values a knob may take, and the rules a perturbation condition must meet. Pure data and plain functions.

Imports nothing heavy (only the language tables), so a params schema can validate perturbation conditions without
importing the perturbation code (sacrebleu, regex, the word segmenters). The family functions take their knobs as
keyword-only arguments without defaults: ``registry.perturb_examples`` fills them in from ``KNOBS``.

Kinds (what one input example is):
* ``qa``: ``{"id", "lang", "question", "context", "answers": {"text", "answer_start"}, ...}`` (XQuAD, MLQA);
* ``pair``: ``{"id", "lang", "text_a", "text_b", "label", ...}`` (XNLI premise/hypothesis, PAWS-X sentences);
* ``sentence``: ``{"id", "lang", "text", ...}`` (a lone sentence, e.g. Tatoeba's non-English side).

Sequences are tuples here; a params file may give them as lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..languages import SCRIPTS, TATOEBA_CODES

KINDS: tuple[str, ...] = ("qa", "pair", "sentence")

# The name of the unperturbed test condition (no perturbation condition may take it).
CLEAN = "clean"

# The fields a family may edit, per kind (``fields`` knobs take a non-empty subset).
FIELDS: dict[str, tuple[str, ...]] = {
    "qa": ("question", "context"),
    "pair": ("text_a", "text_b"),
    "sentence": ("text",),
}

# Per kind, per family: its knobs and their defaults.
KNOBS: dict[str, dict[str, dict[str, object]]] = {
    "qa": {
        "typos": {"rate": 0.15, "fields": ("question", "context")},
        "distractor": {"position": "end"},
        "codeswitch_question": {"question_lang": "en"},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1},
    },
    "pair": {
        "typos": {"rate": 0.15, "fields": ("text_a", "text_b")},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1, "fields": ("text_a", "text_b")},
        "tautology": {},
        "length_mismatch": {"repeats": 5},
    },
    "sentence": {
        "typos": {"rate": 0.15},
        "codeswitch_words": {"rate": 0.5, "target_lang": "en", "min_words": 1},
    },
}

# The values a params file may give each knob (a knob means the same in every family that has it). ``type``:
# "number" (an int or float), "int", "choice" (one of ``choices``), "language" (a language code of SCRIPTS),
# "fields" (a non-empty subset of the kind's FIELDS); bounds as ``ge``/``le``/``gt``; ``lexicon``: the knob names
# the language a Tatoeba lexicon translates into, so one must exist for it. Dict order is the order of the knobs
# in a condition's record.
KNOB_VALUES: dict[str, dict[str, object]] = {
    "rate": {"type": "number", "ge": 0.0, "le": 1.0},
    "position": {"type": "choice", "choices": ("start", "end", "random")},
    "question_lang": {"type": "language"},
    "target_lang": {"type": "language", "lexicon": True},
    "fields": {"type": "fields"},
    "repeats": {"type": "int", "gt": 0},
    "min_words": {"type": "int", "gt": 0},
}

# Families that swap an item's text for its English original (same id): only targets whose items have one
# (``TaskSpec.english_originals``; not TyDiQA, whose languages have their own questions).
ENGLISH_ORIGINAL_FAMILIES: tuple[str, ...] = ("codeswitch_question",)

# Pair families that need to know the task (``perturb_examples(..., task=...)``): NLI or paraphrase.
TASK_FAMILIES: tuple[str, ...] = ("tautology", "length_mismatch")


@dataclass(frozen=True)
class PairTask:
    """What a sentence-pair task's label survives: the stress tests and the pair attack edit accordingly."""

    name: str
    # The sides that may be edited without changing the label: NLI's hypothesis (adding a tautology to it keeps
    # entailment, contradiction and neutrality); both sentences of a paraphrase pair (the same words added to both
    # keep them paraphrases or not).
    label_keeping_sides: tuple[str, ...]
    # Whether appending to the premise keeps the label and makes a length mismatch (NLI); for paraphrase,
    # appending to one sentence may change the label and appending to both is no mismatch.
    premise_may_grow: bool


PAIR_TASKS: dict[str, PairTask] = {
    "nli": PairTask("nli", ("text_b",), premise_may_grow=True),
    "paraphrase": PairTask("paraphrase", ("text_a", "text_b"), premise_may_grow=False),
}
TASK_ALIASES: dict[str, str] = {"nli": "nli", "xnli": "nli", "paraphrase": "paraphrase", "pawsx": "paraphrase"}


def pair_task(task: str | None, caller: str) -> PairTask:
    """The pair task named ``task`` (an alias such as "xnli" too); ``caller`` names who needs it in the error."""
    if task not in TASK_ALIASES:
        raise ValueError(f"{caller}: pass task='nli' (XNLI) or task='paraphrase' (PAWS-X), got {task!r}; "
                         "the sides that may be edited without changing the label depend on the task")
    return PAIR_TASKS[TASK_ALIASES[task]]


# The model-aware attack (not a family: it needs a model) and its transformations.
ATTACK_TRANSFORMATIONS: tuple[str, ...] = ("typo", "lexicon")
# Languages a lexicon can translate into: English, and every Tatoeba language (from English).
LEXICON_LANGUAGES: frozenset[str] = frozenset(TATOEBA_CODES) | {"en"}


def families() -> list[str]:
    return sorted({family for by_kind in KNOBS.values() for family in by_kind})


def family_knobs(family: str) -> list[str]:
    """Every knob ``family`` has for some kind."""
    return sorted({knob for by_kind in KNOBS.values() for knob in by_kind.get(family, {})})


def knob_defaults(family: str, kind: str) -> dict[str, object]:
    """The knobs of ``family`` for input ``kind`` and their defaults."""
    if kind not in KNOBS:
        raise ValueError(f"unknown input kind {kind!r}; choose one of {list(KINDS)}")
    if family not in KNOBS[kind]:
        raise ValueError(f"unknown perturbation family {family!r} for kind {kind!r}; choose one of "
                         f"{sorted(KNOBS[kind])}")
    return dict(KNOBS[kind][family])


def condition_kinds(family: str, knobs: dict[str, object]) -> tuple[str, ...]:
    """The input kinds a condition (``family`` with the ``knobs`` it sets) can edit."""
    fields = knobs.get("fields") or []
    return tuple(kind for kind, by_family in KNOBS.items() if family in by_family
                 and set(knobs) <= set(by_family[family]) and set(fields) <= set(FIELDS[kind]))


def check_condition(family: str, knobs: dict[str, object]) -> None:
    """Raise a ValueError naming the fix when ``family`` is unknown, lacks a knob set, or edits no kind of input."""
    if family not in families():
        raise ValueError(f"unknown perturbation family {family!r}; families: {families()}")
    foreign = sorted(set(knobs) - set(family_knobs(family)))
    if foreign:
        raise ValueError(f"family {family!r} has no knob(s) {foreign}; its knobs are {family_knobs(family)}")
    if not condition_kinds(family, knobs):
        raise ValueError(f"family {family!r} with fields {knobs.get('fields')} edits no kind of input; fields are "
                         f"{dict(FIELDS)}")


def condition_problems(key: str, family: str, knobs: dict[str, object],
                       target_kinds: list[tuple[str, str]]) -> list[str]:
    """What keeps a valid condition (``check_condition``) from running, one message each, prefixed with ``key``
    (where the condition is declared): a target whose inputs (``target_kinds``: (target, its kind)) it cannot edit,
    an unknown language, a language no lexicon translates into."""
    kinds = condition_kinds(family, knobs)
    problems = [f"{key}: family {family!r} cannot edit {target} inputs"
                for target, kind in target_kinds if kind not in kinds]
    for knob, values in KNOB_VALUES.items():
        lang = knobs.get(knob)
        if values["type"] == "language" and lang is not None and lang not in SCRIPTS:
            problems.append(f"{key}.{knob} {lang!r} is not a known language")
    defaults = {knob: default for by_kind in KNOBS.values() for knob, default in by_kind.get(family, {}).items()}
    for knob, values in KNOB_VALUES.items():
        if values.get("lexicon") and knob in defaults and (knobs.get(knob) or defaults[knob]) not in LEXICON_LANGUAGES:
            problems.append(f"{key}: code-switching needs a Tatoeba lexicon for {knobs.get(knob)!r}")
    return problems

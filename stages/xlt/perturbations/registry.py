"""The families per input kind and the one entry point that runs them (re-exported by the package).

A family function takes its knobs as keyword-only arguments without defaults: the knobs and their defaults are
declared once, in ``knobs.KNOBS``, and ``perturb_examples`` fills in the knobs a caller leaves out.
"""

from __future__ import annotations

from collections.abc import Callable

from .codeswitch import (perturb_codeswitch_question, perturb_codeswitch_words, perturb_pair_codeswitch_words,
                         perturb_sentence_codeswitch_words)
from .context import PerturbationContext
from .distractor import perturb_distractor
from .knobs import FIELDS, TASK_FAMILIES, knob_defaults, pair_task
from .spans import check_answers
from .stress import perturb_length_mismatch, perturb_tautology
from .typos import perturb_pair_typos, perturb_sentence_typos, perturb_typos

FAMILIES_BY_KIND: dict[str, dict[str, Callable[..., list[dict]]]] = {
    "qa": {
        "typos": perturb_typos,
        "distractor": perturb_distractor,
        "codeswitch_question": perturb_codeswitch_question,
        "codeswitch_words": perturb_codeswitch_words,
    },
    "pair": {
        "typos": perturb_pair_typos,
        "codeswitch_words": perturb_pair_codeswitch_words,
        "tautology": perturb_tautology,
        "length_mismatch": perturb_length_mismatch,
    },
    "sentence": {
        "typos": perturb_sentence_typos,
        "codeswitch_words": perturb_sentence_codeswitch_words,
    },
}


def perturb_examples(examples: list[dict], family: str, *, kind: str = "qa", seed: int,
                     context: PerturbationContext | None = None, task: str | None = None, **knobs) -> list[dict]:
    """Perturb ``examples`` of input ``kind`` with ``family`` (knobs: ``knobs.KNOBS[kind][family]``; those left
    out take their defaults).

    ``task`` ("nli" or "paraphrase"; "xnli"/"pawsx" also accepted) is needed by the pair stress tests
    (``tautology``, ``length_mismatch``), whose label-preserving sides depend on it; other families ignore it.
    """
    defaults = knob_defaults(family, kind)
    unknown = sorted(set(knobs) - set(defaults))
    if unknown:
        raise ValueError(f"perturbation family {family!r} ({kind}) has no parameter(s) {unknown}; its parameters "
                         f"are {defaults}")
    _check_kind(examples, kind)
    extra = {"task": pair_task(task, family)} if family in TASK_FAMILIES and kind == "pair" else {}
    perturbed = FAMILIES_BY_KIND[kind][family](examples, seed=seed, context=context or PerturbationContext(),
                                               **extra, **{**defaults, **knobs})
    if len(perturbed) != len(examples):
        raise AssertionError(f"{family} returned {len(perturbed)} examples for {len(examples)}")
    for clean, example in zip(examples, perturbed):
        _check_kept(clean, example, kind)  # the invariants every family promises; a failure is a bug in the family
    return perturbed


def _check_kind(examples: list[dict], kind: str) -> None:
    for example in examples:
        missing = [k for k in ("id", "lang", *FIELDS[kind]) if k not in example]
        if missing:
            raise ValueError(f"{kind} example {example.get('id', '?')!r} lacks {missing}; a {kind} example has "
                             f"{['id', 'lang', *FIELDS[kind]]}")


def _check_kept(clean: dict, perturbed: dict, kind: str) -> None:
    if perturbed["id"] != clean["id"]:
        raise AssertionError(f"a family changed id {clean['id']!r} to {perturbed['id']!r}")
    if kind == "qa":
        check_answers(perturbed)
    if kind == "pair" and perturbed.get("label") != clean.get("label"):
        raise AssertionError(f"a family changed the label of {clean['id']!r}")

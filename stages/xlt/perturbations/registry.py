"""The families per input kind and the one entry point that runs them (re-exported by the package)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .codeswitch import (perturb_codeswitch_question, perturb_codeswitch_words, perturb_pair_codeswitch_words,
                         perturb_sentence_codeswitch_words)
from .context import PerturbationContext
from .distractor import perturb_distractor
from .knobs import FIELDS, KINDS, TASK_FAMILIES
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
FAMILIES = FAMILIES_BY_KIND["qa"]  # QA families (the original registry)
_CALL_ARGUMENTS = ("seed", "context", "task")  # given by the caller, not knobs of a perturbation condition


def _family(family: str, kind: str) -> Callable[..., list[dict]]:
    if kind not in FAMILIES_BY_KIND:
        raise ValueError(f"unknown input kind {kind!r}; choose one of {list(KINDS)}")
    if family not in FAMILIES_BY_KIND[kind]:
        raise ValueError(f"unknown perturbation family {family!r} for kind {kind!r}; choose one of "
                         f"{sorted(FAMILIES_BY_KIND[kind])}")
    return FAMILIES_BY_KIND[kind][family]


def family_parameters(family: str, kind: str = "qa") -> dict[str, object]:
    """The knobs of a family (for input ``kind``) and their defaults, read from the family function's signature."""
    signature = inspect.signature(_family(family, kind))
    return {name: p.default for name, p in signature.parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in _CALL_ARGUMENTS}


def perturb_examples(examples: list[dict], family: str, *, kind: str = "qa", seed: int,
                     context: PerturbationContext | None = None, task: str | None = None, **knobs) -> list[dict]:
    """Perturb ``examples`` of input ``kind`` with ``family`` (knobs: ``family_parameters(family, kind)``).

    ``task`` ("nli" or "paraphrase"; "xnli"/"pawsx" also accepted) is needed by the pair stress tests
    (``tautology``, ``length_mismatch``), whose label-preserving sides depend on it; other families ignore it.
    """
    function = _family(family, kind)
    known = family_parameters(family, kind)
    unknown = sorted(set(knobs) - set(known))
    if unknown:
        raise ValueError(f"perturbation family {family!r} ({kind}) has no parameter(s) {unknown}; its parameters "
                         f"are {known}")
    for example in examples:
        missing = [k for k in ("id", "lang", *FIELDS[kind]) if k not in example]
        if missing:
            raise ValueError(f"{kind} example {example.get('id', '?')!r} lacks {missing}; a {kind} example has "
                             f"{['id', 'lang', *FIELDS[kind]]}")
    extra = {"task": task} if family in TASK_FAMILIES and kind == "pair" else {}
    perturbed = function(examples, seed=seed, context=context or PerturbationContext(), **extra, **knobs)
    if len(perturbed) != len(examples):
        raise AssertionError(f"{family} returned {len(perturbed)} examples for {len(examples)}")
    for clean, example in zip(examples, perturbed):
        _check_kept(clean, example, kind)  # the invariants every family promises; a failure is a bug in the family
    return perturbed


def _check_kept(clean: dict, perturbed: dict, kind: str) -> None:
    if perturbed["id"] != clean["id"]:
        raise AssertionError(f"a family changed id {clean['id']!r} to {perturbed['id']!r}")
    if kind == "qa":
        check_answers(perturbed)
    if kind == "pair" and perturbed.get("label") != clean.get("label"):
        raise AssertionError(f"a family changed the label of {clean['id']!r}")


def perturb_qa(examples: list[dict], family: str, *, seed: int, context: PerturbationContext | None = None,
               **knobs) -> list[dict]:
    """``perturb_examples(..., kind="qa")``."""
    return perturb_examples(examples, family, kind="qa", seed=seed, context=context, **knobs)

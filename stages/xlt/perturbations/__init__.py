"""Perturbation library: seeded, script-aware perturbations of QA examples (the robustness half of the study).

Every family is a function ``family(examples, *, seed, context, **strength) -> list[dict]`` returning perturbed
copies that keep ``id`` and gain ``perturbation = {"family", "chrf", "chrf_question", "chrf_context", ...}``.
Randomness comes from per-example generators keyed by (seed, family, example id), so an example's output does not
depend on the batch. Gold answers always stay valid: ``context[start:start + len(text)] == text``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from .attack import AttackResult, attack_qa, summarize_attacks
from .codeswitch import perturb_codeswitch_question, perturb_codeswitch_words
from .context import PerturbationContext
from .distractor import perturb_distractor
from .lexicon import build_lexicon, tatoeba_lexicons
from .spans import check_answers
from .typos import perturb_typos

FAMILIES: dict[str, Callable[..., list[dict]]] = {
    "typos": perturb_typos,
    "distractor": perturb_distractor,
    "codeswitch_question": perturb_codeswitch_question,
    "codeswitch_words": perturb_codeswitch_words,
}


def family_parameters(family: str) -> dict[str, object]:
    """The strength parameters of a family and their defaults."""
    signature = inspect.signature(_family(family))
    return {name: p.default for name, p in signature.parameters.items()
            if p.kind is p.KEYWORD_ONLY and name not in ("seed", "context")}


def _family(family: str) -> Callable[..., list[dict]]:
    if family not in FAMILIES:
        raise ValueError(f"unknown perturbation family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family]


def perturb_qa(examples: list[dict], family: str, *, seed: int, context: PerturbationContext | None = None,
               **strength) -> list[dict]:
    """Perturb ``examples`` with ``family`` at the given strength (see ``family_parameters(family)``)."""
    function = _family(family)
    known = family_parameters(family)
    unknown = sorted(set(strength) - set(known))
    if unknown:
        raise ValueError(f"perturbation family {family!r} has no parameter(s) {unknown}; its parameters are {known}")
    perturbed = function(examples, seed=seed, context=context or PerturbationContext(), **strength)
    for example in perturbed:
        check_answers(example)  # the invariant every family promises; a failure here is a bug in the family
    return perturbed


__all__ = ["FAMILIES", "AttackResult", "PerturbationContext", "attack_qa", "build_lexicon", "family_parameters",
           "perturb_qa", "summarize_attacks", "tatoeba_lexicons"]

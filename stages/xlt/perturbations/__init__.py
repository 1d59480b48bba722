"""Perturbation library: seeded, script-aware perturbations of test inputs (the robustness half of the study).

One entry point per input kind (see ``knobs.py`` for the kinds, families and knobs)::

    perturb_examples(examples, family, kind="qa" | "pair" | "sentence", seed=..., context=..., task=..., **knobs)

Every family returns perturbed copies that keep ``id`` (and every other field, label and gold answers included)
and gain ``perturbation = {"family", "applied", "chrf", ...details}``; ``applied`` is True exactly when the input
the model reads changed. Randomness comes from per-example generators keyed by (seed, family, example id,
purpose), so an example's output does not depend on the batch. QA gold answers always stay valid:
``context[start:start + len(text)] == text``.

The package namespace is filled lazily, so ``import stages.xlt.perturbations.knobs`` (the import-free knob
catalogue a params schema reads) does not load the families, sacrebleu or the word segmenters.
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, str] = {
    "FAMILIES_BY_KIND": "registry", "perturb_examples": "registry",
    "KINDS": "knobs", "KNOBS": "knobs", "knob_defaults": "knobs",
    "PerturbationContext": "context",
    "AttackResult": "attack", "attack_classification": "attack", "attack_qa": "attack",
    "build_lexicon": "lexicon",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

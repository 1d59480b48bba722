"""Test conditions as files: "clean" is the prepared test set, every other name a perturbed copy of it.

Shared by perturb (writes), prefix_test and evaluate (read) and score (reads), so they agree on names and paths
and on the list of (condition, target, language) jobs.
A perturbed file holds every test item; items the perturbation left unchanged say so (``perturbation.applied``),
and evaluation reuses their clean predictions instead of recomputing the same input.
"""

from __future__ import annotations

from pathlib import Path

from stages import layout
from stages.params import Params
from stages.xlt.perturbations.knobs import CLEAN


def conditions(params: Params, target: str) -> list[str]:
    return [CLEAN, *params.conditions_for(target)]


def inputs(condition: str, target: str, lang: str) -> Path:
    return layout.test_set(target, lang) if condition == CLEAN else layout.perturbed_set(condition, target, lang)


def applied(example: dict) -> bool:
    """Whether the model must read this item anew under its condition (clean items always)."""
    return example.get("perturbation", {}).get("applied", True)


def jobs(params: Params, part: str) -> list[tuple[str, str, str]]:
    """(condition, target, language) of every test set of one part: the clean sets, or every perturbed copy."""
    return [(cond, target, lang) for target, langs in params.evaluate.targets.items()
            for cond in ([CLEAN] if part == CLEAN else params.conditions_for(target)) for lang in langs]


"""The family objects by name (the registry says which task belongs to which family)."""

from __future__ import annotations

from .classification import Classification
from .family import TaskFamily
from .multiple_choice import MultipleChoice
from .qa import ExtractiveQA

FAMILIES: dict[str, TaskFamily] = {f.name: f for f in (ExtractiveQA(), Classification(), MultipleChoice())}


def get_family(name: str) -> TaskFamily:
    if name not in FAMILIES:
        raise ValueError(f"unknown task family {name!r}; trainable families are {sorted(FAMILIES)}")
    return FAMILIES[name]

"""Test conditions as files: "clean" is the prepared test set, every other name a perturbed copy of it.

Shared by perturb (writes), evaluate (reads) and score (reads), so the three agree on names and paths.
"""

from __future__ import annotations

from pathlib import Path

from stages import layout
from stages.xlt.params import Params

CLEAN = "clean"
# Families applied to Tatoeba's source side. Not codeswitch_words: switching words into English would make
# retrieving the English target easier, not harder; distractors and question swaps need a QA pair.
SENTENCE_FAMILIES = ("typos",)


def qa_conditions(params: Params) -> list[str]:
    return [CLEAN, *params.perturb.conditions]


def retrieval_conditions(params: Params) -> list[str]:
    return [CLEAN, *(name for name, c in params.perturb.conditions.items() if c.family in SENTENCE_FAMILIES)]


def qa_path(condition: str, lang: str) -> Path:
    if condition == CLEAN:
        return layout.TEST / f"xquad.{lang}.jsonl"
    return layout.PERTURBED / condition / f"xquad.{lang}.jsonl"


def retrieval_path(condition: str, lang: str) -> Path:
    if condition == CLEAN:
        return layout.TEST / f"tatoeba.{lang}.jsonl"
    return layout.PERTURBED / condition / f"tatoeba.{lang}.jsonl"

"""What some perturbation families need besides the examples themselves."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PerturbationContext:
    """Side data for the families; each family reads only what it needs.

    pool_by_lang: lang -> QA examples (any articles; families skip the example's own article) for distractors.
    parallel: lang -> {example id -> QA example}: the same question in other languages (XQuAD is parallel).
    lexicons: (src_lang, tgt_lang) -> {source word (lower-case) -> target word}, see ``lexicon.py``.
    """

    pool_by_lang: dict[str, list[dict]] = field(default_factory=dict)
    parallel: dict[str, dict[str, dict]] = field(default_factory=dict)
    lexicons: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

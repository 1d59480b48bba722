"""How numbers and tables are written in every Markdown output (the report, the per-target pages, the terminal).

Scores are on the 0–1 scale in the tables and printed ×100 ("points"); every confidence level printed comes
from the settings, never from a literal.
"""

from __future__ import annotations

from stages.xlt.scoring.finite import finite_or_none
from stages.xlt.scoring.labels import AVERAGE, POOLED
from stages.xlt.scoring.statistics import confidence_label

POINTS = 100.0
MULTIPLICITY_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


def points(value, signed: bool = False) -> str:
    if finite_or_none(value) is None:
        return "n/a"
    return f"{POINTS * float(value):+.1f}" if signed else f"{POINTS * float(value):.1f}"


def p_text(value) -> str:
    """'0.042' or '< 0.001' (the resolution of 2000 resamples makes smaller values meaningless)."""
    if finite_or_none(value) is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def p_is(name: str, value) -> str:
    """'p = 0.042' or 'p < 0.001'."""
    text = p_text(value)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def interval(low, high, signed: bool = True) -> str:
    return f"[{points(low, signed)}, {points(high, signed)}]"


def changed(row) -> str:
    """'48/50' or 'n/a (0/50 changed)'."""
    n, total = int(row["n"]), int(row["n_total"])
    return f"{n}/{total}" if n > 0 else f"n/a (0/{total} changed)"


def number(value) -> str:
    return f"{value:g}" if finite_or_none(value) is not None else "n/a"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def level(confidence: float) -> str:
    return confidence_label(confidence)


def multiplicity_name(method: str) -> str:
    return MULTIPLICITY_NAMES[method]


def language_order(langs, first: tuple[str, ...] = ("en",)) -> list[str]:
    """Languages as XTREME lays them out: the source language first, then the rest alphabetically; never the
    average or pooled rows."""
    present = {lang for lang in langs if lang not in (AVERAGE, POOLED)}
    return [lang for lang in first if lang in present] + sorted(present - set(first))

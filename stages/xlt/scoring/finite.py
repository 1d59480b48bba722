"""Numbers as the outputs hold them: a finite float, or None where there is none (JSON has no NaN)."""

from __future__ import annotations

import math


def finite_or_none(value) -> float | None:
    """`value` as a float when it is a finite number; None for NaN, ±inf, None, strings that are no number and
    anything else float() refuses. Where only the question matters: ``finite_or_none(value) is not None``."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def json_number(value) -> float | None:
    """`finite_or_none` to six significant digits, not six decimals: variances of 0–1 scores (1e-4 to 1e-7) must
    survive in detailed.json for the planner. DVC and json readers choke on NaN, so it is null."""
    value = finite_or_none(value)
    return None if value is None else float(f"{value:.6g}")

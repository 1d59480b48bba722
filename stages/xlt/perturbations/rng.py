"""Per-example random generators.

Each example gets its own generator derived from (seed, family, example id, purpose), so the perturbation of an
example never depends on the order of the batch or on which other examples are in it.
"""

from __future__ import annotations

import hashlib
import random


def example_rng(seed: int, family: str, example_id: str, purpose: str = "") -> random.Random:
    """A ``random.Random`` seeded by a stable hash (Python's ``hash`` is salted per process, so not usable)."""
    key = f"{seed}\x1f{family}\x1f{example_id}\x1f{purpose}".encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def stochastic_round(value: float, rng: random.Random) -> int:
    """floor(value) plus one with probability frac(value): unbiased, so short texts still get edits on average."""
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


def check_rate(rate: float, name: str = "rate") -> float:
    """Rates are fractions; anything outside [0, 1] is a caller mistake."""
    if not isinstance(rate, (int, float)) or not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {rate!r}; pass e.g. {name}=0.15")
    return float(rate)

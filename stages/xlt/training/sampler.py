"""Multi-task samplers, as jiant defines them (jiant/proj/main/components/task_sampler.py).

* ``uniform``: every task equally likely.
* ``proportional``: p_i = n_i / sum_j n_j.
* ``temperature``: p_i proportional to n_i ** (1 / T) (T = 1 is proportional; large T tends to uniform).
An optional ``cap`` replaces each n_i by min(n_i, cap) first (jiant's ``examples_cap``), so one huge task
cannot dominate.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

SamplerKind = Literal["uniform", "proportional", "temperature"]
KINDS: tuple[str, ...] = ("uniform", "proportional", "temperature")


def task_probabilities(
    sizes: dict[str, int], kind: SamplerKind, temperature: float = 1.0, cap: int | None = None
) -> dict[str, float]:
    """The probability of drawing each task (same key order as ``sizes``)."""
    if not sizes:
        raise ValueError("no tasks given to the sampler")
    bad = {name: n for name, n in sizes.items() if not isinstance(n, (int, np.integer)) or n < 1}
    if bad:
        raise ValueError(f"task sizes must be positive integers, got {bad}")
    if kind not in KINDS:
        raise ValueError(f"unknown sampler kind {kind!r}; choose one of {KINDS}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if cap is not None and cap < 1:
        raise ValueError(f"cap must be >= 1 or None, got {cap}")
    counts = np.array([min(n, cap) if cap is not None else n for n in sizes.values()], dtype=np.float64)
    if kind == "uniform":
        weights = np.ones_like(counts)
    elif kind == "proportional":
        weights = counts
    else:
        weights = counts ** (1.0 / temperature)
    weights = weights / weights.sum()
    return {name: float(p) for name, p in zip(sizes, weights, strict=True)}


class TaskSampler:
    """Seeded draws of task names with ``task_probabilities``."""

    def __init__(
        self,
        sizes: dict[str, int],
        kind: SamplerKind,
        *,
        temperature: float = 1.0,
        cap: int | None = None,
        seed: int,
    ) -> None:
        self.probabilities = task_probabilities(sizes, kind, temperature=temperature, cap=cap)
        self._names = list(self.probabilities)
        self._p = np.array([self.probabilities[n] for n in self._names])
        self._rng = np.random.default_rng(seed)

    def sample(self) -> str:
        return self._names[int(self._rng.choice(len(self._names), p=self._p))]

    def schedule(self, n_steps: int) -> list[str]:
        """The task of each of the next ``n_steps`` steps."""
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        picks = self._rng.choice(len(self._names), size=n_steps, p=self._p)
        return [self._names[int(i)] for i in picks]

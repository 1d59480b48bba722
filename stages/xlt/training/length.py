"""A training length in epochs, as optimizer steps (jiant's configurator: for each task, epochs times the batches of
one pass over its training examples, summed over the tasks trained together)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def steps_for_epochs(sizes: Mapping[str, int], epochs: float, effective_batch: int) -> int:
    """Optimizer steps for ``epochs`` passes over every task of ``sizes`` (training features per task) at
    ``effective_batch`` features per step: sum over tasks of epochs * ceil(n / batch), rounded down, at least 1.

    With proportional sampling a multi-task run then sees each task about ``epochs`` times, as a single-task run
    would."""
    if not sizes:
        raise ValueError("no tasks to count epochs over")
    if epochs <= 0 or effective_batch < 1:
        raise ValueError(f"epochs must be > 0 and the batch >= 1, got {epochs} and {effective_batch}")
    empty = sorted(t for t, n in sizes.items() if n < 1)
    if empty:
        raise ValueError(f"task(s) {empty} have no training features")
    return max(1, int(sum(epochs * math.ceil(n / effective_batch) for n in sizes.values())))

"""Length-grouped batches (padding itself is ``tasks.collate``): the cheap trick that makes CPU training fast.

Batches are a pure function of (seed, task, batch number), so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tasks.collate import feature_length


def length_grouped_batches(lengths: Sequence[int], batch_size: int, mega_batch: int,
                           rng: np.random.Generator) -> list[list[int]]:
    """Shuffle, cut into mega-batches, sort each by length (longest first), cut into batches, shuffle batches.

    Features in one batch have similar lengths (little padding) while the epoch order stays random.
    """
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), mega_batch):
        chunk = sorted(order[start: start + mega_batch].tolist(), key=lambda i: -lengths[i])
        batches.extend(chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


class TaskBatches:
    """The n-th batch of one task's features, over as many epochs as needed."""

    def __init__(self, features: Sequence[dict], batch_size: int, mega_batch_factor: int, seed: int, task_index: int):
        if not features:
            raise ValueError(f"task #{task_index} has no training features")
        self.features = features
        self.lengths = [feature_length(f) for f in features]
        self.batch_size = batch_size
        self.mega_batch = batch_size * mega_batch_factor
        self.seed, self.task_index = seed, task_index
        self._epoch, self._batches = -1, []
        self.batches_per_epoch = len(self._epoch_batches(0))

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, self.task_index, epoch])
            self._batches = length_grouped_batches(self.lengths, self.batch_size, self.mega_batch, rng)
            self._epoch = epoch
        return self._batches

    def __getitem__(self, n: int) -> list[dict]:
        epoch, index = divmod(n, self.batches_per_epoch)
        return [self.features[i] for i in self._epoch_batches(epoch)[index]]

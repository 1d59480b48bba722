"""Length-grouped batches and dynamic padding: the two cheap tricks that make CPU training fast.

Batches are a pure function of (seed, task, batch number), so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

LABEL_KEYS = ("labels", "start_positions", "end_positions")


def feature_length(feature: dict) -> int:
    ids = feature["input_ids"]
    return max(len(choice) for choice in ids) if ids and isinstance(ids[0], list) else len(ids)


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


def _pad(rows: Sequence[Sequence[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def collate(features: Sequence[dict], pad_token_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence in this batch (or to `pad_to` if longer).

    `pad_to` lets a data-parallel rank pad its shard as the whole global batch would be padded: QA losses take
    their softmax over padded positions too, so the padded length is part of what the loss computes.
    Multiple-choice features (lists of per-choice token lists) give tensors of shape (B, C, L).
    """
    multiple_choice = isinstance(features[0]["input_ids"][0], list)
    if multiple_choice:
        n_choices = {len(f["input_ids"]) for f in features}
        if len(n_choices) != 1:
            raise ValueError(f"multiple-choice batch mixes examples with {sorted(n_choices)} choices; "
                             "give every example of a task the same number of choices")
        flatten = lambda key: [row for f in features for row in f[key]]  # noqa: E731
    else:
        flatten = lambda key: [f[key] for f in features]  # noqa: E731
    ids = flatten("input_ids")
    length = max(max(len(row) for row in ids), pad_to or 0)
    batch = {"input_ids": _pad(ids, length, pad_token_id),
             "attention_mask": _pad([[1] * len(row) for row in ids], length, 0)}
    if "token_type_ids" in features[0]:
        batch["token_type_ids"] = _pad(flatten("token_type_ids"), length, 0)
    if multiple_choice:
        batch = {k: v.view(len(features), -1, length) for k, v in batch.items()}
    for key in LABEL_KEYS:
        if key in features[0]:
            dtype = torch.float if isinstance(features[0][key], float) else torch.long
            batch[key] = torch.tensor([f[key] for f in features], dtype=dtype)
    return batch

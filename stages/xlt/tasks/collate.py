"""Dynamic padding for every task family, shared by training and inference.

A feature holds one sequence (``input_ids``: list of ints) or, for multiple choice, several (list of lists); rows
are padded to the longest one in the batch (or to ``pad_to`` if longer). When features carry cached bottom-layer
states (``hidden``: a (length, H) tensor per row), they are padded the same way and the batch holds ``hidden``
instead of token ids, which the model runs through its top layers only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

LABEL_KEYS = ("labels", "start_positions", "end_positions", "token_labels")
SEQUENCE_LABEL_KEYS = ("token_labels",)  # one label per token (tagging), padded with -100: no loss there
IGNORED_LABEL = -100


def rows_of(feature: dict, key: str = "input_ids") -> list:
    """The feature's sequences: [ids] for single-sequence families, the per-choice lists for multiple choice."""
    value = feature[key]
    return value if is_multi_row(feature) else [value]


def is_multi_row(feature: dict) -> bool:
    ids = feature["input_ids"]
    return bool(ids) and isinstance(ids[0], list)


def feature_length(feature: dict) -> int:
    return max(len(row) for row in rows_of(feature))


def _pad(rows: Sequence[Sequence[int]], length: int, value: int) -> torch.Tensor:
    out = torch.full((len(rows), length), value, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def _pad_hidden(rows: Sequence[torch.Tensor], length: int) -> torch.Tensor:
    out = torch.zeros((len(rows), length, rows[0].shape[-1]), dtype=torch.float32)
    for i, row in enumerate(rows):
        out[i, : row.shape[0]] = row  # fp16 storage is widened here: compute stays fp32
    return out


def collate(features: Sequence[dict], pad_token_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Pad a batch; multiple-choice batches get ``n_choices`` and rows flattened to (B * C, L).

    ``pad_to`` lets a data-parallel rank pad its shard as the whole global batch would be padded, so it computes on
    the shapes one process would (losses leave padded positions out, see ``qa.qa_loss``).
    """
    multi = is_multi_row(features[0])
    if multi and len({len(f["input_ids"]) for f in features}) != 1:
        raise ValueError("multiple-choice batch mixes examples with different numbers of choices; "
                         "give every example of a task the same number of choices")
    ids = [row for f in features for row in rows_of(f)]
    length = max(max(len(row) for row in ids), pad_to or 0)
    batch = {"attention_mask": _pad([[1] * len(row) for row in ids], length, 0)}
    if "hidden" in features[0]:
        batch["hidden"] = _pad_hidden([row for f in features for row in rows_of(f, "hidden")], length)
    else:
        batch["input_ids"] = _pad(ids, length, pad_token_id)
        if "token_type_ids" in features[0]:
            batch["token_type_ids"] = _pad([row for f in features for row in rows_of(f, "token_type_ids")], length, 0)
    if multi:
        batch["n_choices"] = torch.tensor(len(features[0]["input_ids"]))
    for key in SEQUENCE_LABEL_KEYS:
        if key in features[0]:
            batch[key] = _pad([f[key] for f in features], length, IGNORED_LABEL)
    for key in LABEL_KEYS:
        if key in features[0] and key not in SEQUENCE_LABEL_KEYS:
            dtype = torch.float if isinstance(features[0][key], float) else torch.long
            batch[key] = torch.tensor([f[key] for f in features], dtype=dtype)
    return batch


def token_bounded_batches(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Inference batches: longest first, at most ``batch_size`` rows and (beyond one row) ``max_tokens`` padded
    tokens each. Big padded batches fall out of cache on a CPU and turn the GEMMs memory-bound (measured: batch 64 ran
    1.8x slower than batches of ~2k tokens); on a GPU a larger ``max_tokens`` fills the device."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else None
        # Sorted longest first, so a batch's padded length is the length of its first row.
        if current is None or len(current) == batch_size or (len(current) + 1) * lengths[current[0]] > max_tokens:
            batches.append([i])
        else:
            current.append(i)
    return batches

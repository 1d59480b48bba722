"""Cached bottom-layer states ("the frozen prefix"): computed once per input, stored, shared by every model.

A store holds, for a list of token sequences (rows), the base encoder's hidden states after ``depth`` layers,
concatenated into one (total tokens, H) tensor with row offsets, plus the token ids they were computed from (so a
reader can check that it featurised its inputs identically) and the base encoder's fingerprint (so a model can check
that the states are its own, see ``MultiTaskModel.use_prefix``). Training sets may be stored in float16 (half the
disk; measured not to change results, README); evaluation sets stay float32 (compute is always float32).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..io import atomic_path
from ..tasks.collate import collate, is_multi_row, rows_of, token_bounded_batches
from . import layers

DTYPES = {"float32": torch.float32, "float16": torch.float16}


@dataclass(frozen=True)
class PrefixStore:
    hidden: torch.Tensor  # (total tokens, H)
    offsets: np.ndarray  # (rows + 1,) row i is hidden[offsets[i]:offsets[i + 1]]
    input_ids: np.ndarray  # (total tokens,) int32
    depth: int
    fingerprint: str

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    def row(self, i: int) -> torch.Tensor:
        return self.hidden[int(self.offsets[i]): int(self.offsets[i + 1])]

    def attach(self, features: Sequence[dict]) -> list[dict]:
        """Copies of ``features`` carrying their rows' states as ``hidden``, after checking the token ids agree."""
        rows = [row for f in features for row in rows_of(f)]
        if len(rows) != self.n_rows:
            raise ValueError(f"the cached states hold {self.n_rows} sequences, the inputs give {len(rows)}: "
                             "they were featurised differently; re-run the prefix stage (dvc repro)")
        lengths = np.diff(self.offsets)
        flat = np.fromiter((t for row in rows for t in row), dtype=np.int64, count=int(lengths.sum()))
        if [len(r) for r in rows] != lengths.tolist() or not np.array_equal(flat, self.input_ids):
            raise ValueError("the cached states were computed from other token ids than these inputs; "
                             "re-run the prefix stage (dvc repro)")
        out, r = [], 0
        for feature in features:
            n = len(rows_of(feature))
            states = [self.row(r + j) for j in range(n)]
            out.append({**feature, "hidden": states if is_multi_row(feature) else states[0]})
            r += n
        return out


def compute(encoder: nn.Module, features: Sequence[dict], depth: int, *, pad_token_id: int, dtype: str = "float32",
            batch_size: int = 64, max_tokens: int = 4096, progress: str | None = None) -> PrefixStore:
    """The bottom ``depth`` layers (in eval mode: no dropout) over every row of ``features``."""
    from tqdm.auto import tqdm

    if dtype not in DTYPES:
        raise ValueError(f"prefix dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    singles = [{k: v for k, v in (("input_ids", row), ("token_type_ids", types)) if v is not None}
               for f in features for row, types in zip(rows_of(f), _types(f))]
    lengths = [len(s["input_ids"]) for s in singles]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    hidden = torch.empty((int(offsets[-1]), encoder.config.hidden_size), dtype=DTYPES[dtype])
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    with torch.inference_mode():
        for rows in tqdm(token_bounded_batches(lengths, batch_size, max_tokens), desc=progress, unit="batch",
                         disable=progress is None, mininterval=5):
            batch = {k: v.to(device) for k, v in collate([singles[i] for i in rows], pad_token_id).items()}
            states = layers.bottom(encoder, batch["input_ids"], batch["attention_mask"], depth,
                                   batch.get("token_type_ids")).float().cpu()
            for j, i in enumerate(rows):
                hidden[offsets[i]: offsets[i + 1]] = states[j, : lengths[i]].to(hidden.dtype)
    encoder.train(was_training)
    input_ids = np.fromiter((t for s in singles for t in s["input_ids"]), dtype=np.int32, count=int(offsets[-1]))
    return PrefixStore(hidden, offsets, input_ids, depth, layers.fingerprint(encoder, depth))


def _types(feature: dict) -> list:
    return rows_of(feature, "token_type_ids") if "token_type_ids" in feature else [None] * len(rows_of(feature))


def save(store: PrefixStore, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        save_file({"hidden": store.hidden.contiguous(), "offsets": torch.from_numpy(store.offsets),
                   "input_ids": torch.from_numpy(store.input_ids)}, str(tmp),
                  metadata={"depth": str(store.depth), "fingerprint": store.fingerprint})


def load(path: str | os.PathLike) -> PrefixStore:
    """The store in ``path``, memory-mapped rather than read: safetensors maps the file, so every stage that reads the
    same states (each evaluate_perturbed stage reads all of prefix_perturbed) shares the page cache, loads them in
    about a millisecond and holds only the pages it touches (tested)."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        return PrefixStore(f.get_tensor("hidden"), f.get_tensor("offsets").numpy(), f.get_tensor("input_ids").numpy(),
                           int(meta["depth"]), meta["fingerprint"])


class BottomCache:
    """Bottom states computed on demand and kept by token sequence, for inputs that are not known in advance (the
    attack's queries): every arm's model queries many of the same variants (the clean question with one word
    deleted, a typo on the same word), and their bottom states are the same for all of them."""

    def __init__(self, encoder: nn.Module, depth: int, *, pad_token_id: int, max_tokens: int = 4096) -> None:
        self.encoder, self.depth, self.pad_token_id, self.max_tokens = encoder, depth, pad_token_id, max_tokens
        self.fingerprint = layers.fingerprint(encoder, depth)
        # Keyed by (token ids, segment ids or None): with segment ids (BERT-style pairs) the same tokens in another
        # segment have other states.
        self.rows: dict[tuple[tuple[int, ...], tuple[int, ...] | None], torch.Tensor] = {}
        self.computed = self.reused = 0

    def store_for(self, features: Sequence[dict]) -> PrefixStore:
        sequences = [(tuple(row), None if types is None else tuple(types))
                     for f in features for row, types in zip(rows_of(f), _types(f))]
        missing = list(dict.fromkeys(s for s in sequences if s not in self.rows))
        if missing:
            singles = [{"input_ids": list(ids), **({} if types is None else {"token_type_ids": list(types)})}
                       for ids, types in missing]
            fresh = compute(self.encoder, singles, self.depth, pad_token_id=self.pad_token_id,
                            max_tokens=self.max_tokens)
            for i, s in enumerate(missing):
                self.rows[s] = fresh.row(i).clone()
        self.computed += len(missing)
        self.reused += len(sequences) - len(missing)
        lengths = [len(ids) for ids, _ in sequences]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        hidden = torch.cat([self.rows[s] for s in sequences]) if sequences else torch.empty(0, 0)
        input_ids = np.fromiter((t for ids, _ in sequences for t in ids), dtype=np.int32, count=int(offsets[-1]))
        return PrefixStore(hidden, offsets, input_ids, self.depth, self.fingerprint)

    def clear(self) -> None:
        self.rows.clear()

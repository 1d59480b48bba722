"""Sentence embeddings from an encoder and nearest-neighbour retrieval accuracy (Tatoeba / BUCC style).

XTREME reports xx->en accuracy on Tatoeba: for each non-English sentence, is its nearest English sentence
(cosine similarity) its translation? Both directions are returned here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Pooling = Literal["mean", "cls"]


def _pool(hidden, attention_mask, pooling: Pooling):
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def embed(
    model,
    tokenizer,
    sentences: Sequence[str],
    *,
    pooling: Pooling = "mean",
    layer: int = -1,
    batch_size: int = 32,
    max_length: int = 128,
) -> np.ndarray:
    """One float32 row per sentence, in input order.

    ``layer`` indexes ``hidden_states`` (0 = embeddings, -1 = last layer). Sentences are batched in order of
    length so that padding is small; the original order is restored before returning.
    """
    import torch

    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n_states = model.config.num_hidden_layers + 1  # embeddings + every layer
    if not -n_states <= layer < n_states:
        raise ValueError(f"layer {layer} does not exist: the encoder has hidden states 0..{n_states - 1} (or -1)")
    sentences = list(sentences)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    device = next(model.parameters()).device
    rows: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            batch = [sentences[i] for i in order[begin : begin + batch_size]]
            encoded = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            encoded = {k: v.to(device) for k, v in encoded.items()}
            outputs = model(**encoded, output_hidden_states=True)
            hidden = outputs.hidden_states[layer]
            rows.append(_pool(hidden, encoded["attention_mask"], pooling).float().cpu().numpy())
    model.train(was_training)
    if not rows:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    stacked = np.concatenate(rows, axis=0)
    result = np.empty_like(stacked)
    result[np.asarray(order)] = stacked
    return result.astype(np.float32, copy=False)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.maximum(norms, 1e-12)


def retrieval_hits(src_emb: np.ndarray, tgt_emb: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sentence booleans: is the cosine nearest neighbour the gold (same-index) sentence?"""
    src_emb, tgt_emb = np.asarray(src_emb, dtype=np.float64), np.asarray(tgt_emb, dtype=np.float64)
    if src_emb.ndim != 2 or src_emb.shape != tgt_emb.shape or src_emb.shape[0] == 0:
        raise ValueError(
            f"retrieval needs two non-empty aligned matrices of the same shape, got {src_emb.shape} and {tgt_emb.shape}"
        )
    similarity = _unit_rows(src_emb) @ _unit_rows(tgt_emb).T
    gold = np.arange(similarity.shape[0])
    return {"src2tgt": similarity.argmax(axis=1) == gold, "tgt2src": similarity.argmax(axis=0) == gold}


def retrieval_accuracy(src_emb: np.ndarray, tgt_emb: np.ndarray) -> dict[str, float]:
    """``{"src2tgt": acc, "tgt2src": acc}``; src = non-English (XTREME's xx->en number is src2tgt)."""
    return {direction: float(hits.mean()) for direction, hits in retrieval_hits(src_emb, tgt_emb).items()}

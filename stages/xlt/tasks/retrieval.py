"""Nearest-neighbour retrieval accuracy over sentence embeddings (Tatoeba / BUCC style; the embeddings come from
``inference.sentence_embeddings``).

XTREME reports xx->en accuracy on Tatoeba: for each non-English sentence, is its nearest English sentence
(cosine similarity) its translation? Both directions are returned here.
"""

from __future__ import annotations

import numpy as np

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

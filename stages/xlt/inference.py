"""Batched prediction for every task family: featurise once, sort rows by length, pad per batch, inference mode.

With a prefix store (the base encoder's cached bottom states for exactly these inputs) the model runs its top layers
only; predictions are the same as from the full forward (max |logit difference| ≤ 1e-4, tested). Batches are bounded
in padded tokens (``collate.token_bounded_batches``), which keeps CPU GEMMs in cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .modeling import layers
from .modeling.multitask import MultiTaskModel
from .modeling.prefix import BottomCache, PrefixStore
from .tasks.collate import collate, feature_length, rows_of, token_bounded_batches
from .tasks.families import get_family

CPU_TOKENS_PER_FORWARD = 2048


def _device_batch(batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    device = next(model.parameters()).device
    return batch if device.type == "cpu" else {k: v.to(device) for k, v in batch.items()}


def default_max_tokens(model: torch.nn.Module) -> int:
    return CPU_TOKENS_PER_FORWARD if next(model.parameters()).device.type == "cpu" else 65536


def predict(model: MultiTaskModel, task: str, examples: Sequence[dict], *, max_length: int, doc_stride: int = 128,
            batch_size: int = 64, max_tokens: int | None = None, prefix: PrefixStore | BottomCache | None = None,
            probabilities: bool = False) -> dict[str, Any]:
    """{example id: prediction} (answer text for QA, label index otherwise) with the model's head ``task``.

    ``prefix``: the cached bottom states of exactly these inputs, or a cache that computes and keeps them.
    ``probabilities``: for classification, class-probability vectors instead of labels (the attack's search uses
    them to find edits that weaken the model before its label flips)."""
    ids = [example["id"] for example in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("predict got duplicate example ids; give each input its own id")
    if not examples:
        return {}
    family = get_family(model.family(task))
    features = family.eval_features(examples, model.tokenizer, max_length=max_length, doc_stride=doc_stride)
    if prefix is not None:
        store = prefix.store_for(features) if isinstance(prefix, BottomCache) else prefix
        model.use_prefix(store.depth, store.fingerprint)
        features = store.attach(features)
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    outputs: list[np.ndarray | None] = [None] * len(features)
    lengths = [feature_length(f) * len(rows_of(f)) for f in features]
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for rows in token_bounded_batches(lengths, batch_size, max_tokens or default_max_tokens(model)):
            batch = _device_batch(collate([features[i] for i in rows], pad_id), model)
            _, logits = model(task, batch)
            for i, output in zip(rows, family.output_rows(logits, batch), strict=True):
                outputs[i] = output
    model.train(was_training)
    if probabilities and family.name == "classification":
        return {examples[f["example_index"]]["id"]: _softmax(out) for f, out in zip(features, outputs, strict=True)}
    return family.decode(examples, features, outputs)


def _softmax(logits: np.ndarray) -> list[float]:
    shifted = np.exp(logits - logits.max())
    return (shifted / shifted.sum()).astype(float).tolist()


def sentence_features(tokenizer, sentences: Sequence[str], max_length: int = 128) -> list[dict]:
    encoded = tokenizer(list(sentences), truncation=True, max_length=max_length, padding=False)
    return [{"input_ids": row} for row in encoded["input_ids"]]


def eval_features(family_name: str, tokenizer, examples: Sequence[dict], *, max_length: int,
                  doc_stride: int) -> list[dict]:
    """What ``predict`` feeds the model, for caching the bottom states of exactly these inputs."""
    return get_family(family_name).eval_features(examples, tokenizer, max_length=max_length, doc_stride=doc_stride)


def sentence_embeddings(model: MultiTaskModel, sentences: Sequence[str], *, pooling: str = "mean", layer: int = -1,
                        batch_size: int = 64, max_length: int = 128, max_tokens: int | None = None,
                        prefix: PrefixStore | None = None) -> np.ndarray:
    """One float32 row per sentence (input order): ``pooling`` ("mean" or "cls") of layer ``layer``'s states
    (1..n, or -1 for the last; with a prefix store, a layer at or above its depth)."""
    if pooling not in ("mean", "cls"):
        raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
    n = model.n_layers
    stop = n if layer == -1 else layer
    if not 1 <= stop <= n:
        raise ValueError(f"layer {layer} does not exist: the encoder has layers 1..{n} (or -1 for the last)")
    features = sentence_features(model.tokenizer, sentences, max_length)
    start = 0
    if prefix is not None:
        if stop < prefix.depth:
            raise ValueError(f"retrieval layer {layer} lies inside the cached bottom ({prefix.depth} layers)")
        model.use_prefix(prefix.depth, prefix.fingerprint)
        features, start = prefix.attach(features), prefix.depth
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(features), model.encoder.config.hidden_size), dtype=np.float32)
    was_training = model.training
    model.eval()  # as in predict: no dropout, whatever mode the caller left the model in
    with torch.inference_mode():
        for rows in token_bounded_batches([len(f["input_ids"]) for f in features], batch_size,
                                          max_tokens or default_max_tokens(model)):
            batch = _device_batch(collate([features[i] for i in rows], pad_id), model)
            mask = batch["attention_mask"]
            hidden = batch["hidden"] if "hidden" in batch else layers.embed(model.encoder, batch["input_ids"])
            hidden = layers.run_layers(model.encoder, hidden, mask, start, stop)
            if pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
            out[rows] = pooled.float().cpu().numpy()
    model.train(was_training)
    return out

"""Batched prediction for every task family: featurise once, sort rows by length, pad per batch, inference mode.

With a prefix store (the base encoder's cached bottom states for exactly these inputs) the model runs its top layers
only; predictions are the same as from the full forward (max |logit difference| ≤ 1e-4, tested). Batches are bounded
in padded tokens (``collate.token_bounded_batches``), which keeps CPU GEMMs in cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .modeling import layers
from .modeling.multitask import MultiTaskModel
from .modeling.prefix import BottomCache, PrefixStore
from .tasks.collate import collate, feature_length, rows_of, token_bounded_batches
from .tasks.family import model_family
from .tasks.qa import answer_token_span, best_span_in_window

CPU_TOKENS_PER_FORWARD = 2048


def _device_batch(batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    device = next(model.parameters()).device
    return batch if device.type == "cpu" else {k: v.to(device) for k, v in batch.items()}


def default_max_tokens(model: torch.nn.Module) -> int:
    return CPU_TOKENS_PER_FORWARD if next(model.parameters()).device.type == "cpu" else 65536


def _forward(model: MultiTaskModel, task: str, examples: Sequence[dict], *, max_length: int, doc_stride: int,
             batch_size: int, max_tokens: int | None, prefix: PrefixStore | BottomCache | None):
    """(family, features, per-feature head outputs) of ``examples`` with the model's head ``task``."""
    ids = [example["id"] for example in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("predict got duplicate example ids; give each input its own id")
    family = model_family(model.family(task))
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
    return family, features, outputs


def predict(model: MultiTaskModel, task: str, examples: Sequence[dict], *, max_length: int, doc_stride: int = 128,
            batch_size: int = 64, max_tokens: int | None = None, prefix: PrefixStore | BottomCache | None = None,
            probabilities: bool = False) -> dict[str, Any]:
    """{example id: prediction} (answer text for QA, label index otherwise) with the model's head ``task``.

    ``prefix``: the cached bottom states of exactly these inputs, or a cache that computes and keeps them.
    ``probabilities``: for classification, class-probability vectors instead of labels (the attack's search uses
    them to find edits that weaken the model before its label flips)."""
    if not examples:
        return {}
    family, features, outputs = _forward(model, task, examples, max_length=max_length, doc_stride=doc_stride,
                                         batch_size=batch_size, max_tokens=max_tokens, prefix=prefix)
    if probabilities and family.class_probabilities:
        return {examples[f["example_index"]]["id"]: _softmax(out) for f, out in zip(features, outputs, strict=True)}
    return family.decode(examples, features, outputs)


@dataclass(frozen=True)
class SpanOutcome:
    """A QA model's answer to one example, and how probable it finds a given answer span."""

    answer: str  # the decoded answer, as ``predict`` gives it ("" when no window has an allowed span)
    span: tuple[int, int] | None  # the answer's character offsets in the context
    probability: float  # p_start x p_end of the target span (of the answer when no target was given)


def _window_probabilities(logits: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end probabilities of one window as the QA decoder normalises them (tasks/qa.py): softmax over
    context tokens + CLS, then CLS set to 0, so p_start x p_end of the decoded span is the decoder's own score."""
    probabilities = []
    for column in (0, 1):
        masked = np.where(allowed, logits[:, column].astype(np.float32), -10000.0)
        p = np.exp(masked - masked.max())
        p = p / p.sum()
        p[0] = 0.0
        probabilities.append(p)
    return probabilities[0], probabilities[1]


def predict_spans(model: MultiTaskModel, task: str, examples: Sequence[dict],
                  targets: Sequence[tuple[int, int] | None] | None = None, *, max_length: int, doc_stride: int = 128,
                  batch_size: int = 64, max_tokens: int | None = None,
                  prefix: PrefixStore | BottomCache | None = None) -> dict[str, SpanOutcome]:
    """{example id: SpanOutcome} for a QA head: the answer (the same as ``predict``'s), its character span, and the
    probability of ``targets[k]`` (character offsets in example k's context; None: the answer's own span).

    The probability of a span is p_start x p_end in one window, normalised as the decoder normalises them, and the
    MAXIMUM over the windows that hold the whole span (0 when none does): a window-level quantity, like the decoder's
    choice of answer, so for the decoded span it is exactly the score that made it the answer. It moves
    continuously when the question changes, which makes it the attack's QA goal score."""
    if not examples:
        return {}
    targets = list(targets) if targets is not None else [None] * len(examples)
    if len(targets) != len(examples):
        raise ValueError(f"predict_spans got {len(targets)} targets for {len(examples)} examples")
    family, features, outputs = _forward(model, task, examples, max_length=max_length, doc_stride=doc_stride,
                                         batch_size=batch_size, max_tokens=max_tokens, prefix=prefix)
    if not family.extracts_spans:
        raise ValueError(f"predict_spans needs a QA head; {task!r} is {family.name}")
    cls_id = model.tokenizer.cls_token_id
    best: dict[int, tuple[float, tuple[int, int]]] = {}
    target_probability = [0.0] * len(examples)
    for feature, logits in zip(features, outputs, strict=True):
        k, offsets = feature["example_index"], feature["offsets"]
        allowed = np.asarray(feature["allowed"])
        found = best_span_in_window(logits[:, 0], logits[:, 1], allowed)
        if found is not None and (k not in best or found[2] > best[k][0]):  # strict: the earlier window wins ties
            best[k] = (found[2], (offsets[found[0]][0], offsets[found[1]][1]))
        if targets[k] is not None:
            context = [1 if ok and token != cls_id else None for ok, token in zip(allowed, feature["input_ids"])]
            tokens = answer_token_span(offsets, context, *targets[k])
            if tokens is not None:
                p_start, p_end = _window_probabilities(logits, allowed)
                target_probability[k] = max(target_probability[k], float(p_start[tokens[0]] * p_end[tokens[1]]))
    out = {}
    for k, example in enumerate(examples):
        score, span = best.get(k, (0.0, None))
        answer = example["context"][span[0]:span[1]] if span is not None else ""
        out[example["id"]] = SpanOutcome(answer, span, target_probability[k] if targets[k] is not None else score)
    return out


def _softmax(logits: np.ndarray) -> list[float]:
    shifted = np.exp(logits - logits.max())
    return (shifted / shifted.sum()).astype(float).tolist()


def sentence_features(tokenizer, sentences: Sequence[str], max_length: int = 128) -> list[dict]:
    encoded = tokenizer(list(sentences), truncation=True, max_length=max_length, padding=False)
    return [{"input_ids": row} for row in encoded["input_ids"]]


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

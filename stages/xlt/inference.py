"""Fast batched prediction: one tokenisation pass, features sorted by length, dynamic padding, inference mode.

`predict_qa` picks answers exactly as transformers 4.x's `pipeline("question-answering")` did (the task was
removed in transformers 5): per window, start/end logits are masked to context tokens + CLS, softmaxed, CLS is
zeroed, and the best span maximises p_start * p_end with at most `max_answer_length` tokens (first in row-major
order on ties); across windows the highest score wins (the earlier window on ties).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .tasks import classification, multiple_choice, qa
from .training.batching import collate, feature_length


@dataclass(frozen=True)
class QAPrediction:
    text: str
    score: float  # the pipeline's p_start * p_end within the winning window (0.0 when no span qualified)
    start: int  # character offsets into the original context
    end: int


def load_qa_model(model_dir: str | os.PathLike):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    return AutoModelForQuestionAnswering.from_pretrained(model_dir).eval(), AutoTokenizer.from_pretrained(model_dir)


# Padded tokens per forward pass. On this CPU, activations of big batches (64 x 384 x 1536 floats = 150 MB) fall out
# of cache and the GEMMs turn memory-bound: batch 64 ran 1.8x slower than batches of ~2k tokens (PERF.md).
TOKENS_PER_FORWARD = 2048


def _sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Longest first, at most `batch_size` rows and (beyond one row) TOKENS_PER_FORWARD padded tokens each."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        current = batches[-1] if batches else None
        # Sorted longest first, so a batch's padded length is the length of its first row.
        if current is None or len(current) == batch_size or (len(current) + 1) * lengths[current[0]] > TOKENS_PER_FORWARD:
            batches.append([i])
        else:
            current.append(i)
    return batches


def _qa_logits(model, batch: dict[str, torch.Tensor], task: str | None) -> tuple[torch.Tensor, torch.Tensor]:
    if task is not None:  # a MultiTaskModel
        _, logits = model(task, batch)
        return logits[..., 0], logits[..., 1]
    out = model(**batch)
    return out.start_logits, out.end_logits


def _on_model_device(batch: dict[str, torch.Tensor], model) -> dict[str, torch.Tensor]:
    """Batches are built on the CPU; a model on a GPU (the paper profile) needs them moved (a no-op on CPU)."""
    device = next(model.parameters()).device
    return batch if device.type == "cpu" else {k: v.to(device) for k, v in batch.items()}


def _accepts_token_types(model, task: str | None) -> bool:
    forward = (model.encoder if task is not None else model).forward
    return "token_type_ids" in inspect.signature(forward).parameters


def best_span_in_window(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
                        max_answer_length: int) -> tuple[int, int, float] | None:
    """The v4 QA pipeline's `select_starts_ends` + `decode_spans` for one unpadded window, top_k=1."""
    undesired = ~allowed
    start = np.where(undesired, -10000.0, start_logits.astype(np.float32))
    end = np.where(undesired, -10000.0, end_logits.astype(np.float32))
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    start[0] = end[0] = 0.0  # the pipeline never answers with position 0 (CLS)
    candidates = np.tril(np.triu(np.outer(start, end)), max_answer_length - 1)
    s, e = divmod(int(np.argmax(candidates)), candidates.shape[1])
    # The pipeline keeps the argmax only if both ends are allowed positions (its isin test also admits 0).
    if not ((allowed[s] or s == 0) and (allowed[e] or e == 0)):
        return None
    return s, e, float(candidates[s, e])


def _char_span(encoding, offsets, s: int, e: int, align_to_words: bool) -> tuple[int, int]:
    if align_to_words:  # the pipeline widens the span to whole words; fall back to offsets where words fail
        try:
            return (encoding.word_to_chars(encoding.token_to_word(s), 1)[0],
                    encoding.word_to_chars(encoding.token_to_word(e), 1)[1])
        except Exception:  # noqa: BLE001 (token_to_word gives None for special tokens, as in the pipeline)
            pass
    return offsets[s][0], offsets[e][1]


def predict_qa_scored(model_or_dir, tokenizer, examples: Sequence[dict], *, max_length: int = 384,
                      doc_stride: int = 128, batch_size: int = 64, max_answer_length: int = 30,
                      align_to_words: bool = False, task: str | None = None) -> dict[str, QAPrediction]:
    """Answers with scores for every example id. `model_or_dir`: a QA model folder, a `*ForQuestionAnswering`
    model, or a `MultiTaskModel` together with `task` (its QA head). `tokenizer=None` loads it from the folder."""
    model = model_or_dir
    if isinstance(model_or_dir, (str, os.PathLike)):
        model, folder_tokenizer = load_qa_model(model_or_dir)
        tokenizer = tokenizer or folder_tokenizer
    if tokenizer is None:
        raise ValueError("predict_qa needs a tokenizer when given a model object (or pass a model folder)")
    ids = [example["id"] for example in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("predict_qa got duplicate example ids; give each (question, context) pair its own id")
    if not examples:
        return {}
    encoded = qa.tokenize_windows(examples, tokenizer, max_length, doc_stride)
    n = len(encoded["input_ids"])
    cls_id = tokenizer.cls_token_id
    # Answer positions the pipeline allows: context tokens, plus CLS (which it keeps in the softmax).
    allowed = [np.array([seq == 1 or token == cls_id
                         for seq, token in zip(encoded.sequence_ids(i), encoded["input_ids"][i])]) for i in range(n)]
    with_types = "token_type_ids" in encoded and _accepts_token_types(model, task)
    keys = ["input_ids"] + (["token_type_ids"] if with_types else [])
    features = [{k: encoded[k][i] for k in keys} for i in range(n)]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    window_best: list[tuple[int, int, float] | None] = [None] * n
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for rows in _sorted_batches([len(f["input_ids"]) for f in features], batch_size):
            batch = _on_model_device(collate([features[i] for i in rows], pad_id), model)
            start_logits, end_logits = _qa_logits(model, batch, task)
            start_logits, end_logits = start_logits.float().cpu().numpy(), end_logits.float().cpu().numpy()
            for j, i in enumerate(rows):
                length = len(features[i]["input_ids"])
                window_best[i] = best_span_in_window(start_logits[j, :length], end_logits[j, :length], allowed[i],
                                                     max_answer_length)
    model.train(was_training)
    best: dict[int, tuple[float, int]] = {}  # example index -> (score, window)
    for i, found in enumerate(window_best):
        k = encoded["overflow_to_sample_mapping"][i]
        if found is not None and (k not in best or found[2] > best[k][0]):  # strict: the earlier window wins ties
            best[k] = (found[2], i)
    predictions = {}
    for k, example in enumerate(examples):
        if k not in best:
            predictions[example["id"]] = QAPrediction("", 0.0, 0, 0)
            continue
        score, i = best[k]
        s, e, _ = window_best[i]
        start, end = _char_span(encoded.encodings[i], encoded["offset_mapping"][i], s, e, align_to_words)
        predictions[example["id"]] = QAPrediction(example["context"][start:end], score, start, end)
    return predictions


def predict_qa(model_or_dir, tokenizer, examples: Sequence[dict], *, max_length: int = 384, doc_stride: int = 128,
               batch_size: int = 64, max_answer_length: int = 30, align_to_words: bool = False,
               task: str | None = None) -> dict[str, str]:
    """{example id: answer text}; see `predict_qa_scored`."""
    scored = predict_qa_scored(model_or_dir, tokenizer, examples, max_length=max_length, doc_stride=doc_stride,
                               batch_size=batch_size, max_answer_length=max_answer_length,
                               align_to_words=align_to_words, task=task)
    return {example_id: p.text for example_id, p in scored.items()}


def _predict_argmax(model, task: str, features: list[dict], batch_size: int) -> list[int]:
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    labels: list[int] = [0] * len(features)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for rows in _sorted_batches([feature_length(f) for f in features], batch_size):
            _, logits = model(task, _on_model_device(collate([features[i] for i in rows], pad_id), model))
            for j, i in enumerate(rows):
                labels[i] = int(logits[j].argmax())
    model.train(was_training)
    return labels


def predict_classification(model, task: str, examples: Sequence[dict], *, max_length: int = 128,
                           batch_size: int = 64) -> dict[str, int]:
    """{example id: predicted label} with a `MultiTaskModel`'s classification head `task`."""
    features = classification.prepare_features(examples, model.tokenizer, max_length, with_labels=False)
    return dict(zip([f["example_id"] for f in features], _predict_argmax(model, task, features, batch_size)))


def predict_multiple_choice(model, task: str, examples: Sequence[dict], *, max_length: int = 128,
                            batch_size: int = 32) -> dict[str, int]:
    """{example id: predicted choice index} with a `MultiTaskModel`'s multiple-choice head `task`."""
    features = multiple_choice.prepare_features(examples, model.tokenizer, max_length, with_labels=False)
    return dict(zip([f["example_id"] for f in features], _predict_argmax(model, task, features, batch_size)))

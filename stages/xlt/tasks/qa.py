"""Extractive QA (SQuAD-style): overlapping windows, answer spans in tokens, and spans decoded back to text.

Featurisation follows transformers' `examples/pytorch/question-answering` (run_qa.py): question first, context
second, ``truncation="only_second"`` with ``doc_stride`` overlap; a training window without the answer points at
the CLS token. Decoding is transformers 4.x's ``pipeline("question-answering")`` (the task was removed in
transformers 5): per window, start/end logits are masked to context tokens + CLS, softmaxed, CLS is zeroed, and the
best span maximises p_start * p_end with at most ``max_answer_length`` tokens (first in row-major order on ties);
across windows the highest score wins (the earlier window on ties).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .family import TaskFamily, require_fields, uses_token_type_ids

MAX_ANSWER_TOKENS = 30


def tokenize_windows(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int):
    """One fast-tokenizer call for all examples; returns a BatchEncoding with one row per window."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("QA featurisation needs a fast tokenizer (offset mappings); load it with use_fast=True")
    if tokenizer.padding_side != "right":
        raise ValueError("QA featurisation puts the question first and needs tokenizer.padding_side == 'right'")
    # Leading whitespace in questions wastes tokens and can shift truncation (run_qa.py strips it too).
    questions = [example["question"].lstrip() for example in examples]
    contexts = [example["context"] for example in examples]
    return tokenizer(questions, contexts, truncation="only_second", max_length=max_length, stride=doc_stride,
                     return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
                     return_token_type_ids=uses_token_type_ids(tokenizer))


def _model_inputs(encoded, index: int, tokenizer) -> dict[str, list[int]]:
    inputs = {"input_ids": encoded["input_ids"][index]}
    if uses_token_type_ids(tokenizer):
        inputs["token_type_ids"] = encoded["token_type_ids"][index]
    return inputs


def answer_token_span(offsets: Sequence[tuple[int, int]], sequence_ids: list[int | None],
                      start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token positions of the answer characters [start_char, end_char) in one window, or None if not inside."""
    if 1 not in sequence_ids:
        return None
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return None
    # Last context token starting at or before the answer; first context token ending at or after it.
    # (run_qa.py walks the same way but can run past the context into [SEP] when the answer ends a window.)
    start = max(t for t in range(first, last + 1) if offsets[t][0] <= start_char)
    end = min(t for t in range(first, last + 1) if offsets[t][1] >= end_char)
    return start, end


def best_span_in_window(start_logits: np.ndarray, end_logits: np.ndarray, allowed: np.ndarray,
                        max_answer_length: int = MAX_ANSWER_TOKENS) -> tuple[int, int, float] | None:
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


def qa_loss(logits: torch.Tensor, start_positions: torch.Tensor, end_positions: torch.Tensor,
            attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """HF's QA loss: mean of start and end cross-entropy; positions outside the sequence are ignored.

    With ``attention_mask``, padded positions are left out of the softmax (HF's head keeps them in). Their logits
    depend on how a batch happens to be padded, and on the path: from cached bottom states padded positions start
    from zeros, from token ids from pad-token embeddings; masked, the loss is the same either way and equals that
    of the unpadded windows."""
    if attention_mask is not None:
        logits = logits.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(logits.dtype).min)
    ignored = logits.shape[1]
    start = F.cross_entropy(logits[..., 0], start_positions.clamp(0, ignored), ignore_index=ignored)
    end = F.cross_entropy(logits[..., 1], end_positions.clamp(0, ignored), ignore_index=ignored)
    return (start + end) / 2


class ExtractiveQA(TaskFamily):
    name = "qa"
    extracts_spans = True

    def train_features(self, examples, tokenizer, *, max_length, doc_stride):
        for example in examples:
            require_fields(example, ("id", "question", "context", "answers"), "QA")
        encoded = tokenize_windows(examples, tokenizer, max_length, doc_stride)
        features = []
        for i, offsets in enumerate(encoded["offset_mapping"]):
            example = examples[encoded["overflow_to_sample_mapping"][i]]
            feature = _model_inputs(encoded, i, tokenizer)
            ids = feature["input_ids"]
            cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
            answers, span = example["answers"], None
            if answers["answer_start"]:
                start_char = answers["answer_start"][0]
                span = answer_token_span(offsets, encoded.sequence_ids(i), start_char,
                                         start_char + len(answers["text"][0]))
            feature["start_positions"], feature["end_positions"] = span if span is not None else (cls, cls)
            features.append(feature)
        return features

    def eval_features(self, examples, tokenizer, *, max_length, doc_stride):
        for example in examples:
            require_fields(example, ("id", "question", "context"), "QA")
        encoded = tokenize_windows(examples, tokenizer, max_length, doc_stride)
        cls_id = tokenizer.cls_token_id
        features = []
        for i, offsets in enumerate(encoded["offset_mapping"]):
            feature = _model_inputs(encoded, i, tokenizer)
            # Answer positions the pipeline allows: context tokens, plus CLS (which it keeps in the softmax).
            feature["allowed"] = [seq == 1 or token == cls_id
                                  for seq, token in zip(encoded.sequence_ids(i), feature["input_ids"])]
            feature["offsets"] = [tuple(o) for o in offsets]
            feature["example_index"] = encoded["overflow_to_sample_mapping"][i]
            features.append(feature)
        return features

    def head(self, hidden_size, num_labels, dropout):
        return nn.Linear(hidden_size, 2)  # same shape and role as HF's `qa_outputs`

    def logits(self, head, hidden, batch):
        return head(hidden)  # (B, L, 2): start, end

    def loss(self, logits, batch):
        return qa_loss(logits, batch["start_positions"], batch["end_positions"], batch["attention_mask"])

    def output_rows(self, logits, batch):
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        rows = logits.float().cpu().numpy()
        return [rows[j, :n] for j, n in enumerate(lengths)]

    def decode(self, examples, features, outputs):
        best: dict[int, tuple[float, int, tuple[int, int, float]]] = {}
        for i, (feature, logits) in enumerate(zip(features, outputs, strict=True)):
            found = best_span_in_window(logits[:, 0], logits[:, 1], np.asarray(feature["allowed"]))
            k = feature["example_index"]
            if found is not None and (k not in best or found[2] > best[k][0]):  # strict: earlier window wins ties
                best[k] = (found[2], i, found)
        predictions: dict[str, Any] = {}
        for k, example in enumerate(examples):
            if k not in best:
                predictions[example["id"]] = ""
                continue
            _, i, (s, e, _) = best[k]
            offsets = features[i]["offsets"]
            predictions[example["id"]] = example["context"][offsets[s][0]: offsets[e][1]]
        return predictions

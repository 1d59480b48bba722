"""Extractive QA (SQuAD-style): tokenise into overlapping windows, map answers to tokens, decode spans back.

Follows transformers' `examples/pytorch/question-answering` (run_qa.py / utils_qa.py): question first, context
second, `truncation="only_second"` with `doc_stride` overlap; a window that does not contain the answer points
at the CLS token. Features are plain dicts of Python lists (no padding: the training loop pads per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FAMILY = "qa"


def _check_examples(examples: Sequence[dict], need_answers: bool) -> None:
    keys = ("id", "question", "context") + (("answers",) if need_answers else ())
    for example in examples:
        missing = [k for k in keys if k not in example]
        if missing:
            raise ValueError(f"QA example {example.get('id', '?')!r} lacks {missing}; see HELPERS.md 'QA example'")


def tokenize_windows(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int):
    """One fast-tokenizer call for all examples; returns a BatchEncoding with one row per window."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("QA featurisation needs a fast tokenizer (offset mappings); load it with use_fast=True")
    if tokenizer.padding_side != "right":
        raise ValueError("QA featurisation puts the question first and needs tokenizer.padding_side == 'right'")
    # Leading whitespace in questions wastes tokens and can shift truncation (run_qa.py strips it too).
    questions = [example["question"].lstrip() for example in examples]
    contexts = [example["context"] for example in examples]
    return tokenizer(
        questions, contexts, truncation="only_second", max_length=max_length, stride=doc_stride,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
        return_token_type_ids=uses_token_type_ids(tokenizer),
    )


def uses_token_type_ids(tokenizer) -> bool:
    """Segment ids only when the tokenizer declares them (BERT's does; XLM-R's and transformers 5's generic fast
    tokenizer don't). Forcing them is unsafe: for overflowing windows `tokenizers` 0.23 marks the context as type 1
    even when the template says 0, so later windows would see embeddings the first window never does."""
    return "token_type_ids" in tokenizer.model_input_names


def _model_inputs(encoded, index: int, tokenizer) -> dict[str, list[int]]:
    inputs = {"input_ids": encoded["input_ids"][index]}
    if uses_token_type_ids(tokenizer):
        inputs["token_type_ids"] = encoded["token_type_ids"][index]
    return inputs


def _cls_index(input_ids: list[int], tokenizer) -> int:
    cls_id = tokenizer.cls_token_id
    return input_ids.index(cls_id) if cls_id is not None and cls_id in input_ids else 0


def _context_token_range(sequence_ids: list[int | None]) -> tuple[int, int]:
    first = sequence_ids.index(1)
    last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    return first, last


def answer_token_span(offsets: Sequence[tuple[int, int]], sequence_ids: list[int | None],
                      start_char: int, end_char: int) -> tuple[int, int] | None:
    """Token positions of the answer characters [start_char, end_char) in one window, or None if not inside."""
    if 1 not in sequence_ids:
        return None
    first, last = _context_token_range(sequence_ids)
    if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
        return None
    # Last context token starting at or before the answer; first context token ending at or after it.
    # (run_qa.py walks the same way but can run past the context into [SEP] when the answer ends a window.)
    start = max(t for t in range(first, last + 1) if offsets[t][0] <= start_char)
    end = min(t for t in range(first, last + 1) if offsets[t][1] >= end_char)
    return start, end


def prepare_train_features(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int) -> list[dict]:
    """Windows with `start_positions`/`end_positions` (the first gold answer; CLS when outside the window)."""
    _check_examples(examples, need_answers=True)
    encoded = tokenize_windows(examples, tokenizer, max_length, doc_stride)
    features = []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        example = examples[encoded["overflow_to_sample_mapping"][i]]
        feature = _model_inputs(encoded, i, tokenizer)
        cls = _cls_index(feature["input_ids"], tokenizer)
        answers = example["answers"]
        span = None
        if answers["answer_start"]:
            start_char = answers["answer_start"][0]
            span = answer_token_span(offsets, encoded.sequence_ids(i), start_char, start_char + len(answers["text"][0]))
        feature["start_positions"], feature["end_positions"] = span if span is not None else (cls, cls)
        features.append(feature)
    return features


def prepare_eval_features(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int) -> list[dict]:
    """Windows with `example_id` and `offset_mapping` (None for every non-context token)."""
    _check_examples(examples, need_answers=False)
    encoded = tokenize_windows(examples, tokenizer, max_length, doc_stride)
    features = []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        example = examples[encoded["overflow_to_sample_mapping"][i]]
        feature = _model_inputs(encoded, i, tokenizer)
        feature["example_id"] = example["id"]
        feature["offset_mapping"] = [
            tuple(offset) if seq == 1 else None for offset, seq in zip(offsets, encoded.sequence_ids(i))
        ]
        features.append(feature)
    return features


def _best_span_in_feature(start_logits: np.ndarray, end_logits: np.ndarray, offsets: list, n_best: int,
                          max_answer_length: int) -> tuple[float, int, int] | None:
    """run_qa.py's n-best search: score = start logit + end logit over valid context spans."""
    best = None
    start_candidates = np.argsort(start_logits)[-1: -n_best - 1: -1].tolist()
    end_candidates = np.argsort(end_logits)[-1: -n_best - 1: -1].tolist()
    for s in start_candidates:
        for e in end_candidates:
            if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                continue
            if e < s or e - s + 1 > max_answer_length:
                continue
            score = float(start_logits[s] + end_logits[e])
            if best is None or score > best[0]:
                best = (score, offsets[s][0], offsets[e][1])
    return best


def postprocess_predictions(examples: Sequence[dict], features: Sequence[dict], start_logits: Any,
                            end_logits: Any, n_best: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """Best valid span over all windows of each example, sliced from the ORIGINAL context ("" if none).

    `start_logits[i]`/`end_logits[i]` belong to `features[i]` (rows may be padded beyond the feature's length).
    """
    if len(features) != len(start_logits) or len(features) != len(end_logits):
        raise ValueError(f"got {len(features)} features but {len(start_logits)}/{len(end_logits)} logit rows")
    by_example: dict[str, list[int]] = {}
    for i, feature in enumerate(features):
        by_example.setdefault(feature["example_id"], []).append(i)
    predictions = {}
    for example in examples:
        best = None
        for i in by_example.get(example["id"], []):
            offsets = features[i]["offset_mapping"]
            n = len(offsets)
            candidate = _best_span_in_feature(np.asarray(start_logits[i])[:n], np.asarray(end_logits[i])[:n],
                                              offsets, n_best, max_answer_length)
            if candidate is not None and (best is None or candidate[0] > best[0]):
                best = candidate
        predictions[example["id"]] = example["context"][best[1]: best[2]] if best is not None else ""
    return predictions

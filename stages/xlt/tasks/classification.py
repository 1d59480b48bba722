"""Sentence(-pair) classification: `{"id", "lang", "text_a", "text_b" (may be null), "label": int}`.

One tokenizer call per kind (single sentences, pairs); features are unpadded dicts of Python lists.
"""

from __future__ import annotations

from collections.abc import Sequence

from .qa import uses_token_type_ids

FAMILY = "classification"


def _check(example: dict) -> None:
    missing = [k for k in ("id", "text_a") if k not in example]
    if missing:
        raise ValueError(f"classification example {example.get('id', '?')!r} lacks {missing}; see HELPERS.md")


def prepare_features(examples: Sequence[dict], tokenizer, max_length: int, *, with_labels: bool = True) -> list[dict]:
    """`input_ids` (+ `token_type_ids`), `labels` (int) and `example_id`, in input order."""
    for example in examples:
        _check(example)
        if with_labels and not isinstance(example.get("label"), int):
            raise ValueError(f"classification example {example['id']!r} needs an int 'label'")
    pairs = [i for i, e in enumerate(examples) if e.get("text_b") is not None]
    singles = [i for i, e in enumerate(examples) if e.get("text_b") is None]
    features: list[dict | None] = [None] * len(examples)
    for indices, is_pair in ((pairs, True), (singles, False)):
        if not indices:
            continue
        texts_a = [examples[i]["text_a"] for i in indices]
        texts_b = [examples[i]["text_b"] for i in indices] if is_pair else None
        encoded = tokenizer(texts_a, texts_b, truncation=True, max_length=max_length, padding=False,
                            return_token_type_ids=uses_token_type_ids(tokenizer))
        for row, i in enumerate(indices):
            feature = {"input_ids": encoded["input_ids"][row], "example_id": examples[i]["id"]}
            if uses_token_type_ids(tokenizer):
                feature["token_type_ids"] = encoded["token_type_ids"][row]
            if with_labels:
                feature["labels"] = examples[i]["label"]
            features[i] = feature
    return features  # type: ignore[return-value]


def prepare_train_features(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int = 0) -> list[dict]:
    """Same signature as the QA featuriser so the training loop can treat families alike (doc_stride unused)."""
    return prepare_features(examples, tokenizer, max_length, with_labels=True)

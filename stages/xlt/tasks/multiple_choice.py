"""Multiple choice: `{"id", "lang", "context", "choices": [str, ...], "label": int}`.

Each choice is encoded as the pair (context, choice); a feature holds one token list per choice.
"""

from __future__ import annotations

from collections.abc import Sequence

from .qa import uses_token_type_ids

FAMILY = "multiple_choice"


def _check(example: dict, with_labels: bool) -> None:
    missing = [k for k in ("id", "context", "choices") if k not in example]
    if missing:
        raise ValueError(f"multiple-choice example {example.get('id', '?')!r} lacks {missing}; see HELPERS.md")
    if not example["choices"]:
        raise ValueError(f"multiple-choice example {example['id']!r} has no choices")
    if with_labels and not (isinstance(example.get("label"), int) and 0 <= example["label"] < len(example["choices"])):
        raise ValueError(f"multiple-choice example {example['id']!r} needs an int 'label' indexing its choices")


def prepare_features(examples: Sequence[dict], tokenizer, max_length: int, *, with_labels: bool = True) -> list[dict]:
    """`input_ids` (+ `token_type_ids`) as lists of per-choice token lists, `labels`, `example_id`."""
    for example in examples:
        _check(example, with_labels)
    contexts = [e["context"] for e in examples for _ in e["choices"]]
    choices = [c for e in examples for c in e["choices"]]
    # Truncate the context, never the (short) choice that distinguishes the options.
    encoded = tokenizer(contexts, choices, truncation="only_first", max_length=max_length, padding=False,
                            return_token_type_ids=uses_token_type_ids(tokenizer))
    with_types = uses_token_type_ids(tokenizer)
    features, row = [], 0
    for example in examples:
        rows = range(row, row + len(example["choices"]))
        feature = {"input_ids": [encoded["input_ids"][r] for r in rows], "example_id": example["id"]}
        if with_types:
            feature["token_type_ids"] = [encoded["token_type_ids"][r] for r in rows]
        if with_labels:
            feature["labels"] = example["label"]
        features.append(feature)
        row += len(example["choices"])
    return features


def prepare_train_features(examples: Sequence[dict], tokenizer, max_length: int, doc_stride: int = 0) -> list[dict]:
    """Same signature as the QA featuriser so the training loop can treat families alike (doc_stride unused)."""
    return prepare_features(examples, tokenizer, max_length, with_labels=True)

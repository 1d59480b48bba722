"""Sentence(-pair) classification (XNLI, PAWS-X, the derived QNLI task): ``{"id", "lang", "text_a", "text_b" (may be
null), "label": int}``. The head is RoBERTa's (dense + tanh on the first token); the loss cross-entropy; the
prediction the arg-max label; the metric accuracy."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .family import SingleWindowFamily, require_fields, require_labels, uses_token_type_ids


class ClassificationHead(nn.Module):
    """RoBERTa's head: dropout, dense + tanh on the first token, dropout, projection."""

    def __init__(self, hidden: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden, num_labels)

    def forward(self, first_token):
        x = self.dropout(first_token)
        x = self.dropout(self.dense(x).tanh())
        return self.out_proj(x)


def _encode(examples, tokenizer, max_length: int, with_labels: bool) -> list[dict]:
    """One tokenizer call per kind (pairs, single sentences); features in input order."""
    for example in examples:
        require_fields(example, ("id", "text_a"), "classification")
        if with_labels and not isinstance(example.get("label"), int):
            raise ValueError(f"classification example {example['id']!r} needs an int 'label'")
    features: list[dict | None] = [None] * len(examples)
    with_types = uses_token_type_ids(tokenizer)
    for is_pair in (True, False):
        indices = [i for i, e in enumerate(examples) if (e.get("text_b") is not None) == is_pair]
        if not indices:
            continue
        texts_b = [examples[i]["text_b"] for i in indices] if is_pair else None
        encoded = tokenizer([examples[i]["text_a"] for i in indices], texts_b, truncation=True,
                            max_length=max_length, padding=False, return_token_type_ids=with_types)
        for row, i in enumerate(indices):
            feature = {"input_ids": encoded["input_ids"][row], "example_index": i}
            if with_types:
                feature["token_type_ids"] = encoded["token_type_ids"][row]
            if with_labels:
                feature["labels"] = examples[i]["label"]
            features[i] = feature
    return features  # type: ignore[return-value]


class Classification(SingleWindowFamily):
    name = "classification"
    class_probabilities = True

    encode = staticmethod(_encode)

    def head(self, hidden_size, num_labels, dropout):
        require_labels(self.name, num_labels)
        return ClassificationHead(hidden_size, num_labels, dropout)

    def logits(self, head, hidden, batch):
        return head(hidden[:, 0])

    def loss(self, logits, batch):
        return F.cross_entropy(logits, batch["labels"])

    def decode(self, examples, features, outputs):
        return {examples[f["example_index"]]["id"]: int(out.argmax()) for f, out in zip(features, outputs, strict=True)}

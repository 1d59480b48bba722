"""Multiple choice (the derived sentence-choice task; HellaSwag, CommonsenseQA, CosmosQA in the paper profile):
``{"id", "lang", "context", "choices": [str, ...], "label": int}``. Each choice is encoded as the pair (context,
choice); a linear layer scores each choice's first token (``*ForMultipleChoice``); the prediction is the best choice."""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from .family import SingleWindowFamily, require_fields, uses_token_type_ids


class ChoiceHead(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, 1)

    def forward(self, first_token):
        return self.classifier(self.dropout(first_token))


def _encode(examples, tokenizer, max_length: int, with_labels: bool) -> list[dict]:
    for example in examples:
        require_fields(example, ("id", "context", "choices"), "multiple-choice")
        if not example["choices"]:
            raise ValueError(f"multiple-choice example {example['id']!r} has no choices")
        if with_labels and not (isinstance(example.get("label"), int) and 0 <= example["label"] < len(example["choices"])):
            raise ValueError(f"multiple-choice example {example['id']!r} needs an int 'label' indexing its choices")
    contexts = [e["context"] for e in examples for _ in e["choices"]]
    choices = [c for e in examples for c in e["choices"]]
    with_types = uses_token_type_ids(tokenizer)
    # Truncate the context, never the (short) choice that distinguishes the options.
    encoded = tokenizer(contexts, choices, truncation="only_first", max_length=max_length, padding=False,
                        return_token_type_ids=with_types)
    features, row = [], 0
    for i, example in enumerate(examples):
        rows = range(row, row + len(example["choices"]))
        feature = {"input_ids": [encoded["input_ids"][r] for r in rows], "example_index": i}
        if with_types:
            feature["token_type_ids"] = [encoded["token_type_ids"][r] for r in rows]
        if with_labels:
            feature["labels"] = example["label"]
        features.append(feature)
        row += len(example["choices"])
    return features


class MultipleChoice(SingleWindowFamily):
    name = "multiple_choice"

    encode = staticmethod(_encode)

    def head(self, hidden_size, num_labels, dropout):
        return ChoiceHead(hidden_size, dropout)

    def logits(self, head, hidden, batch):
        return head(hidden[:, 0]).view(-1, int(batch["n_choices"]))

    def loss(self, logits, batch):
        return F.cross_entropy(logits, batch["labels"])

    def decode(self, examples, features, outputs):
        return {examples[f["example_index"]]["id"]: int(out.argmax()) for f, out in zip(features, outputs, strict=True)}

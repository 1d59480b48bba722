"""The model side of a task family: what differs between extractive QA, sentence(-pair) classification and
multiple choice in featurisation, head, logits, loss and decoding (padding is shared: ``collate``). The model, the
training loop and inference are written once against this interface. The rest of a family's protocol (its metric,
clusters, scoring, evaluation and attack) is ``protocol.py``, which also says which ``TaskFamily`` a family uses.
Retrieval has no head and no training: it pools hidden states (``retrieval.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class TaskFamily:
    name: ClassVar[str]
    trainable: ClassVar[bool] = True
    extracts_spans: ClassVar[bool] = False  # its outputs are start/end logits over a context (``predict_spans``)
    class_probabilities: ClassVar[bool] = False  # its outputs can be read as one probability vector per example

    def train_features(self, examples: Sequence[dict], tokenizer, *, max_length: int, doc_stride: int) -> list[dict]:
        """Unpadded features with labels (``input_ids`` plus the family's label keys)."""
        raise NotImplementedError

    def eval_features(self, examples: Sequence[dict], tokenizer, *, max_length: int, doc_stride: int) -> list[dict]:
        """Unpadded features with ``example_index`` and whatever ``decode`` needs."""
        raise NotImplementedError

    def head(self, hidden_size: int, num_labels: int, dropout: float) -> nn.Module:
        raise NotImplementedError

    def logits(self, head: nn.Module, hidden: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits from the last layer's hidden states (B * rows, L, H) of a collated batch."""
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, examples: Sequence[dict], features: Sequence[dict], outputs: Sequence[np.ndarray]) -> dict[str, Any]:
        """{example id: prediction} from each feature's logits (``outputs[i]`` belongs to ``features[i]``)."""
        raise NotImplementedError

    def output_rows(self, logits: torch.Tensor, batch: dict[str, torch.Tensor]) -> list[np.ndarray]:
        """One numpy array per feature of the batch (what ``decode`` receives)."""
        return list(logits.float().cpu().numpy())


class SingleWindowFamily(TaskFamily):
    """A family whose example is one window (no sliding over long inputs), so training and evaluation features come
    from one encoder function and differ only by the labels."""

    @staticmethod
    def encode(examples: Sequence[dict], tokenizer, max_length: int, with_labels: bool) -> list[dict]:
        raise NotImplementedError

    def train_features(self, examples, tokenizer, *, max_length, doc_stride):
        return self.encode(examples, tokenizer, max_length, with_labels=True)

    def eval_features(self, examples, tokenizer, *, max_length, doc_stride):
        return self.encode(examples, tokenizer, max_length, with_labels=False)


def require_labels(family: str, num_labels: int) -> None:
    if num_labels < 2:
        raise ValueError(f"{family} needs num_labels >= 2, got {num_labels}")


def uses_token_type_ids(tokenizer) -> bool:
    """Segment ids only when the tokenizer declares them (BERT's does; XLM-R's and transformers 5's generic fast
    tokenizer don't). Forcing them is unsafe: for overflowing windows `tokenizers` 0.23 marks the context as type 1
    even when the template says 0, so later windows would see embeddings the first window never does."""
    return "token_type_ids" in tokenizer.model_input_names


def require_fields(example: dict, fields: Sequence[str], family: str) -> None:
    missing = [k for k in fields if k not in example]
    if missing:
        raise ValueError(f"{family} example {example.get('id', '?')!r} lacks {missing}; it needs {list(fields)}")


def model_family(name: str) -> TaskFamily:
    """The model side of a trainable family (``protocol.PROTOCOLS`` names the families)."""
    from .classification import Classification
    from .multiple_choice import MultipleChoice
    from .qa import ExtractiveQA
    from .tagging import TokenTagging

    families = {cls.name: cls for cls in (ExtractiveQA, Classification, MultipleChoice, TokenTagging)}
    if name not in families:
        raise ValueError(f"task family {name!r} has no head and is not trained; trainable families are "
                         f"{sorted(families)}")
    if name not in _INSTANCES:
        _INSTANCES[name] = families[name]()
    return _INSTANCES[name]


_INSTANCES: dict[str, TaskFamily] = {}

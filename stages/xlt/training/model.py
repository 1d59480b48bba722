"""One shared pretrained encoder with one small head per task (QA, classification, multiple choice).

Heads and losses mirror transformers' `*ForQuestionAnswering` / RoBERTa-style `*ForSequenceClassification` /
`*ForMultipleChoice`, so a QA-trained model can be exported as a standard `AutoModelForQuestionAnswering` folder.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping

import torch
from torch import nn
from torch.nn import functional as F

from ..io import atomic_path

FAMILIES = ("qa", "classification", "multiple_choice")


class ClassificationHead(nn.Module):
    """RoBERTa's head: dropout, dense + tanh on the first token, dropout, projection."""

    def __init__(self, hidden: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(hidden, num_labels)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.dense(self.dropout(first_token)))
        return self.out_proj(self.dropout(x))


class ChoiceHead(nn.Module):
    """`*ForMultipleChoice`: dropout + Linear(H, 1) on each choice's first token."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, 1)

    def forward(self, first_token: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(first_token))


def load_encoder(encoder_dir: str | os.PathLike) -> nn.Module:
    from transformers import AutoModel

    try:  # Task heads read the first token directly; an untrained pooler would only add parameters.
        return AutoModel.from_pretrained(encoder_dir, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_pretrained(encoder_dir)


def encoder_layers(encoder: nn.Module) -> nn.ModuleList:
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"cannot find the transformer layers of {type(encoder).__name__} (expected .encoder.layer)")
    return layers


class MultiTaskModel(nn.Module):
    """`task_heads`: {task name: (family, num_labels)}; num_labels is ignored for qa and multiple_choice."""

    def __init__(self, encoder_dir: str | os.PathLike, task_heads: Mapping[str, tuple[str, int]], *,
                 freeze_embeddings: bool = False, freeze_layers: int = 0, seed: int = 0) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        if not task_heads:
            raise ValueError("MultiTaskModel needs at least one task head, e.g. {'squad': ('qa', 2)}")
        self.encoder = load_encoder(encoder_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
        self.input_names = tuple(k for k in ("input_ids", "attention_mask", "token_type_ids")
                                 if k in inspect.signature(self.encoder.forward).parameters)
        self.task_families = {task: family for task, (family, _) in task_heads.items()}
        self.heads = nn.ModuleDict({task: self._build_head(task, family, n)
                                    for task, (family, n) in task_heads.items()})
        self._init_heads(seed)
        self._freeze(freeze_embeddings, freeze_layers)

    def _build_head(self, task: str, family: str, num_labels: int) -> nn.Module:
        config = self.encoder.config
        dropout = getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob
        if family == "qa":
            return nn.Linear(config.hidden_size, 2)  # same shape and role as HF's `qa_outputs`
        if family == "classification":
            if num_labels < 1:
                raise ValueError(f"task {task!r}: classification needs num_labels >= 1, got {num_labels}")
            return ClassificationHead(config.hidden_size, num_labels, dropout)
        if family == "multiple_choice":
            return ChoiceHead(config.hidden_size, dropout)
        raise ValueError(f"task {task!r}: unknown family {family!r}; use one of {FAMILIES}")

    def _init_heads(self, seed: int) -> None:
        # HF's _init_weights (normal(0, initializer_range), zero bias), from a private generator so building the
        # model neither depends on nor disturbs the global RNG.
        generator = torch.Generator().manual_seed(seed)
        std = getattr(self.encoder.config, "initializer_range", 0.02)
        for task in sorted(self.heads):
            for module in self.heads[task].modules():
                if isinstance(module, nn.Linear):
                    with torch.no_grad():
                        nn.init.normal_(module.weight, 0.0, std, generator=generator)
                        module.bias.zero_()

    def _freeze(self, freeze_embeddings: bool, freeze_layers: int) -> None:
        if freeze_embeddings:  # the word matrix dominates e5-small's parameters and the optimiser's cost
            embeddings = getattr(self.encoder, "embeddings", None) or self.encoder.get_input_embeddings()
            embeddings.requires_grad_(False)
        layers = encoder_layers(self.encoder)
        if not 0 <= freeze_layers <= len(layers):
            raise ValueError(f"freeze_layers={freeze_layers} but the encoder has {len(layers)} layers")
        for layer in layers[:freeze_layers]:
            layer.requires_grad_(False)

    def family(self, task: str) -> str:
        if task not in self.task_families:
            raise ValueError(f"unknown task {task!r}; this model has heads for {sorted(self.task_families)}")
        return self.task_families[task]

    def _encode(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        inputs = {k: batch[k] for k in self.input_names if k in batch}
        return self.encoder(**inputs).last_hidden_state

    def forward(self, task: str, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Returns (loss or None when the batch has no labels, logits).

        qa: logits (B, L, 2) [start, end]; classification: (B, num_labels); multiple choice: (B, C) with
        `input_ids` of shape (B, C, L).
        """
        family = self.family(task)
        head = self.heads[task]
        if family == "multiple_choice":
            n_choices = batch["input_ids"].shape[1]
            flat = {k: v.flatten(0, 1) for k, v in batch.items() if v.dim() == 3}
            logits = head(self._encode(flat)[:, 0]).view(-1, n_choices)
            loss = F.cross_entropy(logits, batch["labels"]) if "labels" in batch else None
            return loss, logits
        hidden = self._encode(batch)
        if family == "qa":
            logits = head(hidden)
            if "start_positions" not in batch:
                return None, logits
            return qa_loss(logits, batch["start_positions"], batch["end_positions"]), logits
        logits = head(hidden[:, 0])
        if "labels" not in batch:
            return None, logits
        if logits.shape[-1] == 1:  # regression, as HF does for num_labels == 1
            return F.mse_loss(logits.squeeze(-1), batch["labels"].float()), logits
        return F.cross_entropy(logits, batch["labels"]), logits

    # ---- export -------------------------------------------------------------------------------------------
    def save_encoder(self, out_dir: str | os.PathLike) -> None:
        """A standard model folder (config + safetensors + tokenizer); task heads are dropped, as in X-STILTs."""
        with atomic_path(out_dir, is_dir=True) as tmp:
            self.encoder.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)

    def to_question_answering_model(self, task: str):
        """A transformers `*ForQuestionAnswering` with this encoder and `task`'s QA head (weights copied)."""
        from transformers import AutoModelForQuestionAnswering

        if self.family(task) != "qa":
            raise ValueError(f"task {task!r} is {self.family(task)!r}, not a qa task")
        qa_model = AutoModelForQuestionAnswering.from_config(self.encoder.config)
        qa_model.base_model.load_state_dict(self.encoder.state_dict())
        qa_model.qa_outputs.load_state_dict(self.heads[task].state_dict())
        return qa_model.eval()

    def save_question_answering(self, task: str, out_dir: str | os.PathLike) -> None:
        """A folder `AutoModelForQuestionAnswering.from_pretrained` (and `xlt.inference.predict_qa`) can load."""
        qa_model = self.to_question_answering_model(task)
        with atomic_path(out_dir, is_dir=True) as tmp:
            qa_model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)


def qa_loss(logits: torch.Tensor, start_positions: torch.Tensor, end_positions: torch.Tensor) -> torch.Tensor:
    """HF's QA loss: mean of start and end cross-entropy; positions outside the sequence are ignored."""
    ignored = logits.shape[1]
    start = F.cross_entropy(logits[..., 0], start_positions.clamp(0, ignored), ignore_index=ignored)
    end = F.cross_entropy(logits[..., 1], end_positions.clamp(0, ignored), ignore_index=ignored)
    return (start + end) / 2

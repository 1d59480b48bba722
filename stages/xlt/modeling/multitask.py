"""One pretrained encoder with one small head per task, trained in its top layers only, saved as a delta.

* Freezing: the embeddings and the bottom ``freeze_layers`` layers can be frozen; frozen parts are never saved.
* Cached bottoms: a batch may carry ``hidden`` (the base encoder's states after ``prefix_depth`` layers, see
  ``prefix.py``) instead of token ids; the model then runs layers [prefix_depth, n) only. That is exact when the
  model's layers below ``prefix_depth`` (and its embeddings) are the base encoder's, which ``check_prefix`` verifies by
  fingerprint. Dropout inside the cached layers is then off (they ran once, in eval mode).
* Deltas: ``save`` writes only what differs from the base encoder (the layers from ``delta_from`` up, the embeddings
  if they were trained, the heads) plus the base's fingerprint below that layer; ``load`` rebuilds the model from the
  base folder and refuses a delta made on another base. A delta of e5-small's top 4 layers is 28 MB where the whole
  model is 470 MB, and the study saves one per arm, seed and target.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..io import atomic_path, read_json, write_json
from ..tasks.collate import LABEL_KEYS
from ..tasks.family import model_family
from . import layers
from .delta_files import DELTA_INFO, DELTA_WEIGHTS


@functools.lru_cache(maxsize=2)
def _pristine_base(encoder_dir: str):
    from transformers import AutoModel, AutoTokenizer

    # No pooler: heads read the first token's last hidden state, and e5 ships no pooler weights.
    encoder = AutoModel.from_pretrained(encoder_dir, add_pooling_layer=False)
    return encoder, AutoTokenizer.from_pretrained(encoder_dir)


def load_base(encoder_dir: str | os.PathLike, *, share_depth: int = 0, share_embeddings: bool = False):
    """The base encoder and its tokenizer. Read from disk once per process; every call returns its own copy, except
    that the frozen bottom (embeddings and layers below ``share_depth``, when the caller freezes them) is shared with
    the process's other models: a stage that builds several models (evaluate: one per fine-tuning task) then neither
    re-reads 470 MB nor re-hashes the embeddings. Nothing writes a shared tensor: training updates trainable
    parameters only, and a delta overwrites layers at or above its ``delta_from`` (>= ``share_depth``)."""
    base, tokenizer = _pristine_base(str(Path(encoder_dir).resolve()))
    shared = layers.frozen_parameters(base, share_depth) if share_embeddings else {}
    return copy.deepcopy(base, {id(p): p for p in shared.values()}), tokenizer


class MultiTaskModel(nn.Module):
    """``task_heads``: {task name: (family, num_labels)} (num_labels is ignored by qa and multiple_choice)."""

    def __init__(self, encoder_dir: str | os.PathLike, task_heads: Mapping[str, tuple[str, int]], *,
                 freeze_embeddings: bool = False, freeze_layers: int = 0, seed: int = 0,
                 delta: str | os.PathLike | None = None) -> None:
        super().__init__()
        self._fingerprints: dict[int, tuple[list[torch.Tensor], list[int], str]] = {}
        self.encoder_dir = Path(encoder_dir)
        info = read_json(Path(delta) / DELTA_INFO) if delta is not None else None
        share_depth = min(freeze_layers, info["delta_from"]) if info else freeze_layers
        self.encoder, self.tokenizer = load_base(encoder_dir, share_depth=share_depth,
                                                 share_embeddings=freeze_embeddings
                                                 and not (info and info["embeddings"]))
        self.n_layers = layers.layer_count(self.encoder)
        if not 0 <= freeze_layers <= self.n_layers:
            raise ValueError(f"freeze_layers={freeze_layers}, but the encoder has {self.n_layers} layers")
        self.delta_from, self.embeddings_trained = self.n_layers, False  # nothing differs from the base yet
        self.loaded_heads: dict[str, torch.Tensor] = {}
        if delta is not None:
            self.loaded_heads = self._apply_delta(Path(delta))
        self.task_families = {task: family for task, (family, _) in task_heads.items()}
        config = self.encoder.config
        dropout = getattr(config, "classifier_dropout", None) or config.hidden_dropout_prob
        self.heads = nn.ModuleDict({task: model_family(family).head(config.hidden_size, n, dropout)
                                    for task, (family, n) in task_heads.items()})
        self._init_heads(seed)
        self.freeze_layers, self.freeze_embeddings = freeze_layers, freeze_embeddings
        self.encoder.embeddings.requires_grad_(not freeze_embeddings)
        for i, layer in enumerate(layers.transformer_layers(self.encoder)):
            layer.requires_grad_(i >= freeze_layers)
        # What a saved delta must hold: every layer any training phase touched.
        self.delta_from = min(self.delta_from, freeze_layers)
        self.embeddings_trained = self.embeddings_trained or not freeze_embeddings
        self.prefix_depth = 0

    # ---- heads and families ---------------------------------------------------------------------------------
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

    def family(self, task: str) -> str:
        if task not in self.task_families:
            raise ValueError(f"unknown task {task!r}; this model has heads for {sorted(self.task_families)}")
        return self.task_families[task]

    # ---- cached bottoms ---------------------------------------------------------------------------------------
    def base_fingerprint(self, depth: int) -> str:
        """``layers.fingerprint`` of this model's bottom, memoised: hashing e5-small's embeddings takes about a
        second, and every ``predict`` with cached states checks it. The memo holds while the same tensors keep
        their version counters (every in-place change, ``load_state_dict`` included, bumps them)."""
        params = list(layers.frozen_parameters(self.encoder, depth).values())
        versions = [p._version for p in params]
        memo = self._fingerprints.get(depth)
        if memo is not None and memo[1] == versions and len(memo[0]) == len(params) and all(
                a is b for a, b in zip(memo[0], params)):
            return memo[2]
        value = layers.fingerprint(self.encoder, depth)
        self._fingerprints[depth] = (params, versions, value)
        return value

    def use_prefix(self, depth: int, fingerprint: str) -> None:
        """Accept batches of cached states after ``depth`` layers of a base with ``fingerprint``."""
        # delta_from <= freeze_layers (see __init__): the cached layers are frozen now and were never trained.
        if depth > self.delta_from or (depth > 0 and self.embeddings_trained):
            raise ValueError(f"cached states after {depth} layers do not fit this model: its layers from "
                             f"{self.delta_from} (or its embeddings) are trained, not the base encoder's")
        if self.base_fingerprint(depth) != fingerprint:
            raise ValueError(f"cached states were computed by another base encoder than {self.encoder_dir} "
                             "(fingerprints differ): re-run the prefix stages")
        self.prefix_depth = depth

    # ---- forward ----------------------------------------------------------------------------------------------
    def hidden_states(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Last-layer states: from cached ``hidden`` (layers [prefix_depth, n)) or from token ids (all layers)."""
        if "hidden" in batch:
            if self.prefix_depth == 0:
                raise ValueError("batch holds cached states but the model was not told their depth (use_prefix)")
            return layers.run_layers(self.encoder, batch["hidden"], batch["attention_mask"], self.prefix_depth)
        return layers.full(self.encoder, batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))

    def forward(self, task: str, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(loss, or None when the batch has no labels; logits)."""
        family = model_family(self.family(task))
        logits = family.logits(self.heads[task], self.hidden_states(batch), batch)
        has_labels = any(key in batch for key in LABEL_KEYS)
        return (family.loss(logits, batch) if has_labels else None), logits

    # ---- deltas -----------------------------------------------------------------------------------------------
    def _delta_state(self, tasks: list[str]) -> dict[str, torch.Tensor]:
        keep = {f"encoder.layer.{i}." for i in range(self.delta_from, self.n_layers)}
        state = {f"encoder.{name}": p.detach() for name, p in self.encoder.named_parameters()
                 if any(name.startswith(k) for k in keep) or (self.embeddings_trained and name.startswith("embeddings."))}
        for task in tasks:
            state.update({f"heads.{task}.{name}": p.detach() for name, p in self.heads[task].named_parameters()})
        return {k: v.contiguous() for k, v in state.items()}

    def save(self, out_dir: str | os.PathLike, tasks: list[str] | None = None) -> None:
        """The delta against the base encoder and the heads of ``tasks`` (none: the encoder only, as X-STILTs keeps
        after intermediate training)."""
        tasks = tasks or []
        # The fingerprint of what the delta takes from the base: layers below delta_from, and the embeddings unless
        # the delta holds trained ones (whose fingerprint would be the trained weights', matching no base).
        info = {"base_fingerprint": layers.fingerprint(self.encoder, self.delta_from,
                                                       embeddings=not self.embeddings_trained),
                "delta_from": self.delta_from, "embeddings": self.embeddings_trained, "n_layers": self.n_layers,
                "heads": {t: [self.family(t), _num_labels(self.heads[t])] for t in tasks}}
        with atomic_path(out_dir, is_dir=True) as tmp:
            save_file(self._delta_state(tasks), str(tmp / DELTA_WEIGHTS))
            write_json(tmp / DELTA_INFO, info)

    def _apply_delta(self, folder: Path) -> dict[str, torch.Tensor]:
        """Load the encoder part of a saved delta; returns its heads' weights (by "<task>.<name>")."""
        info = read_json(folder / DELTA_INFO)
        fingerprint = info["base_fingerprint"]  # None: an untrained delta, valid on any base with as many layers
        if info["n_layers"] != self.n_layers or (fingerprint is not None and fingerprint != layers.fingerprint(
                self.encoder, info["delta_from"], embeddings=not info["embeddings"])):
            raise ValueError(f"{folder} was trained from another base encoder than {self.encoder_dir}; "
                             "re-run its training stage (dvc repro)")
        state = load_file(str(folder / DELTA_WEIGHTS))
        encoder_state = {k.removeprefix("encoder."): v for k, v in state.items() if k.startswith("encoder.")}
        missing = set(encoder_state) - {name for name, _ in self.encoder.named_parameters()}
        if missing:
            raise ValueError(f"{folder}: weights {sorted(missing)[:3]} do not belong to this encoder")
        self.encoder.load_state_dict(encoder_state, strict=False)
        self.delta_from = min(self.delta_from, info["delta_from"])
        self.embeddings_trained = self.embeddings_trained or info["embeddings"]
        return {k.removeprefix("heads."): v for k, v in state.items() if k.startswith("heads.")}


def _num_labels(head: nn.Module) -> int:
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1]
    return last.out_features


def load_trained(encoder_dir: str | os.PathLike, delta_dir: str | os.PathLike) -> MultiTaskModel:
    """A saved model (base + delta + its heads), in eval mode."""
    info = read_json(Path(delta_dir) / DELTA_INFO)
    model = MultiTaskModel(encoder_dir, {t: tuple(v) for t, v in info["heads"].items()},
                           freeze_embeddings=not info["embeddings"], freeze_layers=info["delta_from"],
                           delta=delta_dir)
    model.heads.load_state_dict({k: v for k, v in model.loaded_heads.items()}, strict=True)
    return model.eval()

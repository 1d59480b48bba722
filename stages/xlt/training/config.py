"""Training hyper-parameters: one record shared by intermediate and transfer training.

Values are validated once, where they enter the pipeline (``stages/params.py``); this is a plain record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# Fields that change how a run is observed, not what it computes: a resumed run may change them freely.
OBSERVATION_FIELDS = frozenset({"checkpoint_every", "log_every", "num_threads"})


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 3e-5
    batch_size: int = 16
    grad_accum_steps: int = 1
    max_steps: int = 100  # optimizer steps (a length in epochs is resolved into steps by the training stage)
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    max_seq_length: int = 384
    doc_stride: int = 128
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    sampler: str = "proportional"  # see sampler.KINDS
    temperature: float = 2.0
    sampler_cap: int | None = None
    # Length grouping: batches are formed inside shuffled windows of `batch_size * mega_batch_factor` features.
    mega_batch_factor: int = 50
    gradient_checkpointing: bool = False  # recompute activations in backward (GPU memory for XLM-R Large)
    bf16: bool = False  # bf16 autocast on a GPU that supports it; ignored on CPU
    checkpoint_every: int = 0  # 0 = never
    select_every: int | None = None  # evaluate on English dev sets every N steps and keep the best (None: off)
    select_patience: int = 30  # stop after this many evaluations without a gain
    log_every: int = 10
    seed: int = 0
    num_threads: int = 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def trajectory_dict(self) -> dict[str, Any]:
        """The fields that determine the trained weights (used to refuse resuming a different run)."""
        return {k: v for k, v in self.to_dict().items() if k not in OBSERVATION_FIELDS}

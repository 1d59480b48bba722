"""Training hyper-parameters: one typed, validated record shared by intermediate and transfer training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

SamplerKind = Literal["uniform", "proportional", "temperature"]

# Fields that change how a run is observed, not what it computes: a resumed run may change them freely.
OBSERVATION_FIELDS = frozenset({"checkpoint_every", "log_every"})


@dataclass(frozen=True)
class TrainConfig:
    learning_rate: float = 3e-5
    batch_size: int = 16
    grad_accum_steps: int = 1
    # Total optimisation steps. Set it (not `epochs`) when arms must train for equal steps.
    max_steps: int | None = None
    # Used only when max_steps is None: every task's data is seen `epochs` times in expectation.
    epochs: float = 1.0
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float | None = 1.0
    max_seq_length: int = 384
    doc_stride: int = 128
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    sampler: SamplerKind = "proportional"
    temperature: float = 2.0
    sampler_cap: int | None = None
    # Length grouping: batches are formed inside shuffled windows of `batch_size * mega_batch_factor` features.
    mega_batch_factor: int = 50
    checkpoint_every: int = 0  # 0 = never
    log_every: int = 10
    seed: int = 0
    num_threads: int = 2

    def __post_init__(self) -> None:
        positive = ("learning_rate", "batch_size", "grad_accum_steps", "max_seq_length", "mega_batch_factor",
                    "num_threads", "log_every")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_steps is not None and self.max_steps <= 0:
            raise ValueError(f"TrainConfig.max_steps must be > 0 or None, got {self.max_steps!r}")
        if self.max_steps is None and self.epochs <= 0:
            raise ValueError(f"TrainConfig.epochs must be > 0 when max_steps is None, got {self.epochs!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"TrainConfig.warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if not 0 <= self.doc_stride < self.max_seq_length:
            raise ValueError(f"TrainConfig.doc_stride must be in [0, max_seq_length), got {self.doc_stride!r}")
        if self.freeze_layers < 0 or self.checkpoint_every < 0:
            raise ValueError("TrainConfig.freeze_layers and checkpoint_every must be >= 0")
        if self.sampler not in ("uniform", "proportional", "temperature"):
            raise ValueError(f"TrainConfig.sampler must be uniform|proportional|temperature, got {self.sampler!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a params.yaml section; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys are {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def trajectory_dict(self) -> dict[str, Any]:
        """The fields that determine the trained weights (used to refuse resuming a different run)."""
        return {k: v for k, v in self.to_dict().items() if k not in OBSERVATION_FIELDS}

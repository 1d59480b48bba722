"""Checkpoint selection on English dev sets, as jiant does it: evaluate every N optimizer steps, keep the weights of
the best evaluation, stop after ``patience`` evaluations without a gain, and end with the best weights.

The score is the mean over tasks of each task's dev metric (QA: SQuAD F1 of the decoded answers; classification and
multiple choice: accuracy), jiant's equal-weight aggregate. Only trainable weights are kept (frozen ones never
change). The state travels with the resumable checkpoint, so a resumed run selects as an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from ..inference import predict
from ..scoring.metrics import score_prediction
from ..tasks.protocol import protocol


class Selection:
    """Best dev score so far, its step and weights, and the evaluations since it."""

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.best_score: float | None = None
        self.best_step = 0
        self.since_best = 0
        self.evaluations = 0
        self.best_weights: dict[str, torch.Tensor] = {}

    @property
    def exhausted(self) -> bool:
        return self.since_best >= self.patience

    def observe(self, step: int, score: float, model: torch.nn.Module) -> bool:
        """Record one evaluation; keep the weights when it is the best so far. Returns whether it was."""
        self.evaluations += 1
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_step, self.since_best = float(score), step, 0
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in model.named_parameters()
                                 if v.requires_grad}
            return True
        self.since_best += 1
        return False

    def restore(self, model: torch.nn.Module) -> None:
        if self.best_weights:
            model.load_state_dict(self.best_weights, strict=False)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return dict(self.best_weights), {"best_score": self.best_score, "best_step": self.best_step,
                                         "since_best": self.since_best, "evaluations": self.evaluations}

    def load(self, tensors: Mapping[str, torch.Tensor], info: Mapping) -> None:
        self.best_weights = dict(tensors)
        self.best_score, self.best_step = info["best_score"], int(info["best_step"])
        self.since_best, self.evaluations = int(info["since_best"]), int(info["evaluations"])

    def summary(self) -> dict:
        return {"best_step": self.best_step, "best_dev_score": self.best_score, "evaluations": self.evaluations,
                "stopped_early": self.exhausted}


def task_score(family: str, examples: Sequence[dict], predictions: Mapping[str, object]) -> float:
    """One task's dev metric in [0, 1], the family's primary metric (QA: F1 against the English gold answers)."""
    scorer = protocol(family).scorer
    return float(np.mean([score_prediction(scorer, predictions[ex["id"]], ex, "en") for ex in examples]))


def dev_scorer(model, dev_sets: Mapping[str, Sequence[dict]], windows: Mapping[str, tuple[int, int]],
               batch_size: int = 64) -> Callable[[], float]:
    """A zero-argument scorer for ``Selection``: the mean of every task's dev metric with ``model``'s heads.

    ``windows``: each task's (max_length, doc_stride), as in its training."""
    empty = sorted(t for t, rows in dev_sets.items() if not rows)
    if not dev_sets or empty:
        raise ValueError(f"checkpoint selection needs an English dev set for every task; empty: {empty or 'all'}")

    def score() -> float:
        scores = []
        for task, examples in sorted(dev_sets.items()):
            max_length, doc_stride = windows[task]
            predictions = predict(model, task, examples, max_length=max_length, doc_stride=doc_stride,
                                  batch_size=batch_size)
            scores.append(task_score(model.family(task), examples, predictions))
        return float(np.mean(scores))
    return score

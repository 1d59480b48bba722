"""Data-parallel training through `accelerate`: one process per device, each taking a disjoint shard of every
global batch, gradients averaged by DDP, so the optimiser sees the same global batch as a single process.

Launch (the paper profile on several GPUs):

    accelerate launch --multi_gpu --num_processes 4 -m stages.intermediate --arm multi --seed 0

A plain `python -m ...` run (WORLD_SIZE unset or 1, no GPU) never builds an `Accelerator`: the single-process CPU
path is byte-for-byte the loop it always was (its determinism and resume tests guard that).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch


def launched_world_size() -> int:
    """Processes in this job as set by `accelerate launch` / `torchrun` (1 when started plainly)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def wants_accelerator() -> bool:
    """Use accelerate when there is more than one process, or a GPU to place the model on."""
    return launched_world_size() > 1 or torch.cuda.is_available()


@dataclass
class Parallel:
    """What the loop needs to know about its place in the job. `accelerator` is None on the plain path."""

    accelerator: Any = None
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        return self.accelerator.device if self.accelerator is not None else torch.device("cpu")

    def wait(self) -> None:
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()


def setup(cpu: bool | None = None) -> Parallel:
    """A `Parallel` for this process; builds the Accelerator (and the process group) only when wanted."""
    if not wants_accelerator():
        return Parallel()
    from accelerate import Accelerator, DistributedDataParallelKwargs

    # Multi-task steps use one head at a time, so the other heads get no gradient in that step.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(cpu=bool(cpu) if cpu is not None else not torch.cuda.is_available(),
                              kwargs_handlers=[ddp])
    return Parallel(accelerator, accelerator.process_index, accelerator.num_processes)


def shard(batch: Sequence[dict], rank: int, world_size: int) -> tuple[list[dict], float]:
    """This rank's contiguous slice of a global batch (slices are disjoint and cover it) and its loss weight.

    DDP averages gradients over ranks; weighting each rank's mean loss by world * local / global turns that
    average into the mean over the global batch even when the batch does not split evenly. A rank left without
    features (a final batch smaller than the world) still runs one feature with weight 0, because every rank
    must join every gradient all-reduce.
    """
    size, extra = divmod(len(batch), world_size)
    start = rank * size + min(rank, extra)
    local = list(batch[start: start + size + (1 if rank < extra else 0)])
    if not local:
        return list(batch[:1]), 0.0
    return local, world_size * len(local) / len(batch)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}

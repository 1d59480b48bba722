"""Resumable training state: trainable weights (safetensors), optimiser/scheduler (tensor-only torch.save), RNG, step.

One checkpoint, `<checkpoint_dir>/last/`, replaced atomically: a crash mid-save leaves the previous one intact.
Nothing is unpickled: optimiser and scheduler states are loaded with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..io import atomic_path, read_json, write_json

LAST = "last"


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    plain = {"python": [version, list(state), gauss],
             "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}
    return {"torch": torch.get_rng_state()}, plain


def _set_rng_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["torch"])
    version, state, gauss = plain["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, pos, has_gauss, cached = plain["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def _trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Only what training changes: frozen weights are the base encoder's and would make every checkpoint 470 MB."""
    return {k: v.detach().contiguous() for k, v in model.named_parameters() if v.requires_grad}


def save_checkpoint(checkpoint_dir: str | os.PathLike, *, model: torch.nn.Module, optimizer, scheduler, step: int,
                    run_config: dict[str, Any], extra: tuple[dict[str, torch.Tensor], dict] | None = None) -> Path:
    """Write `<checkpoint_dir>/last` atomically; returns its path. ``extra``: tensors and plain state of something
    the run carries along (checkpoint selection's best weights), returned by ``load_extra``."""
    target = Path(checkpoint_dir) / LAST
    rng_tensors, rng_plain = _rng_state()
    with atomic_path(target, is_dir=True) as tmp:
        save_file(_trainable_state(model), tmp / "model.safetensors")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        save_file(rng_tensors, tmp / "rng.safetensors")
        state = {"step": step, "rng": rng_plain, "config": run_config}
        if extra is not None:
            tensors, plain = extra
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp / "extra.safetensors")
            state["extra"] = plain
        write_json(tmp / "state.json", state)
    return target


def load_checkpoint(checkpoint_dir: str | os.PathLike, *, model: torch.nn.Module, optimizer, scheduler,
                    run_config: dict[str, Any]) -> int:
    """Restore everything from `<checkpoint_dir>/last` if it exists; returns the step to resume from (0 if none)."""
    source = Path(checkpoint_dir) / LAST
    if not (source / "state.json").exists():
        return 0
    state = read_json(source / "state.json")
    if state["config"] != run_config:
        keys = set(state["config"]) | set(run_config)
        changed = sorted(k for k in keys if state["config"].get(k) != run_config.get(k))
        raise ValueError(f"checkpoint {source} was written by a run with different settings {changed}; "
                         f"delete {source} to start afresh or restore those settings to resume")
    weights = load_file(source / "model.safetensors")
    if set(weights) != set(_trainable_state(model)):
        raise ValueError(f"checkpoint {source} holds other trainable weights than this model; delete {source} to "
                         "start afresh")
    model.load_state_dict(weights, strict=False)
    optimizer.load_state_dict(torch.load(source / "optimizer.pt", weights_only=True))
    scheduler.load_state_dict(torch.load(source / "scheduler.pt", weights_only=True))
    _set_rng_state(load_file(source / "rng.safetensors"), state["rng"])
    return int(state["step"])


def load_extra(checkpoint_dir: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict] | None:
    """The ``extra`` saved with `<checkpoint_dir>/last`, or None when there is none."""
    source = Path(checkpoint_dir) / LAST
    if not (source / "state.json").exists():
        return None
    state = read_json(source / "state.json")
    if "extra" not in state:
        return None
    tensors = load_file(source / "extra.safetensors") if (source / "extra.safetensors").exists() else {}
    return tensors, state["extra"]

"""The training loop: every optimizer step a sampler picks a task, then the next batches of that task, one per
gradient-accumulation micro-step (jiant: one task per optimizer step), nanoGPT-style. Optionally the loop selects a
checkpoint on English dev sets (``selection.py``).

Speed on CPU comes from tokenising once, length-grouped batches and padding each batch only to its longest
sequence; determinism from seeding once and drawing every batch as a pure function of (seed, task, number),
which is also what lets a run resume from a checkpoint bit-identically.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..modeling.multitask import MultiTaskModel
from ..tasks.collate import collate, feature_length
from . import distributed
from .batching import TaskBatches
from .checkpoint import load_checkpoint, load_extra, save_checkpoint
from .config import TrainConfig
from .sampler import TaskSampler
from .selection import Selection

Logger = Callable[[int, dict[str, float]], None]


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over trainable parameters; like HF's Trainer, no weight decay on biases and LayerNorm weights."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": cfg.weight_decay},
              {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=True)


def _autocast(cfg: TrainConfig, device: torch.device):
    """bf16 autocast where the hardware has it (the paper profile's GPUs); fp32 everywhere else."""
    enabled = cfg.bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def train(model: MultiTaskModel, task_data: dict[str, Sequence[dict]], cfg: TrainConfig, *,
          checkpoint_dir: str | os.PathLike | None = None, logger: Logger | None = None,
          progress: bool = True, evaluate: Callable[[], float] | None = None) -> dict:
    """Train in place; returns run statistics. Resumes from `checkpoint_dir/last` when it exists.

    Under `accelerate launch` (or on a GPU) an Accelerator places the model and wraps it in DDP; each rank trains
    on its shard of every global batch and only rank 0 logs and writes checkpoints (see `distributed.py`).
    With ``cfg.select_every``, ``evaluate`` (a dev score, higher is better) runs every that many steps and at the
    end; training stops after ``cfg.select_patience`` evaluations without a gain and the model ends with the
    weights of the best evaluation.
    """
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup, set_seed

    torch.set_num_threads(cfg.num_threads)
    set_seed(cfg.seed)  # python, numpy and torch: dropout draws from torch's global generator
    tasks = sorted(task_data)
    features = dict(task_data)
    empty = [t for t in tasks if not features[t]]
    if empty:
        raise ValueError(f"task(s) {empty} have no training features")
    streams = {t: TaskBatches(features[t], cfg.batch_size, cfg.mega_batch_factor, cfg.seed, i)
               for i, t in enumerate(tasks)}
    total_steps = cfg.max_steps
    accum = cfg.grad_accum_steps
    sampler = TaskSampler({t: len(features[t]) for t in tasks}, cfg.sampler, temperature=cfg.temperature,
                          cap=cfg.sampler_cap, seed=cfg.seed)
    schedule = sampler.schedule(total_steps)  # one task per optimizer step, all its micro-batches from that task
    if cfg.select_every and evaluate is None:
        raise ValueError("select_every is set but no dev scorer was given to the training loop")
    selection = Selection(cfg.select_patience) if cfg.select_every else None
    parallel = distributed.setup()
    if cfg.gradient_checkpointing:
        model.encoder.gradient_checkpointing_enable()
    # The plain path runs `model` itself; under accelerate, the DDP wrapper (it syncs gradients in backward).
    runner = model if parallel.accelerator is None else parallel.accelerator.prepare_model(model)
    optimizer = build_optimizer(model, cfg)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    run_config = {**cfg.trajectory_dict(), "total_steps": total_steps,
                  "tasks": {t: [model.family(t), len(features[t])] for t in tasks}}
    start = 0
    if checkpoint_dir is not None:
        start = load_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler,
                                run_config=run_config)
        extra = load_extra(checkpoint_dir) if selection is not None else None
        if extra is not None:
            selection.load(*extra)
    consumed = Counter({t: n * accum for t, n in Counter(schedule[:start]).items()})  # batches used so far
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0

    model.train()
    window: dict[str, list[float]] = {}
    last_metrics: dict[str, float] = {}
    seen, began, done = 0, time.perf_counter(), start
    bar = tqdm(range(start, total_steps), initial=start, total=total_steps,
               disable=not (progress and parallel.is_main), desc="train")
    for step in bar:
        task = schedule[step]
        for _ in range(accum):
            batch_features = streams[task][consumed[task]]
            consumed[task] += 1
            seen += len(batch_features)  # global features, whatever the number of ranks
            weight, pad_to = 1.0, None
            if parallel.world_size > 1:  # pad the shard as the global batch would be: the shapes one process has
                pad_to = max(feature_length(f) for f in batch_features)
                batch_features, weight = distributed.shard(batch_features, parallel.rank, parallel.world_size)
            batch = distributed.to_device(collate(batch_features, pad_id, pad_to), parallel.device)
            with _autocast(cfg, parallel.device):
                loss, _ = runner(task, batch)
            (loss * weight / accum if weight != 1.0 else loss / accum).backward()
            window.setdefault(task, []).append(loss.item())
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        if done % cfg.log_every == 0 or done == total_steps:
            metrics = {"loss": float(np.mean([v for vs in window.values() for v in vs])),
                       "learning_rate": scheduler.get_last_lr()[0],
                       **{f"loss/{t}": float(np.mean(vs)) for t, vs in window.items()}}
            bar.set_postfix(loss=f"{metrics['loss']:.4f}")
            if logger is not None and parallel.is_main:
                logger(done, metrics)
            last_metrics, window = metrics, {}
        if selection is not None and (done % cfg.select_every == 0 or done == total_steps):
            score = evaluate()  # every rank scores the same model on the same dev sets: the same decision
            selection.observe(done, score, model)
            if logger is not None and parallel.is_main:
                logger(done, {"dev_score": score})
        stop = selection is not None and selection.exhausted
        due = cfg.checkpoint_every and done % cfg.checkpoint_every == 0
        if checkpoint_dir is not None and due and done < total_steps and not stop:
            if parallel.is_main:
                save_checkpoint(checkpoint_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=done,
                                run_config=run_config, extra=selection.state() if selection is not None else None)
            parallel.wait()  # no rank runs ahead of a checkpoint it might have to resume from
        if stop:
            break
    if selection is not None:
        selection.restore(model)
    model.eval()
    seconds = time.perf_counter() - began
    return {"steps": total_steps, "resumed_from": start, "features_seen": seen, "seconds": seconds,
            **({"selection": selection.summary(), "steps_trained": done} if selection is not None else {}),
            "features_per_second": seen / seconds if seconds > 0 else float("nan"),
            "final_loss": last_metrics.get("loss", float("nan")),
            "batches_per_task": dict(consumed), "features_per_task": {t: len(features[t]) for t in tasks},
            **({"world_size": parallel.world_size} if parallel.world_size > 1 else {})}

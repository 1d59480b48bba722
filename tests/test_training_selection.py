"""The paper profile's training knobs: one task per optimizer step, lengths in epochs, English-dev checkpoint
selection with early stopping (and that, with the knobs off, nothing changes)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

try:
    from test_training_loop import HEADS, data, encoder_dir, one_thread  # noqa: F401 (fixtures)
except ImportError:  # tests/ imported as a package
    from tests.test_training_loop import HEADS, data, encoder_dir, one_thread  # noqa: F401 (fixtures)

from stages.xlt.modeling.multitask import MultiTaskModel
from stages.xlt.training.config import TrainConfig
from stages.xlt.training.length import steps_for_epochs
from stages.xlt.training.loop import train
from stages.xlt.training.sampler import TaskSampler
from stages.xlt.training.selection import Selection, task_score

CFG = TrainConfig(learning_rate=3e-3, batch_size=4, max_steps=8, warmup_ratio=0.1, max_seq_length=64, doc_stride=16,
                  log_every=4, seed=3, num_threads=1, sampler="uniform", mega_batch_factor=4)


def _model(encoder_dir, cfg):
    return MultiTaskModel(encoder_dir, HEADS, seed=cfg.seed)


def _trainable(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def test_every_micro_batch_of_a_step_comes_from_one_task(encoder_dir, data):
    """jiant draws a task per optimizer step; its gradient-accumulation micro-batches all come from that task."""
    cfg = dataclasses.replace(CFG, grad_accum_steps=3)
    tasks_seen: list[str] = []
    model = _model(encoder_dir, cfg)
    original = model.forward

    def spy(task, batch):
        tasks_seen.append(task)
        return original(task, batch)

    model.forward = spy
    stats = train(model, data, cfg, progress=False)
    steps = [tasks_seen[i: i + 3] for i in range(0, len(tasks_seen), 3)]
    assert len(steps) == cfg.max_steps and all(len(set(step)) == 1 for step in steps)
    expected = TaskSampler({t: len(data[t]) for t in sorted(data)}, "uniform", seed=cfg.seed).schedule(cfg.max_steps)
    assert [step[0] for step in steps] == expected
    assert sum(stats["batches_per_task"].values()) == cfg.max_steps * 3


def test_one_micro_batch_per_step_draws_as_before():
    """With no accumulation (tiny and small) the per-step schedule is the per-micro-batch one: the same draws."""
    sizes = {"a": 30, "b": 10, "c": 5}
    assert TaskSampler(sizes, "proportional", seed=4).schedule(50) == TaskSampler(sizes, "proportional",
                                                                                  seed=4).schedule(50 * 1)


def test_epochs_become_steps_as_jiant_counts_them():
    assert steps_for_epochs({"squad": 100}, 2, 16) == 2 * 7
    assert steps_for_epochs({"squad": 100, "mnli": 33}, 3, 16) == 3 * 7 + 3 * 3  # summed over the arm's tasks
    assert steps_for_epochs({"squad": 100}, 0.5, 16) == 3
    with pytest.raises(ValueError, match="no training features"):
        steps_for_epochs({"squad": 0}, 1, 16)


def test_selection_keeps_the_best_evaluation_and_stops_after_patience(encoder_dir, data):
    cfg = dataclasses.replace(CFG, select_every=2, select_patience=2)
    scores = iter([0.2, 0.6, 0.5, 0.4, 0.9])  # best at step 4; steps 6 and 8 are the two without a gain
    model = _model(encoder_dir, cfg)
    snapshots = {}

    def evaluate() -> float:
        snapshots[len(snapshots)] = _trainable(model)
        return next(scores)

    stats = train(model, {"nli": data["nli"]}, dataclasses.replace(cfg, max_steps=20), progress=False,
                  evaluate=evaluate)
    assert stats["selection"] == {"best_step": 4, "best_dev_score": 0.6, "evaluations": 4, "stopped_early": True}
    assert stats["steps_trained"] == 8
    final = _trainable(model)
    assert all(torch.equal(final[k], snapshots[1][k]) for k in final)  # the weights of the 2nd evaluation
    assert not all(torch.equal(final[k], snapshots[3][k]) for k in final)


def test_selection_resumes_where_it_stopped(encoder_dir, data, tmp_path):
    """A run killed after a checkpoint resumes with the best weights and the count of evaluations without a gain."""
    cfg = dataclasses.replace(CFG, max_steps=8, select_every=2, select_patience=5, checkpoint_every=4)
    scores = [0.3, 0.7, 0.1, 0.2]

    def run(model, stop_after=None):
        calls = iter(scores)

        def evaluate():
            if stop_after is not None and evaluate.n == stop_after:
                raise KeyboardInterrupt
            evaluate.n += 1
            return next(calls)
        evaluate.n = 0
        return train(model, {"nli": data["nli"]}, cfg, progress=False, evaluate=evaluate,
                     checkpoint_dir=tmp_path / "ckpt")

    whole = _model(encoder_dir, cfg)
    reference = train(whole, {"nli": data["nli"]}, cfg, progress=False, evaluate=iter(scores).__next__)
    interrupted = _model(encoder_dir, cfg)
    with pytest.raises(KeyboardInterrupt):
        run(interrupted, stop_after=3)  # killed at step 6's evaluation, after the checkpoint at step 4
    resumed = _model(encoder_dir, cfg)
    calls = iter(scores[2:])
    stats = train(resumed, {"nli": data["nli"]}, cfg, progress=False, evaluate=lambda: next(calls),
                  checkpoint_dir=tmp_path / "ckpt")
    assert stats["resumed_from"] == 4
    assert stats["selection"] == reference["selection"] == {"best_step": 4, "best_dev_score": 0.7,
                                                            "evaluations": 4, "stopped_early": False}
    a, b = _trainable(whole), _trainable(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_selection_without_a_scorer_is_refused(encoder_dir, data):
    with pytest.raises(ValueError, match="no dev scorer"):
        train(_model(encoder_dir, CFG), data, dataclasses.replace(CFG, select_every=2), progress=False)


def test_dev_metrics():
    examples = [{"id": "a", "answers": {"text": ["the red house"]}}, {"id": "b", "answers": {"text": ["blue"]}}]
    assert task_score("qa", examples, {"a": "red house", "b": "green"}) == pytest.approx(0.5)
    assert task_score("classification", [{"id": "x", "label": 1}, {"id": "y", "label": 0}], {"x": 1, "y": 1}) == 0.5
    selection = Selection(patience=1)
    assert selection.observe(1, 0.5, torch.nn.Linear(1, 1)) and not selection.observe(2, 0.5, torch.nn.Linear(1, 1))
    assert selection.exhausted  # an equal score is no gain

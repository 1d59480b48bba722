"""The multi-task model and training loop: learning, logging, determinism, resumption, freezing.

(Saving and reloading trained models as deltas, and training from cached bottom states: test_modeling_delta.py and
test_modeling_prefix.py.)"""

from __future__ import annotations

import dataclasses

import pytest
import torch

try:
    from test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                    qa_examples, single_thread)
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                          qa_examples, single_thread)

from stages.xlt.modeling.multitask import MultiTaskModel
from stages.xlt.training.config import TrainConfig
from stages.xlt.training.loop import train

HEADS = {"squad": ("qa", 2), "nli": ("classification", 2), "choice": ("multiple_choice", 4)}
CFG = TrainConfig(learning_rate=3e-3, batch_size=8, max_steps=12, warmup_ratio=0.1, max_seq_length=64,
                  doc_stride=16, log_every=4, seed=7, num_threads=1, sampler="uniform", mega_batch_factor=4)

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def data(encoder_dir):
    """Training features (train() takes featurised data, as the prefix_train stage writes it)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    examples = {"squad": qa_examples(48, seed=1), "nli": classification_examples(32, seed=1),
                "choice": choice_examples(24, seed=1)}
    return {task: featurise(tokenizer, HEADS[task][0], rows, CFG.max_seq_length, CFG.doc_stride)
            for task, rows in examples.items()}


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _run(encoder_dir, data, cfg, tasks=("squad",), **kwargs):
    model = MultiTaskModel(encoder_dir, {t: HEADS[t] for t in tasks}, seed=cfg.seed)
    stats = train(model, {t: data[t] for t in tasks}, cfg, progress=False, **kwargs)
    return model, stats


def test_qa_training_reduces_loss(encoder_dir, data):
    logged = []
    cfg = dataclasses.replace(CFG, max_steps=40, log_every=10)
    _, stats = _run(encoder_dir, data, cfg, logger=lambda step, m: logged.append((step, m["loss"])))
    assert [s for s, _ in logged] == [10, 20, 30, 40]
    assert logged[-1][1] < 0.8 * logged[0][1], logged


def test_multi_task_training_uses_every_task_and_calls_the_logger(encoder_dir, data):
    calls = []
    model, stats = _run(encoder_dir, data, CFG, tasks=("squad", "nli", "choice"),
                        logger=lambda step, metrics: calls.append((step, metrics)))
    assert [step for step, _ in calls] == [4, 8, 12]
    assert set(stats["batches_per_task"]) == {"squad", "nli", "choice"}
    assert sum(stats["batches_per_task"].values()) == 12
    assert all("loss" in m and "learning_rate" in m for _, m in calls)
    assert not model.training  # handed back ready for inference


def test_same_seed_same_weights_other_seed_differs(encoder_dir, data):
    tasks = ("squad", "nli")
    a, _ = _run(encoder_dir, data, CFG, tasks=tasks)
    b, _ = _run(encoder_dir, data, CFG, tasks=tasks)
    c, _ = _run(encoder_dir, data, dataclasses.replace(CFG, seed=8), tasks=tasks)
    assert _same(_weights(a), _weights(b))
    assert not _same(_weights(a), _weights(c))


class Crash(Exception):
    pass


def test_resume_after_crash_is_bit_identical(encoder_dir, data, tmp_path):
    tasks = ("squad", "choice")
    cfg = dataclasses.replace(CFG, checkpoint_every=5, grad_accum_steps=2)
    reference, _ = _run(encoder_dir, data, cfg, tasks=tasks, checkpoint_dir=tmp_path / "uninterrupted")

    def crash_after_step_7(step, metrics):
        if step >= 8:
            raise Crash

    with pytest.raises(Crash):  # logs at step 4 and 8; the checkpoint of step 5 survives
        _run(encoder_dir, data, cfg, tasks=tasks, checkpoint_dir=tmp_path / "crashy", logger=crash_after_step_7)
    resumed, stats = _run(encoder_dir, data, cfg, tasks=tasks, checkpoint_dir=tmp_path / "crashy")
    assert stats["resumed_from"] == 5
    assert _same(_weights(reference), _weights(resumed))


def test_resume_refuses_a_checkpoint_from_different_settings(encoder_dir, data, tmp_path):
    cfg = dataclasses.replace(CFG, checkpoint_every=4)
    _run(encoder_dir, data, cfg, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="learning_rate"):
        _run(encoder_dir, data, dataclasses.replace(cfg, learning_rate=1e-3), checkpoint_dir=tmp_path)


def test_freezing_keeps_embeddings_and_bottom_layers_fixed(encoder_dir, data):
    model = MultiTaskModel(encoder_dir, {"squad": HEADS["squad"]}, freeze_embeddings=True, freeze_layers=1)
    before = _weights(model)
    train(model, {"squad": data["squad"]}, dataclasses.replace(CFG, max_steps=3), progress=False)
    after = _weights(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert not any(k.startswith(("encoder.embeddings.", "encoder.encoder.layer.0.")) for k in changed)
    assert any(k.startswith("encoder.encoder.layer.1.") for k in changed) and "heads.squad.weight" in changed
    with pytest.raises(ValueError, match="layers"):
        MultiTaskModel(encoder_dir, {"squad": HEADS["squad"]}, freeze_layers=5)


def test_qa_windows_outnumber_examples_and_every_task_counts_its_features(encoder_dir, data):
    assert len(data["squad"]) > 48  # long contexts overflow into several training windows
    _, stats = _run(encoder_dir, data, dataclasses.replace(CFG, max_steps=2), tasks=("squad", "nli"))
    assert stats["features_per_task"] == {"squad": len(data["squad"]), "nli": 32}
    assert stats["features_seen"] == 2 * CFG.batch_size and stats["steps"] == 2


def test_empty_task_is_refused(encoder_dir, data):
    model = MultiTaskModel(encoder_dir, {"squad": HEADS["squad"], "nli": HEADS["nli"]})
    with pytest.raises(ValueError, match="nli"):
        train(model, {"squad": data["squad"], "nli": []}, CFG, progress=False)

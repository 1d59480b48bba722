"""Data-parallel training through accelerate (two CPU processes, gloo) computes what one process computes.

Each rank trains on its shard of every global batch; DDP averages the gradients. With dropout off (dropout
masks are drawn per process, so with dropout on no two layouts can agree) the two ranks must end bit-identical
to each other and equal, within float tolerance, to one process trained on the same global batches: the sums
are split differently across ranks, so the last bits of the gradients differ, and AdamW carries that forward
(one tensor, whose true gradient is exactly zero, can only be bounded: see ZERO_GRADIENT).
The batch size (7) does not split evenly and two tasks alternate, so the loss weighting and DDP's handling of
the head that a step does not use are exercised too.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch

try:
    from test_training_tiny import build_tiny_encoder, classification_examples, featurise, qa_examples, single_thread
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import (build_tiny_encoder, classification_examples, featurise, qa_examples,
                                          single_thread)

from stages.xlt.training.config import TrainConfig
from stages.xlt.training.distributed import shard

WORLD = 2
# The QA head's bias shifts every position's start (end) logit alike, and softmax cross-entropy is invariant to
# that shift: its true gradient is exactly 0, so what a run computes is rounding noise, which Adam normalises into
# steps of up to lr. Its value after training is therefore arbitrary to within max_steps * lr in ANY two runs
# that sum in a different order (here, one process vs two); every other tensor must agree to float tolerance.
ZERO_GRADIENT = {"heads.squad.bias"}
HEADS = {"squad": ("qa", 2), "nli": ("classification", 2)}
CFG = TrainConfig(learning_rate=3e-3, batch_size=7, max_steps=6, grad_accum_steps=2, warmup_ratio=0.1,
                  max_seq_length=64, doc_stride=16, log_every=2, seed=3, num_threads=1, sampler="uniform",
                  mega_batch_factor=2, checkpoint_every=3)

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(tokenizer) -> dict[str, list[dict]]:
    examples = {"squad": qa_examples(30, seed=2), "nli": classification_examples(24, seed=2)}
    return {task: featurise(tokenizer, HEADS[task][0], rows, CFG.max_seq_length, CFG.doc_stride)
            for task, rows in examples.items()}


def _train_and_save(encoder_dir: str, out: str, checkpoint_dir: str | None) -> dict:
    from safetensors.torch import save_file

    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.training.loop import train

    model = MultiTaskModel(encoder_dir, HEADS, seed=CFG.seed)
    rows: list[int] = []  # features this process ran forward: proves each rank took only its shard
    forward = model.forward
    model.forward = lambda task, batch: (rows.append(len(batch["input_ids"])), forward(task, batch))[1]
    logged: list[int] = []
    stats = train(model, _data(model.tokenizer), CFG, checkpoint_dir=checkpoint_dir, progress=False,
                  logger=lambda step, metrics: logged.append(step))
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, out)
    return {**stats, "logged_steps": logged, "rows": sum(rows)}


def _rank_main(rank: int, port: int, encoder_dir: str, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(WORLD), RANK=str(rank),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(WORLD))
    stats = _train_and_save(encoder_dir, f"{out_dir}/rank{rank}.safetensors", f"{out_dir}/checkpoints")
    Path(f"{out_dir}/rank{rank}.json").write_text(json.dumps({k: stats[k] for k in
                                                              ("features_seen", "world_size", "logged_steps", "rows")}))
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    """The tiny encoder with dropout switched off (see the module docstring)."""
    folder = build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=4)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_two_cpu_ranks_match_each_other_and_one_process(encoder_dir, tmp_path):
    import torch.multiprocessing as mp
    from safetensors.torch import load_file

    assert "WORLD_SIZE" not in os.environ, "run this test outside a distributed launch"
    single = _train_and_save(str(encoder_dir), str(tmp_path / "single.safetensors"), None)
    assert "world_size" not in single  # the plain path never built an Accelerator
    mp.start_processes(_rank_main, args=(_free_port(), str(encoder_dir), str(tmp_path)), nprocs=WORLD,
                       start_method="spawn", join=True)

    one = load_file(tmp_path / "single.safetensors")
    ranks = [load_file(tmp_path / f"rank{r}.safetensors") for r in range(WORLD)]
    assert ranks[0].keys() == ranks[1].keys() == one.keys()
    for name in one:
        assert torch.equal(ranks[0][name], ranks[1][name]), f"ranks disagree on {name}"
        if name in ZERO_GRADIENT:  # Adam turns its rounding noise into up-to-lr steps: bound, not equality
            assert (ranks[0][name] - one[name]).abs().max() <= CFG.max_steps * CFG.learning_rate, name
        else:
            torch.testing.assert_close(ranks[0][name], one[name], rtol=1e-4, atol=1e-5, msg=f"{name} differs")
    start = load_file(encoder_dir / "model.safetensors")
    assert any(not torch.equal(one[f"encoder.{k}"], v) for k, v in start.items() if f"encoder.{k}" in one)
    stats = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(WORLD)]
    assert [s["world_size"] for s in stats] == [WORLD, WORLD]
    assert stats[0]["features_seen"] == stats[1]["features_seen"] == single["features_seen"] == single["rows"]
    assert stats[0]["rows"] + stats[1]["rows"] == single["rows"]  # disjoint shards covering each global batch
    assert stats[0]["rows"] > stats[1]["rows"]  # batches of 7 split 4 + 3
    assert stats[0]["logged_steps"] == single["logged_steps"] and stats[1]["logged_steps"] == []  # rank 0 only
    assert (tmp_path / "checkpoints" / "last" / "state.json").exists()  # written once, by rank 0


def test_shards_are_disjoint_cover_the_batch_and_weight_to_the_global_mean():
    batch = [{"i": i} for i in range(7)]
    parts = [shard(batch, r, 3) for r in range(3)]
    assert [f["i"] for features, _ in parts for f in features] == list(range(7))
    assert [len(features) for features, _ in parts] == [3, 2, 2]
    # DDP averages over ranks: sum_r weight_r * mean_r / world == the mean over the global batch.
    values = {i: float(i * i) for i in range(7)}
    rank_means = [sum(values[f["i"]] for f in features) / len(features) for features, _ in parts]
    ddp_average = sum(w * m for (_, w), m in zip(parts, rank_means)) / 3
    assert ddp_average == pytest.approx(sum(values.values()) / 7)
    lonely, weight = shard(batch[:1], 1, 2)
    assert lonely == batch[:1] and weight == 0.0  # an empty shard still joins the all-reduce, with weight 0

"""What more cores buy: one training step and one evaluation batch of the small profile on 1 and on 2 threads.

The layers are multilingual-e5-small's shape (hidden 384, 12 heads, feed-forward 1536; weights random: speed does not
depend on them) and the small profile's cached-bottom path: the top 12 - k layers (k = the profile's frozen depth)
over the cached states of k layers.

* training step: 16 QA windows of 256 tokens, forward + backward through the top layers and the QA head, AdamW;
* evaluation batch: 8 windows of 256 tokens (the 2,048-token forward ``inference.predict`` uses on CPU), top layers
  in inference mode.

Each is timed with ``torch.set_num_threads(1)`` and ``(2)`` in turn (1, 2, 1, 2, ...), medians of BENCH_REPEATS,
beside the fp32 matmul GFLOP/s at 1 and 2 threads; utilisation = the FLOP model's useful FLOPs (``flops.py``) /
(seconds x matmul FLOP/s at the same thread count). The scaling from 1 to 2 threads says what to expect from more
cores inside one stage (GEMMs of these sizes split well over threads; the rest of a step does not).

    python -m pytest -m benchmark tests/benchmarks/test_bench_threads.py -s
"""

from __future__ import annotations

import os
import statistics

import pytest

from bench_support import load_average, matmul_flops, table, write_result
from pipeline_support import small_profile_freeze_depth

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
HIDDEN, HEADS, FFN, LAYERS, LENGTH = 384, 12, 1536, 12, 256
TRAIN_BATCH, EVAL_BATCH = 16, 8


def encoder():
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=1000, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                        intermediate_size=FFN, max_position_embeddings=514)
    return BertModel(config, add_pooling_layer=False)


def timed(work, threads: int) -> tuple[float, int]:
    """Seconds of one call of ``work`` on ``threads`` threads, and the useful FLOPs the ledger counted in it."""
    import time

    import torch

    from stages.xlt.modeling.flops import LEDGER

    torch.set_num_threads(threads)
    work()  # warm-up: allocator, oneDNN kernels for these shapes
    LEDGER.reset()
    began = time.perf_counter()
    work()
    return time.perf_counter() - began, LEDGER.forward_flops + LEDGER.backward_flops


@pytest.mark.benchmark
def test_one_and_two_threads_for_a_training_step_and_an_evaluation_batch():
    import torch

    from stages.xlt.modeling import layers

    frozen = small_profile_freeze_depth()
    model = encoder()
    model.embeddings.requires_grad_(False)
    for i, layer in enumerate(layers.transformer_layers(model)):
        layer.requires_grad_(i >= frozen)
    head = torch.nn.Linear(HIDDEN, 2)
    trainable = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    train_states = torch.randn(TRAIN_BATCH, LENGTH, HIDDEN, generator=generator)
    eval_states = torch.randn(EVAL_BATCH, LENGTH, HIDDEN, generator=generator)
    starts = torch.randint(0, LENGTH, (TRAIN_BATCH,), generator=generator)

    def train_step():
        model.train()
        hidden = layers.run_layers(model, train_states, torch.ones(TRAIN_BATCH, LENGTH, dtype=torch.long), frozen)
        loss = torch.nn.functional.cross_entropy(head(hidden)[..., 0], starts)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def eval_batch():
        model.eval()
        with torch.inference_mode():
            layers.run_layers(model, eval_states, torch.ones(EVAL_BATCH, LENGTH, dtype=torch.long), frozen)

    load_start = load_average()
    gflops = {threads: matmul_flops(threads=threads) / 1e9 for threads in (1, 2)}
    seconds = {(work, threads): [] for work in ("training step", "evaluation batch") for threads in (1, 2)}
    useful = {}
    for _ in range(REPEATS):
        for work, call in (("training step", train_step), ("evaluation batch", eval_batch)):
            for threads in (1, 2):
                took, flops = timed(call, threads)
                seconds[(work, threads)].append(took)
                useful[work] = flops
    gflops_end = {threads: matmul_flops(threads=threads) / 1e9 for threads in (1, 2)}
    rows = []
    for work in ("training step", "evaluation batch"):
        one, two = (statistics.median(seconds[(work, t)]) for t in (1, 2))
        rows.append({"work": work, "useful_gflop": useful[work] / 1e9, "seconds_1_thread": one,
                     "seconds_2_threads": two, "speedup_2_threads": one / two,
                     "utilisation_1_thread": useful[work] / (one * gflops[1] * 1e9),
                     "utilisation_2_threads": useful[work] / (two * gflops[2] * 1e9)})
    result = {"frozen_layers": frozen, "trained_layers": LAYERS - frozen, "length": LENGTH, "repeats": REPEATS,
              "matmul_gflops_start": gflops, "matmul_gflops_end": gflops_end,
              "matmul_speedup_2_threads": gflops[2] / gflops[1], "load_average_start": load_start,
              "cpu_count": os.cpu_count(), "rows": rows}
    path = write_result("threads", result)
    print(f"\nfp32 matmul 2048^2: {gflops[1]:.0f} GFLOP/s on 1 thread, {gflops[2]:.0f} on 2 (end: "
          f"{gflops_end[1]:.0f}, {gflops_end[2]:.0f}); load average {load_start} -> {load_average()}; "
          f"top {LAYERS - frozen} of {LAYERS} layers, {LENGTH} tokens per window, medians of {REPEATS}")
    print(table(rows, ["work", "useful_gflop", "seconds_1_thread", "seconds_2_threads", "speedup_2_threads",
                       "utilisation_1_thread", "utilisation_2_threads"]))
    print(f"written to {path}")

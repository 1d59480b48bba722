"""Evaluating many models that share a frozen bottom: one cached prefix + top-only passes vs full forward passes.

The study evaluates every arm and seed on the same inputs; all of them start from the same base encoder with the
embeddings and the bottom 8 layers frozen (the small profile now freezes 6). Here 3 arms x 3 seeds = 9 models (one
QA model whose top 4 layers and head get 9 different small random perturbations, as trained arms differ) predict
the same XQuAD-en questions
(256 tokens, stride 128, the small profile's windows):

* shared prefix: the base encoder's states after layer 8 computed once (featurisation included), then 9
  ``predict(..., prefix=store)`` calls that run layers 8-11 and the head;
* full: 9 ``predict`` calls from token ids (embeddings and all 12 layers each time).

Interleaved (shared, full, shared, full), medians. Predictions must be identical and logits within 1e-4.

    python -m pytest -m benchmark tests/benchmarks/test_bench_prefix_inference.py -s
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pytest

from bench_support import THREADS, e5_small_dir, interleaved, machine, table, write_result, xquad, xquad_split

MAX_LENGTH, STRIDE, FROZEN, BATCH = 256, 128, 8, 32
N_QUESTIONS = int(os.environ.get("BENCH_QUESTIONS", "100"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
ARMS, SEEDS = 3, 3
NOISE = 0.02  # perturbation std, relative to each tensor's std
TARGET = 2.0


def questions() -> list[dict]:
    test_articles = set(xquad_split().test)
    chosen = [e for e in xquad("en") if e["article"] in test_articles][:N_QUESTIONS]
    if len(chosen) < N_QUESTIONS:
        pytest.skip(f"only {len(chosen)} test questions")
    return chosen


def variants(model) -> list[dict]:
    """The 9 models' own weights: the top layers and the head, each perturbed with its own seeded noise."""
    import torch

    own = {name: p for name, p in model.named_parameters()
           if name.startswith("heads.") or any(name.startswith(f"encoder.encoder.layer.{i}.")
                                                for i in range(FROZEN, model.n_layers))}
    out = []
    for arm in range(ARMS):
        for seed in range(SEEDS):
            generator = torch.Generator().manual_seed(1000 * arm + seed)
            out.append({name: (p + NOISE * p.std() * torch.randn(p.shape, generator=generator)).detach()
                        for name, p in own.items()})
    return out


def recording(model, logits_out: list):
    """Record the logits of every real (unpadded) position ``predict`` computes, in batch order."""
    forward = model.forward

    def wrapped(task, batch):
        loss, logits = forward(task, batch)
        logits_out.append(logits[batch["attention_mask"].bool()].float().numpy().copy())
        return loss, logits

    model.forward = wrapped
    return lambda: delattr(model, "forward")


@pytest.mark.benchmark
def test_evaluating_nine_models_from_a_shared_prefix_vs_full_passes():
    import torch

    from stages.xlt.inference import eval_features, predict
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import MultiTaskModel

    before = machine()
    torch.set_num_threads(THREADS)
    examples = questions()
    model = MultiTaskModel(e5_small_dir(), {"squad": ("qa", 2)}, freeze_embeddings=True, freeze_layers=FROZEN,
                           seed=0).eval()
    with torch.no_grad():  # well-spread logits: predictions that do not hinge on near-ties
        model.heads["squad"].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    models = variants(model)
    parameters = dict(model.named_parameters())

    def use(weights: dict) -> None:
        with torch.no_grad():
            for name, value in weights.items():
                parameters[name].copy_(value)

    n_windows = len(eval_features("qa", model.tokenizer, examples, max_length=MAX_LENGTH, doc_stride=STRIDE))
    kwargs = dict(max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=BATCH)
    results: dict[str, list] = {"shared_prefix": [], "full": []}
    logits: dict[str, list] = {"shared_prefix": [], "full": []}
    prefix_seconds: list[float] = []

    def shared() -> None:
        began = time.perf_counter()
        features = eval_features("qa", model.tokenizer, examples, max_length=MAX_LENGTH, doc_stride=STRIDE)
        store = prefix.compute(model.encoder, features, FROZEN, pad_token_id=model.tokenizer.pad_token_id)
        prefix_seconds.append(time.perf_counter() - began)
        out, records = [], []
        restore = recording(model, records)
        for weights in models:
            use(weights)
            out.append(predict(model, "squad", examples, prefix=store, **kwargs))
        restore()
        results["shared_prefix"], logits["shared_prefix"] = out, records

    def full() -> None:
        out, records = [], []
        restore = recording(model, records)
        for weights in models:
            use(weights)
            out.append(predict(model, "squad", examples, **kwargs))
        restore()
        results["full"], logits["full"] = out, records

    seconds = interleaved({"shared_prefix": shared, "full": full}, REPEATS)
    after = machine()

    identical = results["shared_prefix"] == results["full"]
    differing = sum(a[k] != b[k] for a, b in zip(results["shared_prefix"], results["full"]) for k in a)
    max_logit_difference = max(float(np.abs(a - b).max()) for a, b in zip(logits["shared_prefix"], logits["full"]))
    distinct = len({tuple(sorted(r.items())) for r in results["full"]})
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    speedup = medians["full"] / medians["shared_prefix"]
    rows = [{"method": name, "median_s": medians[name], "s_per_model": medians[name] / len(models),
             "runs_s": [round(s, 1) for s in runs]} for name, runs in seconds.items()]
    result = {"model": "multilingual-e5-small", "models": len(models), "arms": ARMS, "seeds": SEEDS,
              "questions": len(examples), "windows": n_windows, "max_length": MAX_LENGTH, "doc_stride": STRIDE,
              "batch_size": BATCH, "frozen": f"embeddings + layers 0-{FROZEN - 1}", "repeats": REPEATS,
              "machine_before": before, "machine_after": after, "rows": rows, "speedup": speedup,
              "target_speedup": TARGET, "target_met": speedup >= TARGET,
              "prefix_seconds": prefix_seconds, "identical_predictions": identical,
              "differing_predictions": differing, "max_abs_logit_difference": max_logit_difference,
              "distinct_prediction_sets": distinct}
    path = write_result("prefix_inference", result)
    print(f"\nmatmul fp32 2048^2 on {THREADS} threads: {before['matmul_gflops_2048_fp32']} GFLOP/s before, "
          f"{after['matmul_gflops_2048_fp32']} after; load {before['load_average']} -> {after['load_average']}")
    print(f"{len(models)} models x {len(examples)} questions ({n_windows} windows)")
    print(table(rows, ["method", "median_s", "s_per_model", "runs_s"]))
    print(f"speedup full / shared prefix: {speedup:.2f}x (target {TARGET}x); prefix computed in "
          f"{statistics.median(prefix_seconds):.1f} s; identical predictions: {identical}; max |logit difference| "
          f"{max_logit_difference:.2e}; {distinct} distinct prediction sets over the 9 models; results in {path}")
    assert identical, f"{differing} predictions differ between the shared prefix and full passes"
    assert max_logit_difference <= 1e-4
    assert distinct > 1  # the perturbations really make different models
    assert speedup > 1.0, "a shared prefix should be faster (rerun on a quieter machine?)"

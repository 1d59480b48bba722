"""``predict`` vs the transformers 4.x QA pipeline (ported in tests/test_inference_qa.py, one window per forward
pass, on transformers' own QA model carrying the same weights) and vs a naive batched loop (pad every window to
max_length, file order), on ~80 XQuAD test-set examples from four languages with multilingual-e5-small; plus the
achieved FLOP/s of the encoder during ``predict`` as a fraction of this CPU's measured fp32 matmul speed.

    pytest -m benchmark tests/benchmarks/test_bench_inference.py -s
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
import pytest

from bench_support import (THREADS, e5_small_dir, interleaved, load_average, matmul_flops, table, write_result, xquad,
                           xquad_split)

LANGS = ("en", "de", "zh", "ar")
PER_LANG = int(os.environ.get("BENCH_QA_PER_LANG", "20"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
MAX_LENGTH, STRIDE, BATCH = 384, 128, 64


def benchmark_examples() -> list[dict]:
    """The first PER_LANG questions of XQuAD's test articles in each language (ids made unique per language)."""
    test_articles = set(xquad_split().test)
    examples = []
    for lang in LANGS:
        chosen = [e for e in xquad(lang) if e["article"] in test_articles][:PER_LANG]
        examples += [{**e, "id": f"{e['id']}-{lang}"} for e in chosen]
    return examples


def qa_model(seed: int = 0):
    """e5-small with a seeded random QA head (init std 0.02, HF's): timing does not depend on training. Returns our
    model and transformers' *ForQuestionAnswering with the same weights (for the pipeline port and the naive loop)."""
    from test_inference_qa import reference_model

    from stages.xlt.modeling.multitask import MultiTaskModel

    model = MultiTaskModel(e5_small_dir(), {"squad": ("qa", 2)}, seed=seed).eval()
    return model, reference_model(e5_small_dir(), model)


def pipeline_predictions(model, tokenizer, examples) -> dict[str, str]:
    from test_inference_qa import reference_pipeline

    out = {}
    for e in examples:
        ref = reference_pipeline(model, tokenizer, e["question"], e["context"], MAX_LENGTH, STRIDE, 30, False)
        out[e["id"]] = ref["answer"] if ref else ""
    return out


def naive_batched_logits(model, tokenizer, examples) -> int:
    """Pad every window to max_length and run batches in file order (what a plain DataLoader loop does)."""
    import torch
    from stages.xlt.tasks import qa

    encoded = qa.tokenize_windows(examples, tokenizer, MAX_LENGTH, STRIDE)
    padded = tokenizer.pad({"input_ids": encoded["input_ids"]}, padding="max_length", max_length=MAX_LENGTH,
                           return_tensors="pt")
    with torch.inference_mode():
        for i in range(0, len(padded["input_ids"]), BATCH):
            model(input_ids=padded["input_ids"][i: i + BATCH], attention_mask=padded["attention_mask"][i: i + BATCH])
    return len(padded["input_ids"])


def encoder_flops(config, batches: list[tuple[int, int]]) -> float:
    """Analytic forward FLOPs: 2 * non-embedding params * tokens + attention 4 * L * d * n^2 per sequence."""
    d, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    params_per_layer = 4 * d * d + 2 * d * ffn  # q, k, v, output projection + the two FFN matrices
    total = 0.0
    for b, n in batches:
        total += 2 * params_per_layer * layers * b * n + 4 * layers * d * n * n * b
    return total


def timed_forward(model):
    """Wrap model.forward(task, batch) to record (batch, padded length, seconds) of every call."""
    calls: list[tuple[int, int, float]] = []
    forward = model.forward

    def recording(task, batch):
        ids = batch["input_ids"]
        began = time.perf_counter()
        out = forward(task, batch)
        calls.append((ids.shape[0], ids.shape[1], time.perf_counter() - began))
        return out

    model.forward = recording
    return calls, lambda: delattr(model, "forward")


@pytest.mark.benchmark
def test_predict_speed_and_flop_fraction():
    import torch

    from stages.xlt.inference import predict

    torch.set_num_threads(THREADS)
    examples = benchmark_examples()
    model, reference = qa_model()
    tokenizer = model.tokenizer
    predict(model, "squad", examples[:8], max_length=MAX_LENGTH, doc_stride=STRIDE)  # warm-up
    load_start = load_average()
    ours: dict[str, str] = {}
    peaks: list[float] = []
    flop_runs: list[dict] = []

    def run_ours() -> float:
        calls, restore = timed_forward(model)
        began = time.perf_counter()
        ours.update(predict(model, "squad", examples, max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=BATCH))
        seconds = time.perf_counter() - began
        restore()
        flops = encoder_flops(model.encoder.config, [(b, n) for b, n, _ in calls])
        forward_seconds = sum(s for *_, s in calls)
        peaks.append(matmul_flops())  # measured right after each run: the same load conditions
        flop_runs.append({"flops": flops, "forward_seconds": forward_seconds, "total_seconds": seconds,
                          "padded_tokens": sum(b * n for b, n, _ in calls), "batches": len(calls)})
        return seconds

    def run_pipeline() -> None:
        pipeline.update(pipeline_predictions(reference, tokenizer, examples))

    pipeline: dict[str, str] = {}
    seconds = interleaved({"predict": run_ours, "pipeline_v4_port": run_pipeline,
                           "naive_batched_pad_to_max": lambda: (naive_batched_logits(reference, tokenizer, examples),
                                                                None)[1]}, REPEATS)
    mismatches = {k: (ours[k], pipeline[k]) for k in pipeline if ours[k] != pipeline[k]}
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    peak = statistics.median(peaks)
    flops = flop_runs[0]["flops"]
    forward_rate = flops / statistics.median(r["forward_seconds"] for r in flop_runs)
    total_rate = flops / statistics.median(r["total_seconds"] for r in flop_runs)
    rows = [{"method": name, "median_s": medians[name], "examples_per_s": len(examples) / medians[name],
             "speedup_of_predict": medians[name] / medians["predict"], "runs_s": [round(s, 2) for s in runs]}
            for name, runs in seconds.items()]
    result = {"examples": len(examples), "languages": LANGS, "max_length": MAX_LENGTH, "doc_stride": STRIDE,
              "batch_size": BATCH, "threads": THREADS, "repeats": REPEATS, "load_average_start": load_start,
              "rows": rows, "identical_predictions": not mismatches, "mismatches": mismatches,
              "flops": {"encoder_forward_flops": flops, "matmul_peak_flops_2048": peak, "peaks": peaks,
                        "achieved_flops_forward_only": forward_rate, "fraction_of_peak_forward": forward_rate / peak,
                        "achieved_flops_whole_call": total_rate, "fraction_of_peak_whole_call": total_rate / peak,
                        "runs": flop_runs}}
    write_result("inference", result)
    print(f"\nload average at start {load_start}, end {load_average()}; {len(examples)} examples, {THREADS} threads")
    print(table(rows, ["method", "median_s", "examples_per_s", "speedup_of_predict", "runs_s"]))
    print(f"encoder forward: {flops / 1e9:.0f} GFLOP; {forward_rate / 1e9:.1f} GFLOP/s in forward "
          f"({forward_rate / peak:.0%} of the {peak / 1e9:.1f} GFLOP/s 2048^2 fp32 matmul), "
          f"{total_rate / 1e9:.1f} GFLOP/s over the whole call ({total_rate / peak:.0%})")
    assert not mismatches, f"predict disagrees with the v4 pipeline on {len(mismatches)} examples: {mismatches}"
    assert medians["predict"] < medians["pipeline_v4_port"], "batched prediction should beat one window at a time"

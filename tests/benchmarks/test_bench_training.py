"""Training throughput (features/s) of our loop vs a plain Hugging Face `Trainer` on the same features, model
(multilingual-e5-small), max_length (256), batch size (16), freezing (embeddings + bottom 8 layers, as the small
profile did until it moved to 6) and step count; the Trainer gets features pre-padded to max_length and default
collation, as run_qa.py gives it. Both run from token ids (the cached-states path is
test_bench_prefix_training.py). Only steps after the warm-up are timed (both sides time optimizer-step ends).

    pytest -m benchmark tests/benchmarks/test_bench_training.py -s
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

from bench_support import (THREADS, e5_small_dir, interleaved, load_average, machine, table, write_result, xquad,
                           xquad_split)

MAX_LENGTH, STRIDE, BATCH, FROZEN_LAYERS = 256, 128, 16, 8
WARMUP = int(os.environ.get("BENCH_WARMUP_STEPS", "2"))
MEASURED = int(os.environ.get("BENCH_STEPS", "4"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))


def train_features(tokenizer) -> list[dict]:
    """Exactly (WARMUP + MEASURED) * BATCH windows of XQuAD-en's target_train articles, so every step of both
    runs is a full batch and both see the same features once."""
    from stages.xlt.data.split import select
    from stages.xlt.tasks.family import model_family

    examples = select(xquad("en"), xquad_split(), "target_train")
    features = model_family("qa").train_features(examples, tokenizer, max_length=MAX_LENGTH, doc_stride=STRIDE)
    need = (WARMUP + MEASURED) * BATCH
    if len(features) < need:
        raise ValueError(f"only {len(features)} features for {need}")
    return features[:need]


def step_clock() -> tuple[list[float], callable]:
    stamps: list[float] = []
    return stamps, lambda *_: stamps.append(time.perf_counter())


def measured_rate(stamps: list[float]) -> float:
    """Features/s over the steps after the warm-up (stamps are taken at the end of every step)."""
    return MEASURED * BATCH / (stamps[WARMUP + MEASURED - 1] - stamps[WARMUP - 1])


def run_ours(features: list[dict]) -> float:
    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.training.config import TrainConfig
    from stages.xlt.training.loop import train

    model = MultiTaskModel(e5_small_dir(), {"squad": ("qa", 2)}, freeze_embeddings=True,
                           freeze_layers=FROZEN_LAYERS, seed=0)
    cfg = TrainConfig(batch_size=BATCH, max_steps=WARMUP + MEASURED, max_seq_length=MAX_LENGTH, doc_stride=STRIDE,
                      freeze_embeddings=True, freeze_layers=FROZEN_LAYERS, log_every=1, num_threads=THREADS, seed=0)
    stamps, clock = step_clock()
    train(model, {"squad": features}, cfg, logger=clock, progress=False)
    return measured_rate(stamps)


def run_trainer(features: list[dict], tokenizer, out_dir: str) -> float:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForQuestionAnswering, Trainer, TrainerCallback, TrainingArguments

    torch.manual_seed(0)
    model = AutoModelForQuestionAnswering.from_pretrained(e5_small_dir())
    model.base_model.embeddings.requires_grad_(False)
    for layer in model.base_model.encoder.layer[:FROZEN_LAYERS]:
        layer.requires_grad_(False)
    padded = tokenizer.pad({"input_ids": [f["input_ids"] for f in features]}, padding="max_length",
                           max_length=MAX_LENGTH)
    dataset = Dataset.from_dict({**padded, "start_positions": [f["start_positions"] for f in features],
                                 "end_positions": [f["end_positions"] for f in features]})
    stamps, clock = step_clock()

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock()

    args = TrainingArguments(output_dir=out_dir, use_cpu=True, per_device_train_batch_size=BATCH,
                             max_steps=WARMUP + MEASURED, learning_rate=3e-5, weight_decay=0.01, warmup_steps=0.1,
                             max_grad_norm=1.0, report_to="none", save_strategy="no", logging_strategy="no",
                             disable_tqdm=True, dataloader_num_workers=0, seed=0)
    torch.set_num_threads(THREADS)
    Trainer(model=model, args=args, train_dataset=dataset, callbacks=[Clock()]).train()
    return measured_rate(stamps)


@pytest.mark.benchmark
def test_training_throughput_vs_hf_trainer(tmp_path):
    import torch
    from transformers import AutoTokenizer

    before = machine()
    tokenizer = AutoTokenizer.from_pretrained(e5_small_dir())
    features = train_features(tokenizer)
    lengths = [len(f["input_ids"]) for f in features]
    load_start = load_average()
    rates: dict[str, list[float]] = {"ours": [], "hf_trainer": []}
    threads: list[int] = []

    def ours() -> None:
        rates["ours"].append(run_ours(features))

    def trainer() -> None:
        rates["hf_trainer"].append(run_trainer(features, tokenizer, str(tmp_path / "trainer")))
        threads.append(torch.get_num_threads())

    seconds = interleaved({"ours": ours, "hf_trainer": trainer}, REPEATS)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    speedup = medians["ours"] / medians["hf_trainer"]
    rows = [{"loop": name, "median_features_per_s": medians[name], "runs": [round(r, 2) for r in rates[name]],
             "wall_s_per_run": [round(s, 1) for s in seconds[name]]} for name in rates]
    result = {"model": "multilingual-e5-small", "max_length": MAX_LENGTH, "batch_size": BATCH,
              "frozen": f"embeddings + layers 0-{FROZEN_LAYERS - 1}", "warmup_steps": WARMUP,
              "measured_steps": MEASURED, "repeats": REPEATS, "threads": THREADS, "trainer_threads": threads,
              "features": len(features), "mean_feature_tokens": statistics.mean(lengths),
              "padding_fraction_trainer": 1 - statistics.mean(lengths) / MAX_LENGTH,
              "load_average_start": load_start, "machine_before": before, "machine_after": machine(), "rows": rows,
              "speedup": speedup}
    write_result("training", result)
    print(f"\nmatmul fp32 2048^2 on {THREADS} threads: {before['matmul_gflops_2048_fp32']} GFLOP/s before, "
          f"{result['machine_after']['matmul_gflops_2048_fp32']} after")
    print(f"load average at start {load_start}, end {load_average()}; mean window {statistics.mean(lengths):.0f} "
          f"tokens of {MAX_LENGTH}")
    print(table(rows, ["loop", "median_features_per_s", "runs", "wall_s_per_run"]))
    print(f"speedup ours / Trainer: {speedup:.2f}x")
    assert speedup > 1.0, "dynamic padding + length grouping should beat pad-to-max_length (rerun on a quieter machine?)"

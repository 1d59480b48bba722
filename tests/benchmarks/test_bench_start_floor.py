"""What a stage process cannot start below: the interpreter, torch, transformers' model code and the tokenizer.

Every step is a fresh process (as DVC starts a stage), timed in wall and CPU seconds (``os.wait4``), the steps
interleaved (A, B, C, ..., A, B, C, ...) and reported as medians beside the machine's fp32 matmul GFLOP/s. Each step
adds one thing to the previous one, so the difference of two neighbours is what that thing costs:

* ``python``: the interpreter alone (``-c pass``);
* ``+ torch``: ``import torch``;
* ``+ transformers``: the package (its lazy top level);
* ``+ BERT model code``: ``transformers.models.bert.modeling_bert``, the classes every model stage builds;
* ``+ the project's model code``: its modelling, inference and training modules (what they import besides);
* ``+ encoder and tokenizer loaded``: the project's ``load_base`` on the tiny profile's encoder (the 2-layer, 32-wide
  BERT with XLM-R's 250,002-token vocabulary), i.e. reading config, weights and ``tokenizer.json``.

Then, from ``python -X importtime`` of the model-code step, the modules transformers 5 imports with its model code
that no stage of this pipeline uses (DTensor sharding, the dynamo compiler, sympy, scipy's optimisers, generation),
as cumulative import seconds (``-X importtime`` inflates them a little; they overlap, so they do not add up).

    python -m pytest -m benchmark tests/benchmarks/test_bench_start_floor.py -s   # BENCH_REPEATS (default 5)
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import pytest

from bench_support import REPO, imported_modules, machine_in_child, run_process, table, write_result

REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
UNUSED_BY_THE_PIPELINE = ("torch.distributed.tensor", "torch._dynamo", "sympy", "scipy.optimize",
                          "transformers.generation.candidate_generator", "transformers.loss.loss_utils")
MODEL_CODE = "import torch; from transformers.models.bert.modeling_bert import BertModel"
BUILD_TINY_ENCODER = """
import yaml
from pathlib import Path
from stages.xlt.sources.encoder import build_encoder
preset = yaml.safe_load(Path("stages/presets/tiny.yaml").read_text(encoding="utf-8"))["encoder"]
build_encoder(preset["source"], Path({out!r}), seed=preset["seed"], tiny=preset["tiny"])
"""
PROJECT_CODE = "import stages.xlt.modeling.multitask, stages.xlt.inference, stages.xlt.training.loop"


def steps(encoder_dir: Path) -> dict[str, str]:
    load = ("from stages.xlt.modeling.multitask import load_base; "
            f"model, tokenizer = load_base({str(encoder_dir)!r}); assert tokenizer.pad_token_id is not None")
    return {"python": "pass", "+ torch": "import torch", "+ transformers": "import torch, transformers",
            "+ BERT model code": MODEL_CODE, "+ the project's model code": f"{MODEL_CODE}; {PROJECT_CODE}",
            "+ encoder and tokenizer loaded": f"{MODEL_CODE}; {PROJECT_CODE}; {load}"}


def run_python(code: str, env: dict[str, str], log: Path) -> dict:
    """One fresh ``python -c code``; what it prints goes to ``log`` (-X importtime writes more than a pipe holds)."""
    return run_process([sys.executable, "-c", code], REPO, env, log)


@pytest.mark.benchmark
def test_start_floor_of_a_model_stage(tmp_path: Path) -> None:
    encoder_dir = tmp_path / "encoder"  # the tiny profile's encoder, as its `encoder` stage writes it
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "HF_HOME": str(tmp_path / "hf_home"), "PYTHONPATH": str(REPO)}
    # Built in a child process: a parent that has just run torch slows every child it starts by a second or more
    # (seen here), which would be charged to the steps.
    run_python(BUILD_TINY_ENCODER.format(out=str(encoder_dir)), env, tmp_path / "build.log")
    programs = steps(encoder_dir)
    start = machine_in_child(env)
    samples: dict[str, list[dict]] = {name: [] for name in programs}
    for _ in range(REPEATS):
        for name, code in programs.items():
            samples[name].append(run_python(code, env, tmp_path / "stderr"))
    run_python(MODEL_CODE, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, tmp_path / "importtime")
    end = machine_in_child(env)

    rows, previous = [], None
    for name in programs:
        wall = statistics.median(s["wall"] for s in samples[name])
        cpu = statistics.median(s["cpu"] for s in samples[name])
        rows.append({"step": name, "wall": wall, "cpu": cpu,
                     "wall_added": wall - previous["wall"] if previous else wall,
                     "cpu_added": cpu - previous["cpu"] if previous else cpu})
        previous = rows[-1]
    imported = imported_modules((tmp_path / "importtime").read_text(errors="replace"))
    unused = {name: imported[name] for name in UNUSED_BY_THE_PIPELINE if name in imported}
    assert set(unused) == set(UNUSED_BY_THE_PIPELINE), f"not imported by the model code any more: " \
        f"{sorted(set(UNUSED_BY_THE_PIPELINE) - set(unused))} (update UNUSED_BY_THE_PIPELINE)"
    result = {"repeats": REPEATS, "machine_before": start, "machine_after": end, "rows": rows,
              "unused_imports_seconds": unused,
              "packages": {name: __import__(name).__version__ for name in ("torch", "transformers", "tokenizers")},
              "python": sys.version.split()[0]}
    path = write_result("start_floor", result)

    print(f"\nfp32 matmul 2048^2: {start['matmul_gflops_2048_fp32']} GFLOP/s before, "
          f"{end['matmul_gflops_2048_fp32']} after; load {start['load_average']} -> {end['load_average']}; "
          f"medians of {REPEATS} fresh processes")
    print(table(rows, ["step", "wall", "cpu", "wall_added", "cpu_added"]))
    print("imported with the model code, unused here (cumulative s):",
          ", ".join(f"{k} {v:.2f}" for k, v in unused.items()))
    print(f"written to {path}")

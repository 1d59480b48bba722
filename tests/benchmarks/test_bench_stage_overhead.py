"""Fixed cost per stage on the tiny profile, before (a git revision, default ``main``) and after (this working tree).

The tiny profile computes almost nothing (a 2-layer encoder of width 32, a dozen items per language), so each stage's
time IS its fixed overhead: interpreter start, imports, model and state loading, writing, and DVC's bookkeeping.

1. Set-up (not timed): the tiny profile of each side in its own temporary repository, and every stage's inputs made
   by that side's own `dvc repro` (so an older revision reads the formats it wrote). BENCH_FROM=<a finished tiny
   run> copies one run's outputs into both instead (data/, DVC's cache, dvc.lock): quicker, but both sides must then
   read the same formats; a side that cannot fails loudly.
2. Stage processes, interleaved: for every stage both sides have (or those in BENCH_STAGES), BENCH_REPEATS times in turn
   before, after, before, after, ...: delete the stage's outputs (as `dvc repro` does), run its command from
   dvc.lock and take that one process's wall time, CPU time (user + system, from ``os.wait4``) and peak RSS.
3. Which stages import torch and transformers' model code (after): one more run of each under -X importtime.
4. Whole pipeline, interleaved: `dvc repro --force`, before then after, BENCH_FULL_RUNS times; the wall time of
   every stage from its "Running stage" line to the next (so DVC's bookkeeping counts too) and of the run.

CPU seconds are the load-robust number: on a machine shared with other work, a process's wall time stretches with
the load while its CPU time barely moves. The table prints both, with the machine's fp32 matmul GFLOP/s and the load
average before and after.

    python -m pytest -m benchmark tests/benchmarks/test_bench_stage_overhead.py -s
    BENCH_STAGES=encoder,evaluate_clean@multi-0 BENCH_REPEATS=2 BENCH_FULL_RUNS=0 BENCH_BEFORE=HEAD~3 ...
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bench_support import imported_modules, machine_in_child, run_process, table, write_result
from pipeline_support import DVC, copy_repo, dvc, require_mirror, stage_env

BEFORE = os.environ.get("BENCH_BEFORE", "main")
STAGES = [s for s in os.environ.get("BENCH_STAGES", "").split(",") if s]
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
FULL_RUNS = int(os.environ.get("BENCH_FULL_RUNS", "1"))
TARGET_SECONDS = 3.0


def lock_stages(repo: Path) -> dict[str, dict]:
    return yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))["stages"]


def share_inputs(source: Path, repo: Path) -> None:
    """A finished run's outputs, cache and dvc.lock, copied into ``repo``."""
    for rel in ("data", ".dvc/cache"):
        shutil.copytree(source / rel, repo / rel, symlinks=True, dirs_exist_ok=True)
    shutil.copy2(source / "dvc.lock", repo / "dvc.lock")


def remove_outputs(repo: Path, entry: dict) -> None:
    for out in entry.get("outs", []):
        path = repo / out["path"]
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def run_stage(repo: Path, name: str, env: dict[str, str]) -> dict:
    entry = lock_stages(repo)[name]
    remove_outputs(repo, entry)
    return run_process(shlex.split(entry["cmd"]), repo, {**env, "DVC_STAGE": name}, repo.parent / "stage.log")


def imports_of(repo: Path, name: str, env: dict[str, str]) -> dict[str, bool]:
    """Whether the stage's process imports torch and transformers' model code: one more run under
    ``PYTHONPROFILEIMPORTTIME`` (not timed), read from its log."""
    run_stage(repo, name, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    imported = imported_modules((repo.parent / "stage.log").read_text(errors="replace"))
    return {"imports_torch": "torch" in imported, "imports_model_code": "transformers.modeling_utils" in imported}


def full_repro(repo: Path, env: dict[str, str]) -> dict:
    """`dvc repro --force`: per-stage wall times from its "Running stage" lines, and the run's own wall and CPU."""
    began = time.perf_counter()
    proc = subprocess.Popen([DVC, "repro", "--force"], cwd=repo, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    starts = []
    for line in proc.stdout:
        match = re.match(r"Running stage '([^']+)'", line)
        if match:
            starts.append((match.group(1), time.perf_counter()))
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.perf_counter()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise AssertionError(f"dvc repro --force failed in {repo}")
    ends = [t for _, t in starts[1:]] + [end]
    return {"wall": end - began, "cpu": usage.ru_utime + usage.ru_stime,
            "stages": {name: t1 - t0 for (name, t0), t1 in zip(starts, ends, strict=True)}}


@pytest.mark.benchmark
def test_fixed_cost_per_stage_before_and_after(tmp_path: Path) -> None:
    mirror = require_mirror()
    repos = {"before": copy_repo(tmp_path / "before" / "repo", ref=BEFORE),
             "after": copy_repo(tmp_path / "after" / "repo")}
    envs = {side: stage_env(repo.parent, mirror) for side, repo in repos.items()}
    source = Path(os.environ["BENCH_FROM"]) if os.environ.get("BENCH_FROM") else None
    for side, repo in repos.items():  # set-up: every stage's inputs
        if source is None:
            dvc(repo, "repro", env=envs[side], timeout=3600)
        else:
            share_inputs(source, repo)
    before_stages = set(lock_stages(repos["before"]))
    order = [name for name in lock_stages(repos["after"]) if name in before_stages]
    names = STAGES or order
    unknown = sorted(set(names) - set(order))
    if unknown:
        pytest.fail(f"BENCH_STAGES names stages that not both sides' tiny pipelines have: {unknown}")
    only = {side: sorted(set(lock_stages(repo)) - set(order)) for side, repo in repos.items()}

    start_machine = machine_in_child()
    samples: dict[str, dict[str, list[dict]]] = {name: {"before": [], "after": []} for name in names}
    for name in names:
        for _ in range(REPEATS):
            for side in ("before", "after"):
                samples[name][side].append(run_stage(repos[side], name, envs[side]))
    imports = {name: imports_of(repos["after"], name, envs["after"]) for name in names}
    full = {"before": [], "after": []}
    for _ in range(FULL_RUNS):
        for side in ("before", "after"):
            full[side].append(full_repro(repos[side], envs[side]))
    end_machine = machine_in_child()

    def med(side_samples: list[dict], key: str) -> float:
        return statistics.median(s[key] for s in side_samples)

    rows = []
    for name in names:
        b, a = samples[name]["before"], samples[name]["after"]
        row = {"stage": name, "wall_before": med(b, "wall"), "wall_after": med(a, "wall"),
               "cpu_before": med(b, "cpu"), "cpu_after": med(a, "cpu"),
               "rss_gb_before": med(b, "rss_gb"), "rss_gb_after": med(a, "rss_gb")}
        row["cpu_ratio"] = row["cpu_after"] / row["cpu_before"]
        row.update(imports[name])
        if full["after"]:
            row["in_repro_before"] = statistics.median(r["stages"].get(name, float("nan")) for r in full["before"])
            row["in_repro_after"] = statistics.median(r["stages"].get(name, float("nan")) for r in full["after"])
        rows.append(row)
    totals = {key: sum(row[key] for row in rows) for key in ("wall_before", "wall_after", "cpu_before", "cpu_after")}
    result = {"before": BEFORE, "repeats": REPEATS, "stages_measured": len(names), "full_runs": FULL_RUNS,
              "stages_of_one_side_only": only,
              "machine_before": start_machine, "machine_after": end_machine, "rows": rows, "totals": totals,
              "cpu_ratio_total": totals["cpu_after"] / totals["cpu_before"],
              "mean_cpu_after": totals["cpu_after"] / len(names), "target_seconds": TARGET_SECONDS,
              "full_repro": {side: [{"wall": r["wall"], "cpu": r["cpu"]} for r in runs] for side, runs in full.items()}}
    path = write_result("stage_overhead", result)

    print(f"\nfp32 matmul 2048^2 on {start_machine['threads']} threads: {start_machine['matmul_gflops_2048_fp32']} "
          f"GFLOP/s before, {end_machine['matmul_gflops_2048_fp32']} after; load average "
          f"{start_machine['load_average']} -> {end_machine['load_average']}; before = {BEFORE}, medians of {REPEATS}")
    columns = ["stage", "wall_before", "wall_after", "cpu_before", "cpu_after", "cpu_ratio", "rss_gb_before",
               "rss_gb_after"] + (["in_repro_before", "in_repro_after"] if full["after"] else [])
    print(table(rows, columns))
    print(f"sum over {len(names)} stages: wall {totals['wall_before']:.1f} -> {totals['wall_after']:.1f} s, "
          f"CPU {totals['cpu_before']:.1f} -> {totals['cpu_after']:.1f} s ({result['cpu_ratio_total']:.2f}x); "
          f"mean CPU per stage after: {result['mean_cpu_after']:.2f} s (target <= {TARGET_SECONDS} s)")
    for side, runs in full.items():
        for r in runs:
            print(f"dvc repro --force ({side}): {r['wall']:.0f} s wall, {r['cpu']:.0f} s CPU")
    print(f"written to {path}")

"""Per-stage table of a `dvc repro` for the README: wall time, useful GFLOP, utilisation, fixed overhead, peak RSS and
output size of every stage, and the whole run's utilisation in the footer.

    python tests/benchmarks/time_stages.py --json .notes/stage_times.json [dvc repro targets...]

How each column is known:

* wall time: this script timestamps `dvc repro`'s "Running stage" lines; a stage lasts until the next one starts (or
  the run ends), so DVC's own bookkeeping after a stage (hashing and caching its outputs) counts with it.
* useful GFLOP: every stage process appends one JSON line to ``XLT_STAGE_STATS`` (``stages/runtime.py``, set here),
  holding the FLOPs that the library's ledger counted from the real tokens that went through each encoder layer
  (``stages/xlt/modeling/flops.py``: forward, plus twice the forward of trained layers for backward; cached frozen
  layers only in the prefix stages that computed them).
* utilisation: useful FLOPs / (wall time x the machine's fp32 matmul FLOP/s, 2048^2 ``torch.mm`` on 2 threads, the
  mean of its measurements before and after the run).
* fixed overhead: the wall time before the stage's first layer computation and after its last one: process start,
  imports, model and state loading, the first batch's featurisation, writing outputs, DVC's hashing and caching.
  Per-item work between the first and last layer call (tokenising, decoding, loading a second model) counts as work,
  so this is a lower bound. Stages that run no encoder layer (download, encoder, perturb, score, untrained arms) are
  marked "*": for them it is the time outside main() (interpreter start, module imports before main, DVC's
  bookkeeping), and the lazy imports inside main() count as their work.
* peak RSS: the stage process's ``ru_maxrss`` (and its children's: `accelerate launch`).
* output size: the sizes DVC records for the stage's outputs in dvc.lock (cache: false metrics and plots included).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # the project root: stages.readme renders the table

STATS_ENV = "XLT_STAGE_STATS"


def run_repro(targets: list[str], log_path: Path, stats_path: Path) -> tuple[list[tuple[str, float]], float, float]:
    """`dvc repro` with the stages' stats going to ``stats_path``; the start time of every stage that ran."""
    starts: list[tuple[str, float]] = []
    env = {**os.environ, STATS_ENV: str(stats_path.resolve())}
    began = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["dvc", "repro", *targets], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env)
        for line in proc.stdout:
            log.write(line)
            match = re.match(r"Running stage '([^']+)'", line)
            if match:
                starts.append((match.group(1), time.time()))
                print(f"{time.time() - began:7.0f} s  {match.group(1)}", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"dvc repro failed (see {log_path})")
    return starts, began, time.time()


def read_stats(path: Path) -> dict[str, list[dict]]:
    by_stage: dict[str, list[dict]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            by_stage.setdefault(record["stage"], []).append(record)
    return by_stage


def output_bytes(lock_path: Path = Path("dvc.lock")) -> dict[str, int]:
    """Bytes of every stage's outputs as DVC recorded them in dvc.lock."""
    stages = (yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}).get("stages", {}) if lock_path.exists() else {}
    return {name: sum(out.get("size", 0) for out in entry.get("outs", [])) for name, entry in stages.items()}


def stage_row(name: str, start: float, end: float, records: list[dict], out_bytes: int | None,
              matmul_flops: float) -> dict:
    wall = end - start
    row = {"stage": name, "seconds": round(wall, 2), "output_bytes": out_bytes, "matmul_flops": matmul_flops}
    if not records:  # a stage whose command is not a `python -m stages.<name>` process
        return row
    flops = sum(r.get("useful_flops", 0) for r in records)
    first = min((r["first_layer_started"] for r in records if r.get("first_layer_started")), default=None)
    last = max((r["last_layer_finished"] for r in records if r.get("last_layer_finished")), default=None)
    main = records[0]
    if first is not None:
        overhead, computes = (first - start) + (end - last), True
    else:
        overhead, computes = wall - (main["main_finished"] - main["main_started"]), False
    row.update(useful_gflop=round(flops / 1e9, 3), utilisation=round(flops / (wall * matmul_flops), 4),
               overhead_seconds=round(overhead, 2), runs_layers=computes,
               peak_rss_bytes=max(r["peak_rss_bytes"] for r in records),
               cpu_seconds=round(sum(r["cpu_seconds"] for r in records), 2),
               forward_gflop=round(sum(r.get("forward_flops", 0) for r in records) / 1e9, 3),
               backward_gflop=round(sum(r.get("backward_flops", 0) for r in records) / 1e9, 3),
               marks={"dvc_started": start, "process_started": main.get("process_started"),
                      "main_started": main["main_started"], "first_layer_started": first,
                      "last_layer_finished": last, "main_finished": main["main_finished"], "next_stage": end})
    return row


def markdown(rows: list[dict], totals: dict) -> str:
    def cell(row: dict, key: str, scale: float = 1.0, fmt: str = "{:.0f}") -> str:
        value = row.get(key)
        return "—" if value is None else fmt.format(value / scale)

    lines = ["| stage | wall (s) | useful GFLOP | utilisation | fixed overhead (s) | peak RSS (GB) | output (MB) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        star = "" if row.get("runs_layers", True) else "*"
        lines.append(f"| `{row['stage']}` | {row['seconds']:.0f} | {cell(row, 'useful_gflop', fmt='{:,.0f}')} "
                     f"| {cell(row, 'utilisation', fmt='{:.0%}')} | {cell(row, 'overhead_seconds', fmt='{:.1f}')}{star} "
                     f"| {cell(row, 'peak_rss_bytes', 1e9, '{:.2f}')} | {cell(row, 'output_bytes', 1e6, '{:,.1f}')} |")
    lines.append(f"| **total** | **{totals['seconds']:.0f}** ({totals['seconds'] / 60:.1f} min) "
                 f"| **{totals['useful_gflop']:,.0f}** | **{totals['utilisation']:.0%}** "
                 f"| **{totals['overhead_seconds']:.0f}** | max {totals['peak_rss_bytes'] / 1e9:.2f} "
                 f"| {totals['output_bytes'] / 1e6:,.0f} |")
    return "\n".join(lines)


def grouped(rows: list[dict]) -> list[dict]:
    """One row per stage and arm, seeds together (``transfer@multi-0``, ``-1``, ``-2`` -> ``transfer@multi``), as the
    README's table shows them: runs, per-run ranges and totals."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(re.sub(r"-\d+$", "", row["stage"]), []).append(row)
    out = []
    for name, members in groups.items():
        def values(key: str) -> list[float]:
            return [m[key] for m in members if m.get(key) is not None]

        seconds, useful = values("seconds"), values("useful_gflop")
        out.append({"stage": name, "runs": len(members), "seconds_min": min(seconds), "seconds_max": max(seconds),
                    "seconds_total": sum(seconds), "useful_gflop_total": sum(useful),
                    "utilisation": sum(useful) * 1e9 / (sum(seconds) * members[0]["matmul_flops"]),
                    "overhead_seconds_max": max(values("overhead_seconds"), default=None),
                    "runs_layers": all(m.get("runs_layers", True) for m in members),
                    "peak_rss_bytes": max(values("peak_rss_bytes"), default=None),
                    "output_bytes_total": sum(values("output_bytes"))})
    return out


def grouped_markdown(groups: list[dict]) -> str:
    from stages.readme import grouped_table  # the README's block renders the same table from the same data

    return "\n".join(grouped_table(groups))


def main() -> int:
    from bench_support import matmul_flops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the table's data here (and the repro log, the raw stats)")
    parser.add_argument("targets", nargs="*", help="dvc repro targets (default: the whole pipeline)")
    args = parser.parse_args()
    base = args.json if args.json else Path(os.devnull)
    log_path = args.json.with_suffix(".repro.log") if args.json else Path(os.devnull)
    stats_path = base.with_suffix(".stats.jsonl") if args.json else Path(tempfile.gettempdir()) / f"stage_stats.{os.getpid()}.jsonl"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    stats_path.unlink(missing_ok=True)

    gflops_before = matmul_flops() / 1e9
    load_before = os.getloadavg()
    starts, began, finished = run_repro(args.targets, log_path, stats_path)
    gflops_after = matmul_flops() / 1e9
    machine = (gflops_before + gflops_after) / 2 * 1e9
    stats, sizes = read_stats(stats_path), output_bytes()
    ends = [t for _, t in starts[1:]] + [finished]
    rows = [stage_row(name, start, end, stats.get(name, []), sizes.get(name), machine)
            for (name, start), end in zip(starts, ends, strict=True)]
    seconds = finished - began
    useful = sum(row.get("useful_gflop", 0) for row in rows) * 1e9
    totals = {"seconds": round(seconds, 1), "useful_gflop": round(useful / 1e9, 1),
              "utilisation": round(useful / (seconds * machine), 4),
              "overhead_seconds": round(sum(row.get("overhead_seconds", 0) for row in rows), 1),
              "peak_rss_bytes": max((row.get("peak_rss_bytes", 0) for row in rows), default=0),
              "output_bytes": sum(row.get("output_bytes") or 0 for row in rows)}
    result = {"matmul_gflops_before": round(gflops_before, 1), "matmul_gflops_after": round(gflops_after, 1),
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "total_seconds": round(seconds), "totals": totals, "stages": rows, "groups": grouped(rows)}
    print(markdown(rows, totals))
    print()
    print(grouped_markdown(result["groups"]))
    print(f"fp32 matmul: {gflops_before:.0f} GFLOP/s before, {gflops_after:.0f} after; whole run: "
          f"{totals['useful_gflop']:,.0f} useful GFLOP in {seconds:.0f} s = {totals['utilisation']:.0%} of the "
          f"matmul peak; load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time and peak memory of every stage of a `dvc repro`, one stage at a time, for the README's table.

    python tests/benchmarks/time_stages.py --json .notes/stage_times.json

Asks `dvc repro --dry` for the stages that would run, in order, then runs each with `dvc repro --single-item`
under /usr/bin/time (wall seconds, peak RSS). Prints a Markdown table with the machine's fp32 matmul GFLOP/s
measured before and after (wall times are only comparable with it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    from bench_support import matmul_peak_flops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    gflops_before = matmul_peak_flops() / 1e9
    dry = subprocess.run(["dvc", "repro", "--dry"], capture_output=True, text=True, check=True)
    stages = re.findall(r"^Running stage '([^']+)'", dry.stdout, flags=re.MULTILINE)
    rows, began = [], time.time()
    for stage in stages:
        out = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", "dvc", "repro", "--single-item", stage],
                             capture_output=True, text=True)
        match = re.search(r"TIME ([\d.]+) (\d+)", out.stderr)
        if out.returncode != 0 or match is None:
            print(out.stdout[-3000:], out.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"stage {stage} failed")
        rows.append({"stage": stage, "seconds": float(match.group(1)), "peak_rss_mb": int(match.group(2)) // 1024,
                     "load": os.getloadavg()[0]})
        print(f"{stage}: {rows[-1]['seconds']:.0f} s, {rows[-1]['peak_rss_mb']} MB", flush=True)
    total = time.time() - began
    gflops_after = matmul_peak_flops() / 1e9
    result = {"matmul_gflops_before": round(gflops_before, 1), "matmul_gflops_after": round(gflops_after, 1),
              "total_seconds": round(total), "stages": rows}
    print(f"| stage | wall time (s) | peak RSS (MB) |\n|---|---|---|")
    for row in rows:
        print(f"| `{row['stage']}` | {row['seconds']:.0f} | {row['peak_rss_mb']} |")
    print(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) | |")
    print(f"fp32 matmul: {gflops_before:.0f} GFLOP/s before, {gflops_after:.0f} after")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Wall time of every stage of a `dvc repro`, one stage at a time, for the README's table.

    python tests/benchmarks/time_stages.py --json .notes/stage_times.json

Runs `dvc repro` and timestamps its "Running stage" lines: a stage's wall time is the time to the next stage's
start (or the end), so DVC's own bookkeeping between stages is counted with the stage before it. Prints a Markdown
table with the machine's fp32 matmul GFLOP/s measured before and after (wall times are only comparable with it).
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
    from bench_support import matmul_flops

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    gflops_before = matmul_flops() / 1e9
    began = time.time()
    starts: list[tuple[str, float]] = []
    log_path = args.json.with_suffix(".repro.log") if args.json else Path(os.devnull)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(["dvc", "repro"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            log.write(line)
            match = re.match(r"Running stage '([^']+)'", line)
            if match:
                starts.append((match.group(1), time.time()))
                print(f"{time.time() - began:7.0f} s  {match.group(1)}", flush=True)
    if proc.wait() != 0:
        raise SystemExit(f"dvc repro failed (see {log_path})")
    ends = [t for _, t in starts[1:]] + [time.time()]
    rows = [{"stage": name, "seconds": round(end - start, 1)} for (name, start), end in zip(starts, ends)]
    total = time.time() - began
    gflops_after = matmul_flops() / 1e9
    result = {"matmul_gflops_before": round(gflops_before, 1), "matmul_gflops_after": round(gflops_after, 1),
              "total_seconds": round(total), "stages": rows}
    print("| stage | wall time (s) |\n|---|---|")
    for row in rows:
        print(f"| `{row['stage']}` | {row['seconds']:.0f} |")
    print(f"| **total** | **{total:.0f}** ({total / 60:.1f} min) |")
    print(f"fp32 matmul: {gflops_before:.0f} GFLOP/s before, {gflops_after:.0f} after")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

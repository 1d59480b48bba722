"""What every stage does first: go offline where nothing must be downloaded, validate params, fix threads; and last:
report one line of timing, memory and useful work when asked to (``XLT_STAGE_STATS``).

This module is imported by every stage before anything else: it must stay light (no torch, no transformers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stages.params import Params, ParamsError, load
from stages.xlt.perturbations.knobs import CLEAN


def offline_hub(allow_downloads: bool = False) -> None:
    """Stages that must not touch the network say so before transformers/datasets are imported."""
    if not allow_downloads:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_params(path: str | Path = "params.yaml", notes: bool = False) -> Params:
    """Validate the whole file before any work; exit 2 with the schema's message on bad input. With `notes`,
    print what the settings leave out (a perturbation or attack target that is not evaluated, ...)."""
    try:
        params = load(path)
    except ParamsError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    if notes:
        for note in params.notes():
            print(f"note: {note}", file=sys.stderr)
    return params


def run_parser(description: str, *, target: bool = False, part: bool = False) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--arm", required=True, help="an arm declared in intermediate.arms")
    parser.add_argument("--seed", required=True, type=int, help="a training seed listed in seeds")
    if target:
        parser.add_argument("--target", required=True, help="a fine-tuning task listed in transfer.targets")
    if part:
        parser.add_argument("--part", required=True, choices=(CLEAN, "perturbed"), help="which test inputs")
    return parser


def start_run(doc: str, *, part: bool = False) -> tuple[argparse.Namespace, Params]:
    """The preamble of a stage that works on one trained run: its arguments (``--arm``, ``--seed``, with ``part``
    also ``--part``), the validated params, and the offline Hub settings, before any heavy import."""
    args = run_parser(doc.splitlines()[0], part=part).parse_args()
    params = load_params()
    check_run(params, args.arm, args.seed)
    offline_hub()
    return args, params


def start_part(doc: str, parts: tuple[str, ...]) -> tuple[str, Params]:
    """The preamble of a stage run once per part of its inputs (``--part``): the part, the validated params, and
    the offline Hub settings."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--part", required=True, choices=parts)
    part = parser.parse_args().part
    params = load_params()
    offline_hub()
    return part, params


def check_run(params: Params, arm: str, seed: int) -> None:
    if arm not in params.intermediate.arms:
        print(f"error: arm {arm!r} is not declared in params.yaml intermediate.arms "
              f"({sorted(params.intermediate.arms)})", file=sys.stderr)
        raise SystemExit(2)
    if seed not in params.seeds:
        print(f"error: seed {seed} is not in params.yaml seeds {params.seeds}", file=sys.stderr)
        raise SystemExit(2)


def check_target(params: Params, target: str) -> None:
    if target not in params.transfer.targets:
        print(f"error: fine-tuning task {target!r} is not in params.yaml transfer.targets "
              f"({sorted(params.transfer.targets)})", file=sys.stderr)
        raise SystemExit(2)


def main_process() -> bool:
    """False on the non-zero ranks of a multi-process (accelerate/torchrun) launch."""
    return int(os.environ.get("RANK", "0")) == 0


def main_guard(main: Callable[[], None]) -> None:
    """Bad data or inputs end with one line naming the problem, not a traceback (XLT_DEBUG=1 shows it)."""
    began = time.time()
    try:
        main()
    except (ValueError, FileNotFoundError, ConnectionError) as err:
        if os.environ.get("XLT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    stats = os.environ.get(STATS_ENV)
    if stats:
        write_stage_stats(Path(stats), began)


STATS_ENV = "XLT_STAGE_STATS"  # a JSON-lines file; each finished stage process appends one line (see stage_stats)
_FLOP_LEDGER = "stages.xlt.modeling.flops"


def stage_stats(main_started: float) -> dict:
    """When the process started, when main() ran, its CPU seconds and peak resident memory, and the useful FLOPs the
    library counted (``flops.LEDGER``) with the times of its first and last layer computation: what
    tests/benchmarks/time_stages.py turns into the per-stage table. Files a stage reads and writes are DVC's business;
    this record is written outside its outputs and never read by a stage."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    record = {"stage": os.environ.get("DVC_STAGE") or " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]]),
              "rank": int(os.environ.get("RANK", "0")),
              "process_started": _process_started(), "main_started": main_started, "main_finished": time.time(),
              "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
              "peak_rss_bytes": max(_own_peak_rss(own), 1024 * children.ru_maxrss),  # Linux reports KiB
              "torch_threads": sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None}
    # Only a stage that ran encoder layers has loaded the ledger; looking it up rather than importing it keeps the
    # other stages free of the module (and of a dvc.yaml dependency on it).
    ledger = sys.modules.get(_FLOP_LEDGER)
    if ledger is not None:
        record.update(ledger.LEDGER.totals())
    return record


def write_stage_stats(path: Path, main_started: float) -> None:
    line = json.dumps(stage_stats(main_started), sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:  # one write of one line: parallel stages append whole lines
        f.write(line)


def _own_peak_rss(own: resource.struct_rusage) -> int:
    """This process's peak resident memory in bytes. Linux's ``ru_maxrss`` carries over the parent's peak across
    fork and exec (a stage started by DVC would report at least DVC's memory); ``VmHWM`` belongs to this program's
    own address space."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return own.ru_maxrss * 1024


def _process_started() -> float | None:
    """Epoch seconds at which this process started (Linux /proc, 10 ms resolution), so interpreter start-up and the
    imports before main() are counted too; None elsewhere."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))

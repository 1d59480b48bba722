"""The benchmarks' shared process helpers (run in the default test run: they are not timings)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench_support import imported_modules, run_process


def test_imported_modules_reads_first_imports_with_cumulative_seconds():
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:       120 |        120 |   sympy.core\n"
            "import time:      2000 |     350000 | sympy\n"
            "some other line | 5 | x\n"
            "import time:         9 |          9 | sympy\n")
    assert imported_modules(text) == {"sympy.core": 0.00012, "sympy": 0.35}


def test_imported_modules_of_a_real_process(tmp_path: Path):
    log = tmp_path / "importtime.log"
    run_process([sys.executable, "-X", "importtime", "-c", "import json"], tmp_path, {}, log)
    modules = imported_modules(log.read_text())
    assert "json" in modules and modules["json"] > 0


def test_run_process_measures_one_process_and_keeps_its_output(tmp_path: Path):
    log = tmp_path / "out.log"
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); bytearray(50_000_000)"
    measured = run_process([sys.executable, "-c", code], tmp_path, {}, log)
    assert {"to stdout", "to stderr"} <= set(log.read_text().split("\n"))
    assert measured["wall"] >= measured["cpu"] * 0.5 > 0
    if measured["rss_gb"] == measured["rss_gb"]:  # NaN without GNU time
        assert 0.05 < measured["rss_gb"] < 1


def test_run_process_names_the_failing_command_and_its_output(tmp_path: Path):
    with pytest.raises(AssertionError, match=r"(?s)failed in .*boom"):
        run_process([sys.executable, "-c", "raise SystemExit('boom')"], tmp_path, {}, tmp_path / "out.log")

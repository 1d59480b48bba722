"""The line of timing, memory and useful work every stage process appends to ``XLT_STAGE_STATS`` when it finishes
(stages/runtime.py), which tests/benchmarks/time_stages.py turns into the per-stage table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_stage(code: str, stats: Path | None, stage: str = "demo@a-0") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("XLT_STAGE_STATS", "DVC_STAGE")}
    env["DVC_STAGE"] = stage
    if stats is not None:
        env["XLT_STAGE_STATS"] = str(stats)
    program = f"from stages.runtime import main_guard\n{code}\nmain_guard(main)\n"
    return subprocess.run([sys.executable, "-c", program], cwd=REPO, env=env, capture_output=True, text=True)


def test_each_finished_stage_appends_one_line(tmp_path: Path) -> None:
    stats = tmp_path / "stats" / "stages.jsonl"
    for stage in ("demo@a-0", "demo@b-0"):
        assert run_stage("def main(): sum(range(10**6))", stats, stage).returncode == 0
    records = [json.loads(line) for line in stats.read_text(encoding="utf-8").splitlines()]
    assert [r["stage"] for r in records] == ["demo@a-0", "demo@b-0"]
    for r in records:
        assert r["process_started"] <= r["main_started"] <= r["main_finished"]
        assert r["cpu_seconds"] > 0 and r["peak_rss_bytes"] > 10**6
        # No encoder layer ran, so the FLOP ledger was never loaded: no useful work, no torch.
        assert "useful_flops" not in r and r["torch_threads"] is None


def test_a_stage_that_ran_layers_reports_its_ledger(tmp_path: Path) -> None:
    stats = tmp_path / "stages.jsonl"
    code = ("from stages.xlt.modeling.flops import LEDGER\n"
            "def main():\n    LEDGER.started()\n    LEDGER.add(forward_flops=10, backward_flops=4, token_layers=3)")
    assert run_stage(code, stats).returncode == 0
    record = json.loads(stats.read_text(encoding="utf-8"))
    assert (record["forward_flops"], record["backward_flops"], record["useful_flops"]) == (10, 4, 14)
    assert record["main_started"] <= record["first_layer_started"] <= record["last_layer_finished"]


def test_nothing_is_written_unless_asked_or_when_the_stage_fails(tmp_path: Path) -> None:
    stats = tmp_path / "stages.jsonl"
    assert run_stage("def main(): pass", None).returncode == 0
    failed = run_stage("def main(): raise ValueError('bad input')", stats)
    assert failed.returncode == 1 and failed.stderr.strip() == "error: bad input"
    assert not stats.exists()

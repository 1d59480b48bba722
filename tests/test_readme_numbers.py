"""The README quotes run figures only from generated blocks, rebuilt from metrics/ and .notes/ (stages/readme.py):
a block that differs from what `python -m stages.readme` would write is stale, and so is a README without them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stages import readme

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_block_matches_the_committed_results():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [m.group("name") for m in readme.BLOCK.finditer(text)]
    assert {"answer", "detect", "attack", "stage_times", "disk", "gpu_estimate", "start_floor",
            "stage_overhead"} <= set(names), names
    rebuilt, changed = readme.render(text, ROOT)
    assert not changed, f"stale README blocks {changed}: run `python -m stages.readme`"
    assert rebuilt == text


def test_a_changed_figure_makes_its_block_stale():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- generated: stage_times -->\n(.*?)<!-- /generated -->", text, re.DOTALL)
    edited = text.replace(block.group(1), block.group(1).replace("GFLOP/s", "GFLOPS", 1))
    rebuilt, changed = readme.render(edited, ROOT)
    assert changed == ["stage_times"] and rebuilt == text


def test_an_unknown_block_is_an_error():
    with pytest.raises(ValueError, match="no generator"):
        readme.render("<!-- generated: nonsense -->\nx\n<!-- /generated -->\n", ROOT)


def _overhead_file(tmp_path: Path, rows: list[dict]) -> Path:
    machine = {"matmul_gflops_2048_fp32": 150.0, "load_average": [0.5, 0.5, 0.5]}
    totals = {key: sum(row[key] for row in rows) for key in ("wall_before", "wall_after", "cpu_before", "cpu_after")}
    data = {"before": "abc1234", "repeats": 3, "target_seconds": 3.0, "rows": rows, "totals": totals,
            "machine_before": machine, "machine_after": machine, "stages_of_one_side_only": {"after": ["new"]},
            "full_repro": {"before": [{"wall": 200.0}], "after": [{"wall": 150.0}]}}
    (tmp_path / ".notes").mkdir()
    (tmp_path / readme.STAGE_OVERHEAD).write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def _row(stage: str, wall_after: float, torch: bool, model: bool) -> dict:
    return {"stage": stage, "wall_before": wall_after + 1, "wall_after": wall_after, "cpu_before": wall_after + 1,
            "cpu_after": wall_after, "imports_torch": torch, "imports_model_code": model}


def test_stage_overhead_block_counts_stages_within_the_target_by_kind(tmp_path: Path):
    root = _overhead_file(tmp_path, [_row("download", 2.9, False, False), _row("score", 12.0, False, False),
                                     _row("encoder", 3.0, True, False), _row("transfer", 6.5, True, True),
                                     _row("evaluate", 5.5, True, True)])
    text = readme.stage_overhead(root)
    assert "| `download` | no | 3.9 | 2.9 | 3.9 | 2.9 | yes |" in text
    assert "| `encoder` | torch only | 4.0 | 3.0 | 4.0 | 3.0 | yes |" in text  # the target is inclusive
    assert "| `transfer` | yes | 7.5 | 6.5 | 7.5 | 6.5 | no |" in text
    assert "2 of 5 stages start, work and finish within 3 s; 2 of the 3 that load no model do." in text
    assert "The 2 that load one take 5.5–6.5 s." in text
    assert "200 s before, 150 s after (75%)" in text
    assert "Before = `abc1234`" in text and "left out: `new`." in text

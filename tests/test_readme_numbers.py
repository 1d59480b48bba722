"""The README quotes run figures only from generated blocks, rebuilt from metrics/ and .notes/ (stages/readme.py):
a block that differs from what `python -m stages.readme` would write is stale, and so is a README without them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stages import readme

ROOT = Path(__file__).resolve().parent.parent


def test_every_generated_block_matches_the_committed_results():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    names = [m.group("name") for m in readme.BLOCK.finditer(text)]
    assert {"answer", "detect", "attack", "stage_times", "disk", "gpu_estimate"} <= set(names), names
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

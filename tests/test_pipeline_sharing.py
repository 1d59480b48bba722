"""Sharing results: push to a DVC remote, clone + pull elsewhere with nothing to re-run; compare branches.

Derived from the session's single tiny run (conftest.py): a copy of it pushes to a local remote and a
`git clone` pulls; the branch comparison uses the ``knob_run`` branch, which differs from ``main`` only in the
typos rate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import KnobRun, Run
from pipeline_support import clone_tree, dvc, git, stage_env, stages_run


@pytest.fixture(scope="module")
def pulled_clone(tiny_run: Run, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sharing")
    env = stage_env(root, Path(tiny_run.env["XLT_MIRROR"]))
    origin = clone_tree(tiny_run.repo, root / "origin")
    dvc(origin, "remote", "add", "-d", "shared", str(root / "remote"), env=env)
    git(origin, "add", ".dvc/config")
    git(origin, "commit", "-q", "-m", "a shared DVC remote")
    dvc(origin, "push", env=env)
    git(root, "clone", "-q", str(origin), "clone")
    clone = root / "clone"
    assert not (clone / "data" / "encoder").exists()  # a git clone has no DVC outputs until it pulls
    dvc(clone, "pull", env=env)
    return clone, env


def test_pulled_clone_is_up_to_date(pulled_clone) -> None:
    clone, env = pulled_clone
    assert (clone / "data" / "transfer" / "multi-0").is_dir()
    status = dvc(clone, "status", "--json", env=env)
    assert json.loads(status.stdout or "{}") == {}, f"a fresh clone + pull is not up to date: {status.stdout}"
    repro = dvc(clone, "repro", env=env)
    assert stages_run(repro) == [], f"a fresh clone + pull re-ran {stages_run(repro)}"


def test_metrics_diff_between_branches(knob_run: KnobRun) -> None:
    proc = dvc(knob_run.repo, "metrics", "diff", "main", knob_run.branch, "--json", env=knob_run.env)
    diff = json.loads(proc.stdout)
    typos = {f"{path}:{k}": v for path, entries in diff.items() for k, v in entries.items() if ".typos." in path}
    assert typos, f"no typos metric differs between main and {knob_run.branch}: {sorted(diff)}"
    for entry in typos.values():
        assert {"old", "new"} <= set(entry)  # both revisions' values are shown
    assert any(entry["old"] != entry["new"] for entry in typos.values())


def test_plots_diff_between_branches_shows_both_revisions(knob_run: KnobRun) -> None:
    proc = dvc(knob_run.repo, "plots", "diff", "main", knob_run.branch, "--json", env=knob_run.env)
    text = proc.stdout
    assert '"main"' in text and f'"{knob_run.branch}"' in text, text[:2000]
    for name in ("headline.csv", "clean.csv", "training_curves"):
        assert name in text, f"plots/{name} missing from `dvc plots diff`"


def test_plots_show_writes_offline_html(knob_run: KnobRun, tmp_path: Path) -> None:
    out = tmp_path / "plots_html"
    dvc(knob_run.repo, "plots", "show", "-o", str(out), env=knob_run.env)
    html = (out / "index.html").read_text(encoding="utf-8")
    remote_scripts = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']?https?:", html, flags=re.IGNORECASE)
    assert not remote_scripts, f"`dvc plots show` HTML loads scripts from the network: {remote_scripts}"
    assert "vegaEmbed" in html or "vega-embed" in html, "vega is neither inlined nor referenced"

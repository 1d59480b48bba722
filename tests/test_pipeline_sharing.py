"""Sharing results: push to a DVC remote, clone + pull elsewhere with nothing to re-run; compare branches; switch
branches with `dvc checkout`; all of it with the project's link cache (.dvc/config ``cache.type``: outputs are
read-only links into DVC's cache, so each is on disk once).

Derived from the session's single tiny run (conftest.py): a copy of it pushes to a local remote and a
`git clone` pulls; the branch comparison uses the ``knob_run`` branch, which differs from ``main`` only in the
typos rate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import Derived, KnobRun, Run
from pipeline_support import (clone_tree, corrupted_cache_files, dvc, dvc_concurrently, git, output_link_problems,
                              stage_env, stages_run)

TYPOS_OUTPUTS = ["data/perturbed", "data/prefix/perturbed"]  # what the typos-rate branch changes, among others


def cached_outputs(repo: Path) -> list[str]:
    """Every output DVC caches (metrics and plots are `cache: false`, kept in git)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    return sorted({out["path"] for entry in lock.values() for out in entry.get("outs", [])
                   if out["path"].startswith("data/")})


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
    assert output_link_problems(clone, cached_outputs(clone)) == []  # pulled outputs are links too


def test_outputs_are_read_only_links_into_the_cache(tiny_run: Run) -> None:
    assert output_link_problems(tiny_run.repo, cached_outputs(tiny_run.repo)) == []
    assert corrupted_cache_files(tiny_run.repo) == []


def test_reruns_after_edits_write_new_links_and_leave_the_cache_intact(derived_runs: Derived) -> None:
    """A knob edit, a forced retraining and a code edit re-ran stages over read-only linked outputs: each wrote
    new files (renamed into place), so no cache file changed under its name."""
    for run in (derived_runs.knob, derived_runs.retrain, derived_runs.scoring_edit):
        assert corrupted_cache_files(run.repo) == [], run.repo
    # DVC links what a run adds to its cache; a rewritten file whose content it already had stays a plain copy until
    # `dvc checkout --relink` (the README's Disk section says so), after which every output is a read-only link.
    for repo, outputs in ((derived_runs.knob.repo, TYPOS_OUTPUTS),
                          (derived_runs.retrain.repo, ["data/intermediate/multi-0", "data/transfer/multi-0"])):
        dvc(repo, "checkout", "--relink", env=derived_runs.knob.env)
        assert output_link_problems(repo, outputs) == [], repo
        assert corrupted_cache_files(repo) == [], repo


def test_checkout_switches_outputs_between_branches(tiny_run: Run, knob_run: KnobRun, tmp_path: Path) -> None:
    repo = clone_tree(knob_run.repo, tmp_path / "repo")
    typos = "data/perturbed/typos/xquad.de.jsonl"
    for branch, expected in (("main", tiny_run.repo), (knob_run.branch, knob_run.repo)):
        git(repo, "checkout", "-q", branch)
        dvc(repo, "checkout", env=knob_run.env)
        status = dvc(repo, "status", "--json", env=knob_run.env)
        assert json.loads(status.stdout or "{}") == {}, f"{branch}: outputs differ from dvc.lock: {status.stdout}"
        assert (repo / typos).read_bytes() == (expected / typos).read_bytes(), branch
        dvc(repo, "checkout", "--relink", env=knob_run.env)  # the copied tree's unchanged files become links too
        assert output_link_problems(repo, TYPOS_OUTPUTS) == [], branch
        assert corrupted_cache_files(repo) == [], branch


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


def test_independent_stages_run_side_by_side_in_one_workspace(tiny_run: Run, tmp_path: Path) -> None:
    """The README's recipe for more cores: `dvc --wait-for-lock repro <target>` of independent targets in parallel
    processes. DVC releases its repository lock while a stage's command runs and takes it back to record the result,
    so two runs of different arms share one workspace: both finish, and dvc.lock holds both results (deterministic
    retraining: the same bytes, so nothing is left to re-run and dvc.lock is unchanged)."""
    repo = clone_tree(tiny_run.repo, tmp_path / "repo")
    targets = ["transfer@none-0", "transfer@squad-0"]
    runs = dvc_concurrently([(repo, ["--wait-for-lock", "repro", "--force", "--single-item", target], tiny_run.env)
                             for target in targets], logs=tmp_path / "logs")
    assert [stages_run(run) for run in runs] == [[target] for target in targets]
    # Deterministic retraining: every training and evaluation stage is up to date. The attack stages read the whole
    # data/transfer folder, which also holds each model's provenance record, and that names the git commit of the
    # run (here the clone's newer HEAD): they alone are listed, for that folder alone.
    status = json.loads(dvc(repo, "status", "--json", env=tiny_run.env).stdout or "{}")
    assert all(name.startswith("attack@") for name in status), status
    assert all(reasons == [{"changed deps": {"data/transfer": "modified"}}] for reasons in status.values()), status
    # dvc.lock changes only where the models' provenance records the newer commit, never a model's hash
    before = yaml.safe_load(git(repo, "show", "HEAD:dvc.lock").stdout)
    after = yaml.safe_load((repo / "dvc.lock").read_text(encoding="utf-8"))
    assert _without_provenance(before) == _without_provenance(after)
    assert corrupted_cache_files(repo) == []


def _without_provenance(lock: dict) -> dict:
    return {name: {**stage, "outs": [o for o in stage.get("outs", []) if not o["path"].endswith(".provenance.json")]}
            for name, stage in lock["stages"].items()}


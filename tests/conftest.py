"""Session fixtures for the pipeline tests: ONE tiny `dvc repro`, and the runs derived from it.

Everything expensive is built once per session and shared: the tiny run (``tiny_run``), and two copies of it
reproduced side by side (``derived_runs``): one on a branch whose only change is one perturbation knob
(``knob_run``), one that retrained an arm from the same params and seed. Tests that change state work on copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from pipeline_support import (clone_tree, copy_repo, dvc, dvc_concurrently, edit_params, git, headline_bytes,
                              read_params, require_mirror, stage_env, touch_code)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@needs_mirror(*parts)`` (``pytest.mark.mirror``): skip without the data mirror, or fail under
    XLT_REQUIRE_MIRROR=1 (see ``pipeline_support.require_mirror``)."""
    for mark in item.iter_markers("mirror"):
        require_mirror(*mark.args)

TYPOS_RATE_KEY = "perturb.conditions.typos.rate"
SCORING_HELPER = "stages/xlt/scoring/summary.py"
QA_WINDOWING = "stages/xlt/tasks/qa.py"
CHANGED_TYPOS_RATE = 0.6  # far from tiny's 0.15, so the typos scores must move


@dataclass(frozen=True)
class Run:
    repo: Path
    env: dict[str, str]
    repro: CompletedProcess
    seconds: float


@dataclass(frozen=True)
class KnobRun(Run):
    branch: str
    metrics_diff: CompletedProcess  # `dvc metrics diff --json` HEAD (the tiny run) vs the changed workspace


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The tiny profile reproduced end to end once, with dvc.lock, metrics and plots committed on ``main``."""
    mirror = require_mirror()
    root = tmp_path_factory.mktemp("tiny_run")
    repo = copy_repo(root / "repo")
    env = stage_env(root, mirror)
    start = time.monotonic()
    repro = dvc(repo, "repro", env=env)
    seconds = time.monotonic() - start
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tiny run: dvc.lock, metrics, plots")
    return Run(repo, env, repro, seconds)


@dataclass(frozen=True)
class Derived:
    knob: KnobRun
    retrain: Run
    headline_before_retrain: bytes
    scoring_edit: Run
    xquad_only: Run


@pytest.fixture(scope="session")
def derived_runs(tiny_run: Run, tmp_path_factory: pytest.TempPathFactory) -> Derived:
    """Two copies of the tiny run, reproduced side by side (see ``dvc_concurrently``):

    * knob: only the typos rate changed, then committed on its own branch (``typos-rate``);
    * retrain: ``dvc repro --force --downstream intermediate@multi-0``, same params and seed as the tiny run;
    * scoring edit: one line added to a scoring helper (summary.py), then ``dvc repro``;
    * XQuAD only: one edit, evaluate.targets reduced to XQuAD, then ``dvc repro``.
    """
    root = tmp_path_factory.mktemp("derived")
    mirror = Path(tiny_run.env["XLT_MIRROR"])
    knob_repo = clone_tree(tiny_run.repo, root / "knob" / "repo")
    retrain_repo = clone_tree(tiny_run.repo, root / "retrain" / "repo")
    edit_repo = clone_tree(tiny_run.repo, root / "edit" / "repo")
    xquad_repo = clone_tree(tiny_run.repo, root / "xquad" / "repo")
    knob_env, retrain_env = stage_env(root / "knob", mirror), stage_env(root / "retrain", mirror)
    edit_env, xquad_env = stage_env(root / "edit", mirror), stage_env(root / "xquad", mirror)
    edit_params(xquad_repo, "evaluate.targets", {"xquad": read_params(xquad_repo)["evaluate"]["targets"]["xquad"]})
    touch_code(edit_repo, SCORING_HELPER)
    assert read_params(knob_repo)["perturb"]["conditions"]["typos"]["rate"] != CHANGED_TYPOS_RATE
    edit_params(knob_repo, TYPOS_RATE_KEY, CHANGED_TYPOS_RATE)
    before = headline_bytes(retrain_repo)
    start = time.monotonic()
    knob_repro, retrain_repro, edit_repro, xquad_repro = dvc_concurrently(
        [(knob_repo, ["repro"], knob_env),
         (retrain_repo, ["repro", "--force", "--downstream", "intermediate@multi-0"], retrain_env),
         (edit_repo, ["repro"], edit_env),
         (xquad_repo, ["repro"], xquad_env)],
        logs=root / "logs")
    seconds = time.monotonic() - start
    diff = dvc(knob_repo, "metrics", "diff", "--json", env=knob_env)
    branch = "typos-rate"
    git(knob_repo, "checkout", "-q", "-b", branch)
    git(knob_repo, "add", "-A")
    git(knob_repo, "commit", "-q", "-m", f"{TYPOS_RATE_KEY}: {CHANGED_TYPOS_RATE}")
    return Derived(knob=KnobRun(knob_repo, knob_env, knob_repro, seconds, branch, diff),
                   retrain=Run(retrain_repo, retrain_env, retrain_repro, seconds),
                   headline_before_retrain=before,
                   scoring_edit=Run(edit_repo, edit_env, edit_repro, seconds),
                   xquad_only=Run(xquad_repo, xquad_env, xquad_repro, seconds))


@pytest.fixture(scope="session")
def knob_run(derived_runs: Derived) -> KnobRun:
    return derived_runs.knob

"""Session fixtures for the pipeline tests: ONE tiny `dvc repro`, and the runs derived from it.

Everything expensive is built once per session and shared: the tiny run (``tiny_run``), and a copy of it on a
branch whose only change is one perturbation knob (``knob_run``). Tests that change state work on copies.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from pipeline_support import clone_tree, copy_repo, dvc, edit_params, git, read_params, require_mirror, stage_env

TYPOS_RATE_KEY = "perturb.conditions.typos.rate"
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


@pytest.fixture(scope="session")
def knob_run(tiny_run: Run, tmp_path_factory: pytest.TempPathFactory) -> KnobRun:
    """A copy of the tiny run with only the typos rate changed, reproduced, then committed on its own branch."""
    root = tmp_path_factory.mktemp("knob_run")
    repo = clone_tree(tiny_run.repo, root / "repo")
    env = stage_env(root, Path(tiny_run.env["XLT_MIRROR"]))
    assert read_params(repo)["perturb"]["conditions"]["typos"]["rate"] != CHANGED_TYPOS_RATE
    edit_params(repo, TYPOS_RATE_KEY, CHANGED_TYPOS_RATE)
    start = time.monotonic()
    repro = dvc(repo, "repro", env=env)
    seconds = time.monotonic() - start
    diff = dvc(repo, "metrics", "diff", "--json", env=env)
    branch = "typos-rate"
    git(repo, "checkout", "-q", "-b", branch)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{TYPOS_RATE_KEY}: {CHANGED_TYPOS_RATE}")
    return KnobRun(repo, env, repro, seconds, branch, diff)

"""Reliability (slow): a training stage killed mid-run resumes from its checkpoint and ends with the same bytes
as an uninterrupted run; two independent tiny runs from scratch give byte-identical headline metrics.

    pytest -m slow tests/test_resume.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_support import (DVC, clone_tree, copy_repo, dvc, edit_params, git, headline_bytes, require_mirror,
                              stage_env, stages_run)

pytestmark = pytest.mark.slow

ARM, SEED = "multi", 0
STAGE = f"intermediate@{ARM}-{SEED}"
UPSTREAM = "prefix@intermediate"  # everything the stage reads: data, encoder, featurised sets and cached states
# Steps from cached states of the tiny encoder are quick: enough of them that the kill lands mid-run.
MAX_STEPS, CHECKPOINT_EVERY = 150, 5
KILL_TIMEOUT = 300


def _checkpoint_step(repo: Path) -> int | None:
    state = repo / "data" / "checkpoints" / "intermediate" / f"{ARM}-{SEED}" / "last" / "state.json"
    try:
        return json.loads(state.read_text(encoding="utf-8"))["step"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _kill_after_first_checkpoint(repo: Path, env: dict[str, str]) -> int:
    """Start `dvc repro <stage>`, SIGKILL dvc and its children once a checkpoint exists; returns its step."""
    proc = subprocess.Popen([DVC, "repro", STAGE], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + KILL_TIMEOUT
    try:
        while (step := _checkpoint_step(repo)) is None:
            assert proc.poll() is None, "the stage ended before writing a checkpoint: raise max_steps"
            assert time.monotonic() < deadline, "no checkpoint within the time limit"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: dvc and the stage's python
        proc.wait()
    return step


def _model_bytes(repo: Path) -> bytes:
    """The saved delta (weights and description) of the run."""
    from stages.xlt.modeling.delta_files import DELTA_INFO, DELTA_WEIGHTS

    folder = repo / "data" / "intermediate" / f"{ARM}-{SEED}"
    return (folder / DELTA_WEIGHTS).read_bytes() + (folder / DELTA_INFO).read_bytes()


def test_killed_training_resumes_to_identical_weights(tmp_path: Path) -> None:
    mirror = require_mirror()
    repo = copy_repo(tmp_path / "killed", commit=False)
    edit_params(repo, "intermediate.train.max_steps", MAX_STEPS)
    edit_params(repo, "intermediate.train.checkpoint_every", CHECKPOINT_EVERY)
    edit_params(repo, "intermediate.train.num_threads", 1)  # an observation field: resuming may change it
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "tiny, longer intermediate training")
    env = stage_env(tmp_path, mirror)
    dvc(repo, "repro", UPSTREAM, env=env)  # shared by both copies
    uninterrupted = clone_tree(repo, tmp_path / "uninterrupted")

    step = _kill_after_first_checkpoint(repo, env)
    assert 0 < step < MAX_STEPS
    assert not (repo / "data" / "intermediate" / f"{ARM}-{SEED}").exists(), "a killed run left its output"

    resumed = dvc(repo, "repro", STAGE, env=env)
    assert STAGE in stages_run(resumed)
    provenance = json.loads((repo / "data" / "intermediate" / f"{ARM}-{SEED}.provenance.json").read_text())
    resumed_from = provenance["extra"]["training"]["resumed_from"]
    assert resumed_from >= step, provenance["extra"]["training"]  # a later checkpoint may beat the kill
    assert f" {resumed_from}/{MAX_STEPS} " in resumed.stdout + resumed.stderr  # the progress bar starts past 0
    assert not (repo / "data" / "checkpoints" / "intermediate" / f"{ARM}-{SEED}").exists()

    dvc(uninterrupted, "repro", STAGE, env=stage_env(tmp_path / "u", mirror))
    assert _model_bytes(repo) == _model_bytes(uninterrupted), "resumed weights differ from an uninterrupted run"


def test_two_runs_from_scratch_give_identical_headline(tiny_run, tmp_path: Path) -> None:
    """Independent of the session's run: a second copy, its own caches, the whole pipeline from nothing."""
    mirror = require_mirror()
    repo = copy_repo(tmp_path / "second")
    dvc(repo, "repro", env=stage_env(tmp_path, mirror))
    if headline_bytes(tiny_run.repo) != headline_bytes(repo):
        pytest.fail("two runs from scratch disagree in metrics/headline/: "
                    f"{headline_bytes(tiny_run.repo)!r} vs {headline_bytes(repo)!r}")

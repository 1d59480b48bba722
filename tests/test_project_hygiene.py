"""The project speaks only of itself, and CI cannot pass by testing less.

* No machine paths: no file of the project (tracked, or new and not ignored) names an absolute home, work or temp
  folder of some machine; paths are relative to the repository or come from XLT_MIRROR.
* No silent skips: a test that needs the offline data mirror skips without it locally, but fails when
  XLT_REQUIRE_MIRROR=1 (``.ci/run`` exports it after ``.ci/require_mirror`` found the mirror).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_support import REPO, REQUIRE_MIRROR_ENV, require_mirror

# An absolute path into a home, work or temp folder: home, root, work, tmp or Users right under the root, and
# macOS's private/var and var/folders. Not when it continues a longer path or URL (``a/tmp``, ``host/home``), a
# name (``.dvc/tmp``) or a variable (``${HOME}/work``); a ``file://`` URL of one counts.
MACHINE_PATH = re.compile(r"(?:(?<![\w.~$}/\\-])|(?<=file://))/(?:home|root|work|tmp|Users|private/var|var/folders)"
                          r"(?![\w.-])")
# file -> the exact lines allowed to match, each with its reason. Keep it minimal.
ALLOWED = {
    ".dvc/.gitignore": {"/" + "tmp": "DVC's own ignore pattern for .dvc/tmp (relative to .dvc/), not a machine path"},
}


def _project_text_files() -> list[str]:
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode("utf-8").split("\0")
    return sorted(rel for rel in set(listed) if rel and (REPO / rel).is_file())


def machine_paths(text: str) -> list[tuple[int, str]]:
    """(line number, line) of every line that names a machine path."""
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if MACHINE_PATH.search(line)]


def test_the_pattern_finds_machine_paths_and_nothing_else():
    def path(*parts: str) -> str:  # built at run time, so that this file holds none itself
        return "/" + "/".join(parts)

    found = [f'MIRROR = Path("{path("work", "shared", "data")}")', f"cd {path('home', 'alice')}/repo",
             f"# never {path('work', 'main')}'s", f"cache={path('root', '.cache')}", f"out {path('tmp')}",
             f"log ({path('tmp', 'x.log')})", f"{path('Users', 'bob', 'src')}", f"file://{path('home', 'a')}",
             path("var", "folders", "x1"), path("private", "var", "tmp")]
    clean = ["data/tmp/x", "https://example.org/home/index.html", ".dvc/tmp", "${HOME}/work", "~/tmp/x",
             "$TMPDIR/x", f"{path('tmpfs')}", f"{path('homework')}", f"{path('work-tree')}", "a/Users/b",
             "XLT_MIRROR=/path/to/mirror", "../shared/data"]
    assert [text for text in found if not MACHINE_PATH.search(text)] == []
    assert [text for text in clean if MACHINE_PATH.search(text)] == []


def test_no_project_file_names_a_machine_path():
    files = _project_text_files()
    assert "tests/test_project_hygiene.py" in files and len(files) > 100  # the listing itself works
    offending, allowed_seen = [], set()
    for rel in files:
        raw = (REPO / rel).read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary
        for number, line in machine_paths(raw.decode("utf-8", errors="replace")):
            if line in ALLOWED.get(rel, {}):
                allowed_seen.add((rel, line))
            else:
                offending.append(f"{rel}:{number}: {line[:160]}")
    assert offending == [], ("absolute machine paths in project files (use paths relative to the repository, "
                             "or XLT_MIRROR):\n" + "\n".join(offending))
    stale = {(rel, line) for rel, lines in ALLOWED.items() for line in lines} - allowed_seen
    assert not stale, f"allow-list entries that no longer match anything (remove them): {sorted(stale)}"


# ---------------------------------------------------------------- no silent skips


def test_without_the_mirror_a_test_skips_locally_and_fails_under_the_ci_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_MIRROR", str(tmp_path / "nowhere"))
    monkeypatch.delenv(REQUIRE_MIRROR_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no offline data mirror|no xquad in the offline data mirror"):
        require_mirror()
    monkeypatch.setenv(REQUIRE_MIRROR_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"tatoeba/v1 .*XLT_MIRROR.*XLT_REQUIRE_MIRROR=1"):
        require_mirror("tatoeba", "v1")


def test_with_the_mirror_the_flag_changes_nothing(tmp_path, monkeypatch):
    (tmp_path / "mirror" / "xquad").mkdir(parents=True)
    (tmp_path / "mirror" / "tatoeba" / "v1").mkdir(parents=True)
    monkeypatch.setenv("XLT_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv(REQUIRE_MIRROR_ENV, "1")
    assert require_mirror() == tmp_path / "mirror"
    assert require_mirror("tatoeba", "v1") == tmp_path / "mirror" / "tatoeba" / "v1"
    with pytest.raises(pytest.fail.Exception, match="no xnli/dev-en.tsv"):
        require_mirror("xnli", "dev-en.tsv")


def test_the_mirror_marker_skips_locally_and_fails_under_the_ci_flag(tmp_path):
    """``@needs_mirror`` goes through conftest's hook: a real test file, run in a child pytest."""
    env = {**os.environ, "XLT_MIRROR": str(tmp_path / "nowhere")}
    env.pop(REQUIRE_MIRROR_ENV, None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
               "tests/test_data_tatoeba.py::test_real_mirror_german"]
    local = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert local.returncode == 0 and "1 skipped" in local.stdout and "tatoeba/v1" in local.stdout, local.stdout
    ci = subprocess.run(command, cwd=REPO, env={**env, REQUIRE_MIRROR_ENV: "1"}, capture_output=True, text=True,
                        timeout=120)
    assert ci.returncode == 1 and "1 error" in ci.stdout and "XLT_REQUIRE_MIRROR=1" in ci.stdout, ci.stdout


def _ci_copy(tmp_path: Path) -> Path:
    """The CI scripts alone in a scratch folder, with no shared/data beside it."""
    repo = tmp_path / "clone"
    shutil.copytree(REPO / ".ci", repo / ".ci")
    return repo


def test_ci_stops_with_one_line_when_the_mirror_is_missing(tmp_path):
    repo = _ci_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("XLT_MIRROR", REQUIRE_MIRROR_ENV)}
    proc = subprocess.run(["bash", str(repo / ".ci" / "run")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "CI needs the offline data mirror" in proc.stderr
    assert str(tmp_path / "shared" / "data") in proc.stderr  # where it looked: beside the clone
    assert not (repo / ".venv").exists()  # it stopped before any work


def test_ci_mirror_check_names_the_first_missing_folder_and_accepts_a_complete_mirror(tmp_path):
    repo = _ci_copy(tmp_path)
    mirror = tmp_path / "mirror"
    for part in ("xquad", "tatoeba/v1", "xnli", "pawsx"):
        (mirror / part).mkdir(parents=True)
    check = ["bash", str(repo / ".ci" / "require_mirror"), str(mirror)]
    partial = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert partial.returncode == 1 and "has no mlqa/MLQA_V1/dev/" in partial.stderr
    (mirror / "mlqa" / "MLQA_V1" / "dev").mkdir(parents=True)
    complete = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert (complete.returncode, complete.stdout, complete.stderr) == (0, "", "")


def test_ci_exports_the_flag_after_the_check_and_before_the_tests():
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    check = script.index('bash .ci/require_mirror "$XLT_MIRROR"')
    flag = script.index(f"export {REQUIRE_MIRROR_ENV}=1")
    assert check < flag < script.index("python -m pytest")

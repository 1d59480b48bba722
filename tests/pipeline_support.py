"""Shared helpers for the pipeline-level tests: a temp copy of the repo, dvc/stage subprocesses, log parsing.

The copy holds the project's tracked and untracked-not-ignored files (never data/ outputs, the venv or
caches), is its own git repository, and runs `python -m stages.<x>` / `dvc` with cwd = the copy, so the
copy's `stages` package is the one that runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: dvc runs `python` from PATH, which must be this one
DVC = str(BIN / "dvc")
_RUNNING_STAGE = re.compile(r"^Running stage '([^']+)'", re.MULTILINE)
_SKIP_DIRS = {".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".benchmarks", ".dvc/cache", ".dvc/tmp"}


def small_profile_freeze_depth() -> int:
    """The layers the `small` preset freezes (and caches) in every training phase, so tests and benchmarks measure
    the profile's depth without repeating the number."""
    from stages.params import validate

    preset = yaml.safe_load((REPO / "stages" / "presets" / "small.yaml").read_text(encoding="utf-8"))
    return validate(preset).prefix_depth()


REQUIRE_MIRROR_ENV = "XLT_REQUIRE_MIRROR"  # "1" (.ci/run sets it): a test that needs the mirror fails without it
MIRROR_LAYOUT = "xquad/, tatoeba/v1/, xnli/, pawsx/, mlqa/MLQA_V1/dev/"


def mirror_dir() -> Path | None:
    """XLT_MIRROR if set, else ../shared/data beside the repo, else None (tests that need data skip).

    Always absolute: a relative XLT_MIRROR (``../shared/data``) is taken relative to the cwd when it is read,
    since the tests hand it to stages running in temp copies and link to its files from elsewhere.
    """
    env = os.environ.get("XLT_MIRROR")
    if env:
        return Path(os.path.abspath(env))
    candidate = REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def require_mirror(*parts: str) -> Path:
    """The offline data mirror, or ``<mirror>/<parts>`` (a folder or file in it), for a test that reads real data.

    The one place tests ask for the mirror. Without it the test skips and says why; with XLT_REQUIRE_MIRROR=1 (CI)
    it FAILS instead, so that a run without the mirror cannot pass by silently testing less. With no ``parts`` the
    mirror must at least hold xquad/ (what the pipeline tests read first).
    """
    mirror = mirror_dir()
    wanted = mirror.joinpath(*(parts or ("xquad",))) if mirror is not None else None
    if wanted is None or not wanted.exists():
        where = f"no {'/'.join(parts or ('xquad',))} in the offline data mirror {mirror}" if mirror is not None \
            else "no offline data mirror"
        reason = f"{where}: set XLT_MIRROR to a folder laid out like ../shared/data ({MIRROR_LAYOUT})"
        if os.environ.get(REQUIRE_MIRROR_ENV) == "1":
            pytest.fail(f"{reason} [{REQUIRE_MIRROR_ENV}=1: a missing mirror fails instead of skipping]",
                        pytrace=False)
        pytest.skip(reason)
    return mirror.joinpath(*parts)


def needs_mirror(*parts: str) -> pytest.MarkDecorator:
    """Mark a test that reads ``<mirror>/<parts>``: conftest calls ``require_mirror(*parts)`` before it runs."""
    return pytest.mark.mirror(*parts)


def stage_env(tmp: Path, mirror: Path | None) -> dict[str, str]:
    """Offline, analytics off, HF caches inside ``tmp``, the venv first on PATH."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", DVC_NO_ANALYTICS="1",
               HF_HOME=str(tmp / "hf_home"), TOKENIZERS_PARALLELISM="false",
               PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)  # the copy's `stages`, never those of the checkout that runs the tests
    env.pop("XLT_DEBUG", None)  # tests expect the one-line messages users see, not tracebacks
    if mirror is None:
        env.pop("XLT_MIRROR", None)
    else:
        env["XLT_MIRROR"] = str(mirror)
    return env


def project_files() -> list[str]:
    """Tracked plus untracked-not-ignored files of the real repo, minus data outputs and caches."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    keep = []
    for rel in sorted(set(out)):
        parts = Path(rel).parts
        # DVC outputs and the committed run's record (dvc.lock of the default profile) are not the project's files
        outputs = (parts[0] == "data" and rel != "data/README.md") or rel == "dvc.lock"
        cached = bool({*parts, "/".join(parts[:2])} & _SKIP_DIRS)
        if not outputs and not cached:
            if (REPO / rel).is_file():
                keep.append(rel)
    return keep


def git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=check)


def export_revision(ref: str, dest: Path) -> None:
    """The project's files as committed at ``ref`` (e.g. ``main``), without the committed run's record (dvc.lock)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    (dest / "dvc.lock").unlink(missing_ok=True)


def copy_repo(dest: Path, profile: str | None = "tiny", commit: bool = True, ref: str | None = None) -> Path:
    """A fresh git repo at ``dest`` holding the project's files (the working tree's, or those committed at git
    revision ``ref``), switched to ``profile`` and committed."""
    dest.mkdir(parents=True, exist_ok=True)
    if ref is not None:
        export_revision(ref, dest)
    else:
        for rel in project_files():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, target)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "config", "user.name", "pipeline-tests")
    git(dest, "config", "user.email", "pipeline-tests@example.invalid")
    git(dest, "config", "commit.gpgsign", "false")
    if profile is not None:
        python(dest, "-m", "stages.preset", profile, env=stage_env(dest.parent, None), check=True)
    if commit:
        git(dest, "add", "-A")
        git(dest, "commit", "-q", "-m", f"project files, {profile} profile")
    return dest


def python(repo: Path, *args: str, env: dict[str, str], check: bool = False,
           timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"python {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dvc(repo: Path, *args: str, env: dict[str, str], check: bool = True,
        timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([DVC, *args], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def stages_run(proc: subprocess.CompletedProcess) -> list[str]:
    """Names of the stages a `dvc repro` executed (its "Running stage '<name>':" lines)."""
    return _RUNNING_STAGE.findall(proc.stdout + proc.stderr)


def read_params(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))


def write_params(repo: Path, params: dict) -> None:
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def edit_params(repo: Path, dotted: str, value: object) -> None:
    """Set one key (``a.b.c``) of the copy's params.yaml, leaving every other value as it was."""
    params = read_params(repo)
    node = params
    *parents, last = dotted.split(".")
    for key in parents:
        node = node[key]
    node[last] = value
    write_params(repo, params)


def touch_code(repo: Path, relpath: str) -> None:
    """Edit a module of the copy without changing what it does (one comment line): its hash changes, so every
    stage that declares it must re-run and no other."""
    path = repo / relpath
    path.write_text(path.read_text(encoding="utf-8") + "# edited by a test\n", encoding="utf-8")


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def clone_tree(source: Path, dest: Path) -> Path:
    """A full copy (git history, DVC cache and outputs): a cheap way to branch off a finished run."""
    shutil.copytree(source, dest, symlinks=True)
    return dest


def leftovers(root: Path) -> list[str]:
    """Temporary siblings (``.<name>.*.tmp``) an interrupted atomic write would have left behind."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.tmp"))


def dvc_concurrently(jobs: list[tuple[Path, list[str], dict[str, str]]], logs: Path,
                     timeout: float = 900) -> list[subprocess.CompletedProcess]:
    """Run several dvc commands (each in its own repo) at once. The tiny stages spend most of their time in
    single-threaded imports and dvc bookkeeping, so two runs side by side on 2 cores finish well before two in
    a row. Output goes to files: two pipes read one after the other could fill up and deadlock."""
    logs.mkdir(parents=True, exist_ok=True)
    started = []
    for k, (repo, args, env) in enumerate(jobs):
        out, err = open(logs / f"{k}.out", "w+"), open(logs / f"{k}.err", "w+")
        started.append((subprocess.Popen([DVC, *args], cwd=repo, env=env, stdout=out, stderr=err), out, err, args))
    done = []
    for proc, out, err, args in started:
        proc.wait(timeout=timeout)
        out.seek(0), err.seek(0)
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        out.close(), err.close()
        if result.returncode != 0:
            raise AssertionError(f"dvc {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        done.append(result)
    return done


def headline_bytes(repo: Path) -> bytes:
    """The headline metrics (one small JSON per row in metrics/headline/) as one byte string, for comparisons."""
    return b"".join(path.name.encode() + b"\0" + path.read_bytes()
                    for path in sorted((repo / "metrics" / "headline").glob("*.json")))


def cache_file(repo: Path, path: Path) -> Path:
    """Where DVC's cache keeps the content of workspace file ``path`` (content-addressed by md5)."""
    digest = hashlib.md5(path.read_bytes()).hexdigest()
    return repo / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]


def corrupted_cache_files(repo: Path) -> list[str]:
    """Cache files whose content no longer hashes to their name: what an output edited in place through a hardlink
    (or symlink) into the cache would leave behind."""
    root = repo / ".dvc" / "cache" / "files" / "md5"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and hashlib.md5(p.read_bytes()).hexdigest() != p.parent.name + p.name.removesuffix(".dir"))


def output_link_problems(repo: Path, outputs: list[str]) -> list[str]:
    """Workspace files of these outputs that are not a read-only link into the cache, under the project's cache.type
    (hardlink, symlink, copy): every output file must be a hardlink or symlink to its cache file, so that it is on
    disk once (a copy is what DVC leaves for directory outputs with reflink first: treeverse/dvc#10549).

    One exception, DVC's own: a file whose content another output file already put in the cache is left as a plain
    copy (DVC transfers each content once and does not link the later duplicates; the tiny profile's untrained arms
    and random models make many). It costs its own size once more, never the cache's integrity."""
    files = []
    for rel in outputs:
        root = repo / rel
        files += [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digests = {path: hashlib.md5(path.read_bytes()).hexdigest() for path in files}
    seen: dict[str, int] = {}
    for digest in digests.values():
        seen[digest] = seen.get(digest, 0) + 1
    problems = []
    for path in files:
        target = cache_file(repo, path)
        linked = target.exists() and os.path.samefile(path, target)  # a hardlink, or a symlink to it
        writable = bool(path.stat().st_mode & 0o222)  # mode bits: root may write anything, so not os.access
        if (not linked or writable) and seen[digests[path]] == 1:
            problems.append(f"{path.relative_to(repo)}: {'linked' if linked else 'a copy'}, "
                            f"{'writable' if writable else 'read-only'}")
    return problems

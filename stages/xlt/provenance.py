"""Provenance records: what produced an output (code version, packages, inputs, params, machine).

A record holds no timestamp unless asked for, so two identical runs write byte-identical provenance files
(the determinism tests compare outputs byte for byte). Inputs are identified by content (sha256), never by
their path, so the same data at another location gives the same record.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from stages.xlt.io import sha256_file, write_json

# Distributions whose versions change results (tokenisation, kernels, metrics, data loading).
PACKAGES: tuple[str, ...] = ("torch", "transformers", "tokenizers", "datasets", "dvc", "numpy", "sacrebleu")
_GIT_TIMEOUT_S = 10


def sha256_tree(folder: str | os.PathLike) -> str:
    """A folder's hash over its sorted relative paths and their files' hashes.

    Independent of creation order and of where the folder lives; changes when any byte, file name or the set of
    files changes. Empty sub-folders do not count (git and DVC ignore them too).
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for relpath, path in sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{relpath}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def describe_input(name: str, path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if path.is_file():
        return {"kind": "file", "sha256": sha256_file(path)}
    if path.is_dir():
        return {"kind": "folder", "files": sum(1 for p in path.rglob("*") if p.is_file()),
                "sha256": sha256_tree(path)}
    raise ValueError(f"provenance input {name!r}: {path} does not exist; pass the path of a file or folder "
                     "the stage actually read")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace: the same params always give the same text, whatever the dict order."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise ValueError(f"provenance params hold a {type(value).__name__} ({value!r}), which has no stable JSON form; "
                     "pass plain values (str, int, float, bool, None, lists, dicts)")


def params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(params).encode("utf-8")).hexdigest()


def package_versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Python's version and each installed distribution's version; missing ones are left out."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _torch_threads() -> int | None:
    """The threads torch computes with in this process; None when the process never loaded torch (a stage that
    runs no model should not pay torch's import for this one number)."""
    torch = sys.modules.get("torch")
    return None if torch is None else torch.get_num_threads()


def platform_info() -> dict[str, Any]:
    return {
        "os": platform.system(),
        "os_release": platform.release(),
        "machine": platform.machine(),
        "python_implementation": platform.python_implementation(),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
    }


def git_commit(repo: str | os.PathLike | None = None) -> str | None:
    """The checked-out commit, or None where there is no git, no repository or no commit yet."""
    try:
        result = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=repo, capture_output=True,
                                text=True, timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and commit else None


def provenance(
    *,
    params: dict[str, Any],
    inputs: dict[str, str | os.PathLike],
    extra: dict[str, Any] | None = None,
    repo: str | os.PathLike | None = None,
    timestamp: bool = False,
) -> dict[str, Any]:
    """A JSON-ready record of what produced an output.

    ``inputs`` maps a name (e.g. ``"xquad"``) to a file or folder; ``repo`` is where to ask git for the commit
    (default: the current directory). ``timestamp=True`` adds ``created_utc`` and so breaks byte-identity.
    """
    record: dict[str, Any] = {
        "git_commit": git_commit(repo),
        "inputs": {name: describe_input(name, path) for name, path in sorted(inputs.items())},
        "packages": package_versions(),
        "params": json.loads(canonical_json(params)),
        "params_sha256": params_hash(params),
        "platform": platform_info(),
    }
    if extra is not None:
        record["extra"] = json.loads(canonical_json(extra))
    if timestamp:
        record["created_utc"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def write_provenance(path: str | os.PathLike, record: dict[str, Any]) -> None:
    write_json(path, record)

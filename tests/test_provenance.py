"""Provenance records: byte-stable across identical runs, sensitive to every input and param."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stages.xlt import provenance as prov
from stages.xlt.io import dumps_json
from stages.xlt.provenance import params_hash, provenance, sha256_file, sha256_tree, write_provenance

PARAMS = {"seed": 13, "train": {"lr": 3e-5, "epochs": 2}, "langs": ["de", "zh"]}


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("alpha\n")
    (data / "sub" / "b.txt").write_text("beta\n")
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(range(256)) * 10)
    return {"data": data, "model": model}


def test_record_is_byte_identical_across_calls(inputs: dict[str, Path], tmp_path: Path) -> None:
    first = provenance(params=PARAMS, inputs=inputs, extra={"note": "x"})
    second = provenance(params=dict(reversed(PARAMS.items())), inputs=dict(reversed(inputs.items())),
                        extra={"note": "x"})
    assert dumps_json(first) == dumps_json(second)
    write_provenance(tmp_path / "p1.json", first)
    write_provenance(tmp_path / "p2.json", second)
    assert (tmp_path / "p1.json").read_bytes() == (tmp_path / "p2.json").read_bytes()


def test_record_contents(inputs: dict[str, Path]) -> None:
    record = provenance(params=PARAMS, inputs=inputs)
    assert "created_utc" not in record and "extra" not in record
    model_sha = hashlib.sha256(inputs["model"].read_bytes()).hexdigest()
    assert record["inputs"]["model"] == {"kind": "file", "sha256": model_sha}
    assert record["inputs"]["data"]["kind"] == "folder" and record["inputs"]["data"]["files"] == 2
    assert record["params"] == PARAMS and record["params_sha256"] == params_hash(PARAMS)
    assert {"python", "numpy", "torch"} <= set(record["packages"])
    assert record["platform"]["cpu_count"] >= 1


def test_torch_threads_recorded_only_where_torch_runs(inputs: dict[str, Path]) -> None:
    import torch

    assert provenance(params=PARAMS, inputs=inputs)["platform"]["torch_threads"] == torch.get_num_threads()
    # A process that never imported torch records None instead of paying its import for this number.
    code = ("import sys; from stages.xlt.provenance import platform_info; "
            "print(platform_info()['torch_threads'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    assert out == ["None", "False"]
    assert "created_utc" in provenance(params=PARAMS, inputs=inputs, timestamp=True)


@pytest.mark.parametrize("change", [
    {"seed": 14},
    {"train": {"lr": 3e-5, "epochs": 3}},
    {"langs": ["zh", "de"]},  # list order is meaningful
])
def test_params_hash_changes_with_any_param(change: dict) -> None:
    assert params_hash({**PARAMS, **change}) != params_hash(PARAMS)


def test_params_hash_ignores_key_order_and_rejects_unstable_values() -> None:
    assert params_hash({"b": 1, "a": {"y": 2, "x": 1}}) == params_hash({"a": {"x": 1, "y": 2}, "b": 1})
    assert params_hash({"path": Path("data/raw")}) == params_hash({"path": "data/raw"})
    with pytest.raises(ValueError, match="object"):
        params_hash({"thing": object()})


@pytest.mark.parametrize("target", ["model.bin", "data/a.txt", "data/sub/b.txt"])
def test_input_hash_changes_when_one_byte_changes(inputs: dict[str, Path], tmp_path: Path, target: str) -> None:
    before = provenance(params=PARAMS, inputs=inputs)["inputs"]
    path = tmp_path / target
    content = bytearray(path.read_bytes())
    content[0] ^= 1
    path.write_bytes(bytes(content))
    after = provenance(params=PARAMS, inputs=inputs)["inputs"]
    changed = "model" if target == "model.bin" else "data"
    assert after[changed]["sha256"] != before[changed]["sha256"]
    unchanged = "data" if changed == "model" else "model"
    assert after[unchanged] == before[unchanged]


def _make_tree(root: Path, order: list[str]) -> Path:
    for relpath in order:
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(f"content of {relpath}\n")
    return root


def test_folder_hash_is_independent_of_creation_order_and_location(tmp_path: Path) -> None:
    files = ["z.txt", "a/b.txt", "a/c/d.bin", "m.json"]
    one = _make_tree(tmp_path / "one", files)
    two = _make_tree(tmp_path / "elsewhere" / "two", list(reversed(files)))
    assert sha256_tree(one) == sha256_tree(two)


def test_folder_hash_does_not_depend_on_directory_listing_order(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Listing order depends on the file system; creation order alone may not change it, so reverse it directly.
    tree = _make_tree(tmp_path / "t", ["a.txt", "b/c.txt", "d.txt"])
    expected = sha256_tree(tree)
    listing = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda self, pattern: reversed(list(listing(self, pattern))))
    assert sha256_tree(tree) == expected


def test_folder_hash_sees_renames_additions_and_empty_files(tmp_path: Path) -> None:
    base = sha256_tree(_make_tree(tmp_path / "t", ["a.txt", "b.txt"]))
    (tmp_path / "t" / "a.txt").rename(tmp_path / "t" / "a2.txt")  # same bytes, same sort position
    renamed = sha256_tree(tmp_path / "t")
    (tmp_path / "t" / "empty").touch()
    added = sha256_tree(tmp_path / "t")
    assert len({base, renamed, added}) == 3


def test_big_file_is_hashed_in_chunks(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    content = b"0123456789abcdef" * (3 * (1 << 20) // 16 + 7)  # three chunks and a bit
    big.write_bytes(content)
    assert sha256_file(big) == hashlib.sha256(content).hexdigest()


def test_missing_input_names_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'xquad'.*does not exist"):
        provenance(params={}, inputs={"xquad": tmp_path / "nope"})


def test_missing_packages_are_skipped() -> None:
    versions = prov.package_versions(("numpy", "surely-not-installed-xyz"))
    assert set(versions) == {"python", "numpy"}


def test_git_commit_without_git_or_repo_is_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert prov.git_commit(tmp_path) is None  # not a repository (tmp is outside any checkout)
    monkeypatch.setenv("PATH", str(tmp_path))  # no git executable at all
    assert prov.git_commit(tmp_path) is None
    assert provenance(params={}, inputs={}, repo=tmp_path)["git_commit"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_commit_is_recorded(tmp_path: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": str(Path(shutil.which("git")).parent), "HOME": str(tmp_path)}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    assert prov.git_commit(tmp_path) is None  # a repository without commits
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True, env=env).stdout.strip()
    assert prov.git_commit(tmp_path) == head and len(head) == 40


def test_training_records_hold_no_timings_so_retraining_rewrites_the_same_bytes():
    from stages.recording import training_record

    stats = {"steps": 60, "final_loss": 3.3, "seconds": 182.6, "features_per_second": 5.3, "resumed_from": 0}
    assert training_record(stats) == {"steps": 60, "final_loss": 3.3, "resumed_from": 0}

"""Outputs are replaced by rename, never edited in place. With DVC's link cache (.dvc/config: hardlink,
symlink, copy) the previous output is a read-only hardlink or symlink to a file in DVC's cache, and writing the new
output must leave that cache file exactly as it was (an in-place write through a hardlink would corrupt the cache
for every commit that references it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stages.xlt.io import atomic_path, write_json, write_text


def protected_link(cache_file: Path, output: Path, kind: str) -> None:
    """What `dvc checkout` leaves in the workspace: the output as a link to a read-only cache file."""
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text("cached\n", encoding="utf-8")
    cache_file.chmod(0o444)
    output.parent.mkdir(parents=True, exist_ok=True)
    if kind == "hardlink":
        os.link(cache_file, output)
    else:
        output.symlink_to(cache_file)


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_file_output_replaces_a_protected_link_and_leaves_the_cache_alone(tmp_path: Path, kind: str) -> None:
    cache_file, output = tmp_path / "cache" / "ab" / "cdef", tmp_path / "data" / "out.txt"
    protected_link(cache_file, output, kind)
    write_text(output, "new\n")
    assert output.read_text(encoding="utf-8") == "new\n"
    assert not output.is_symlink() and output.stat().st_ino != cache_file.stat().st_ino
    assert cache_file.read_text(encoding="utf-8") == "cached\n" and cache_file.stat().st_mode & 0o777 == 0o444


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_folder_output_replaces_protected_links_and_leaves_the_cache_alone(tmp_path: Path, kind: str) -> None:
    cache_file, folder = tmp_path / "cache" / "ab" / "cdef", tmp_path / "data" / "model"
    protected_link(cache_file, folder / "weights.bin", kind)
    with atomic_path(folder, is_dir=True) as tmp:
        write_json(tmp / "delta.json", {"fresh": True})
    assert sorted(p.name for p in folder.iterdir()) == ["delta.json"]
    assert cache_file.read_text(encoding="utf-8") == "cached\n" and cache_file.stat().st_mode & 0o777 == 0o444

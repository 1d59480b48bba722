"""Download public data files, from upstream or from an offline mirror, and verify their bytes.

Every file the project downloads has its expected sha256 in ``checksums/<dataset>.sha256`` (``sha256sum``
format, paths relative to a mirror root). A mirror is any folder with the layout of ``../shared/data``
(``xquad/xquad.<lang>.json``, ``tatoeba/v1/tatoeba.<xxx>-eng.<xxx>``, ``xnli/dev-<lang>.tsv``,
``pawsx/dev-<lang>.tsv``, ``mlqa/MLQA_V1/dev/dev-context-<c>-question-<q>.json``); the stage passes
``os.environ.get("XLT_MIRROR")``. Without a mirror the file comes from its upstream URL over HTTP.

Either way the bytes go to a temporary sibling, are checked against the expected digest and only then renamed
into place, so a failed or corrupt transfer never leaves a file that DVC could cache as a finished result.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from tqdm import tqdm

from stages.xlt.io import atomic_path, sha256_file

if TYPE_CHECKING:
    import requests

MIRROR_ENV = "XLT_MIRROR"
_CHUNK = 1 << 20
_SHA256_HEX_LEN = 64


class ChecksumError(ValueError):
    """A file's bytes are not the ones the project expects."""

    def __init__(self, relpath: str, expected: str, actual: str, source: str) -> None:
        self.relpath, self.expected, self.actual, self.source = relpath, expected, actual, source
        super().__init__(
            f"{relpath}: sha256 mismatch for the copy from {source} (expected {expected}, got {actual}). "
            "Fix: download it again (a transfer may have been cut short), or if it came from a mirror, check "
            "that the mirror holds the upstream bytes (`sha256sum -c SHA256SUMS` in its data set folder)."
        )


class MirrorError(ValueError):
    """The mirror given in XLT_MIRROR does not have the file at the expected place."""


class DownloadError(ConnectionError):
    """Upstream could not be reached (or refused the file) after all retries."""


class FetchItem(NamedTuple):
    """One file to fetch: where it lives in a mirror, where upstream, and the bytes it must have."""

    relpath: str
    url: str
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """A data set's upstream folder and its folder in a mirror; the file names below both are the same."""

    name: str
    url_root: str
    mirror_root: str
    file_pattern: str

    @property
    def url_pattern(self) -> str:
        return self.url_root + self.file_pattern

    @property
    def relpath_pattern(self) -> str:
        return self.mirror_root + self.file_pattern

    def url_for(self, relpath: str) -> str:
        if not relpath.startswith(self.mirror_root):
            raise ValueError(f"{relpath!r} is not a {self.name} file: its mirror path must start with "
                             f"{self.mirror_root!r}")
        return self.url_root + relpath[len(self.mirror_root):]

    def item_for(self, relpath: str) -> FetchItem:
        checksums = load_checksums(self.name)
        if relpath not in checksums:
            raise ValueError(f"{relpath!r} is not a known {self.name} file (no checksum in "
                             f"checksums/{self.name}.sha256); names look like {self.relpath_pattern!r}")
        return FetchItem(relpath, self.url_for(relpath), checksums[relpath])

    def item(self, **fields: str) -> FetchItem:
        """The file whose name fills ``file_pattern`` with ``fields``, e.g. ``item(lang="de")``."""
        return self.item_for(self.relpath_pattern.format(**fields))

    def items(self) -> list[FetchItem]:
        """Every file of the data set with a recorded checksum, sorted by mirror path."""
        return [self.item_for(relpath) for relpath in sorted(load_checksums(self.name))]


MESH_COMMIT = "68f82e29e71a4e425069ff398a61387c24c0f30d"
MESH_ROOT = f"https://raw.githubusercontent.com/GautamGupta17/MESH/{MESH_COMMIT}"

DATASETS: dict[str, Dataset] = {
    "xquad": Dataset(
        name="xquad",
        url_root="https://raw.githubusercontent.com/google-deepmind/xquad/master/",
        mirror_root="xquad/",
        file_pattern="xquad.{lang}.json",
    ),
    # Each Tatoeba pair is two line-aligned files: side = the three-letter code, or "eng".
    "tatoeba": Dataset(
        name="tatoeba",
        url_root="https://raw.githubusercontent.com/facebookresearch/LASER/main/data/tatoeba/v1/",
        mirror_root="tatoeba/v1/",
        file_pattern="tatoeba.{code}-eng.{side}",
    ),
    # XNLI, PAWS-X and MLQA dev sets as XTREME downloads them, from a repository that committed that download;
    # pinned to one commit, so the URL always serves the bytes whose checksums are recorded.
    "xnli": Dataset(
        name="xnli",
        url_root=f"{MESH_ROOT}/data/xnli/",
        mirror_root="xnli/",
        file_pattern="dev-{lang}.tsv",
    ),
    "pawsx": Dataset(
        name="pawsx",
        url_root=f"{MESH_ROOT}/data/pawsx/",
        mirror_root="pawsx/",
        file_pattern="dev-{lang}.tsv",
    ),
    # context = the language of the paragraphs, question = the language of the questions (G-XLT when they differ).
    "mlqa": Dataset(
        name="mlqa",
        url_root=f"{MESH_ROOT}/data/mlqa/MLQA_V1/",
        mirror_root="mlqa/MLQA_V1/",
        file_pattern="dev/dev-context-{context}-question-{question}.json",
    ),
}


def xquad_items(langs: Iterable[str]) -> list[FetchItem]:
    return [DATASETS["xquad"].item(lang=lang) for lang in langs]


def tatoeba_items(codes: Iterable[str]) -> list[FetchItem]:
    """Both files of each pair (``<xxx>`` and ``eng`` sides) for three-letter codes such as ``deu``."""
    tatoeba = DATASETS["tatoeba"]
    return [tatoeba.item(code=code, side=side) for code in codes for side in (code, "eng")]


def xnli_items(langs: Iterable[str]) -> list[FetchItem]:
    """``xnli/dev-<lang>.tsv`` for each language (15 known: ``languages.XNLI_LANGUAGES``)."""
    return [DATASETS["xnli"].item(lang=lang) for lang in langs]


def pawsx_items(langs: Iterable[str]) -> list[FetchItem]:
    """``pawsx/dev-<lang>.tsv`` for each language (7 known: ``languages.PAWSX_LANGUAGES``)."""
    return [DATASETS["pawsx"].item(lang=lang) for lang in langs]


def mlqa_pair_items(pairs: Iterable[tuple[str, str]]) -> list[FetchItem]:
    """``dev-context-<c>-question-<q>.json`` for each ``(context, question)`` language pair, in the given order."""
    mlqa = DATASETS["mlqa"]
    return [mlqa.item(context=context, question=question) for context, question in pairs]


def mlqa_pairs(langs: Iterable[str], *, gxlt: bool = True) -> list[tuple[str, str]]:
    """The MLQA files ``data.mlqa.prepare_mlqa`` reads for ``langs``: English (always: the split is made on English
    articles), each language's own file, and with ``gxlt`` its ``context=<lang>, question=en`` file."""
    langs = list(dict.fromkeys(["en", *langs]))
    pairs = [(lang, lang) for lang in langs]
    if gxlt:
        pairs += [(lang, "en") for lang in langs if lang != "en"]
    return pairs


def mlqa_items(langs: Iterable[str], *, gxlt: bool = True) -> list[FetchItem]:
    """MLQA dev files for ``langs`` (see ``mlqa_pairs``); ``mlqa_pair_items`` takes explicit pairs instead."""
    return mlqa_pair_items(mlqa_pairs(langs, gxlt=gxlt))


@functools.cache
def _checksum_table(dataset: str) -> tuple[tuple[str, str], ...]:
    resource = resources.files("stages.xlt.sources") / "checksums" / f"{dataset}.sha256"
    if not resource.is_file():
        raise ValueError(f"no checksum file for data set {dataset!r}; known: {sorted(DATASETS)}")
    return tuple(_parse_sha256sum(resource.read_text(encoding="utf-8"), f"checksums/{dataset}.sha256"))


def _parse_sha256sum(text: str, origin: str) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, path = line.partition(" ")
        path = path.lstrip(" ").removeprefix("*")  # "*" marks binary mode in sha256sum output
        if len(digest) != _SHA256_HEX_LEN or not path or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{origin} line {number} is not `<sha256 hex>  <path>`: {line!r}")
        rows.append((path, digest))
    return rows


def load_checksums(dataset: str) -> dict[str, str]:
    """Mirror-relative path -> expected sha256 for one data set (a key of ``DATASETS``)."""
    return dict(_checksum_table(dataset))


def _mirror_root(mirror: str | os.PathLike | None) -> Path | None:
    # An empty XLT_MIRROR (``XLT_MIRROR= dvc repro``) means "no mirror", as shells usually treat it.
    if mirror is None or str(mirror) == "":
        return None
    # A relative mirror (``XLT_MIRROR=../shared/data``) means relative to the cwd now, whatever happens later.
    return Path(os.path.abspath(mirror))


def _copy_from_mirror(mirror: Path, relpath: str, tmp: Path) -> None:
    source = mirror / relpath
    if not source.is_file():
        raise MirrorError(
            f"mirror {mirror} ({MIRROR_ENV}) has no file {relpath}: a mirror must have the layout of "
            "../shared/data (xquad/xquad.<lang>.json, tatoeba/v1/tatoeba.<xxx>-eng.<xxx>, xnli/dev-<lang>.tsv, "
            "pawsx/dev-<lang>.tsv, mlqa/MLQA_V1/dev/dev-context-<c>-question-<q>.json); point "
            f"{MIRROR_ENV} at such a folder, or unset it to download from upstream."
        )
    shutil.copyfile(source, tmp)


def _is_transient(error: requests.RequestException) -> bool:
    import requests

    # ChunkedEncodingError: the connection closed before Content-Length bytes arrived (a cut transfer).
    return isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _stream_to(url: str, tmp: Path, timeout: float) -> None:
    import requests

    with requests.get(url, stream=True, timeout=timeout) as response:
        response.raise_for_status()
        with open(tmp, "wb") as f:  # "wb" truncates what an earlier, failed attempt wrote
            for chunk in response.iter_content(chunk_size=_CHUNK):
                f.write(chunk)


def _offline_hint(relpath: str) -> str:
    return (f"To work offline, set {MIRROR_ENV}=/path/to/mirror (a folder with the layout of ../shared/data, "
            f"holding {relpath}).")


def _download(url: str, relpath: str, tmp: Path, *, retries: int, backoff: float, timeout: float) -> None:
    """GET ``url`` into ``tmp``; retry timeouts, dropped connections and 5xx with exponential back-off."""
    import requests  # here, not at the top: a run from the mirror never pays its import (about half a second)

    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            _stream_to(url, tmp, timeout)
            return
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else None
            if status is None or status < 500:
                raise DownloadError(f"{relpath}: {url} answered HTTP {status}; the upstream file may have moved. "
                                    f"{_offline_hint(relpath)}") from error
            last_error = error
        except requests.RequestException as error:
            if not _is_transient(error):
                raise DownloadError(f"{relpath}: cannot download {url}: {error}. {_offline_hint(relpath)}") from error
            last_error = error
    raise DownloadError(f"{relpath}: {url} failed {retries + 1} times (last error: {last_error}). "
                        f"{_offline_hint(relpath)}") from last_error


def fetch(
    relpath: str,
    dest: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None,
    url: str,
    expected_sha256: str,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
) -> Path:
    """Put the file ``relpath`` at ``dest`` with exactly the expected bytes, and return ``dest``.

    From ``mirror/relpath`` if a mirror is given, else from ``url`` (up to ``1 + retries`` attempts, sleeping
    ``backoff * 2**k`` seconds between them). Does nothing if ``dest`` already has the expected digest.
    Raises ChecksumError (no file is left at ``dest``), MirrorError or DownloadError.
    """
    dest = Path(dest)
    expected = expected_sha256.lower()
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    mirror_root = _mirror_root(mirror)
    with atomic_path(dest) as tmp:
        if mirror_root is not None:
            _copy_from_mirror(mirror_root, relpath, tmp)
            source = f"mirror {mirror_root}"
        else:
            _download(url, relpath, tmp, retries=retries, backoff=backoff, timeout=timeout)
            source = url
        actual = sha256_file(tmp)
        if actual != expected:
            raise ChecksumError(relpath, expected, actual, source)
    return dest


def fetch_many(
    items: Iterable[FetchItem],
    dest_root: str | os.PathLike,
    *,
    mirror: str | os.PathLike | None,
    retries: int = 4,
    backoff: float = 1.0,
    timeout: float = 30,
    progress: bool = True,
) -> list[Path]:
    """Fetch each item to ``dest_root/<relpath>``, so ``dest_root`` itself has a mirror's layout."""
    items = list(items)
    dest_root = Path(dest_root)
    return [
        fetch(item.relpath, dest_root / item.relpath, mirror=mirror, url=item.url, expected_sha256=item.sha256,
              retries=retries, backoff=backoff, timeout=timeout)
        for item in tqdm(items, desc="fetch", unit="file", disable=not progress)
    ]

"""Fetching data files: mirror copies, HTTP with retries (against a loopback server), checksum checks."""

from __future__ import annotations

import hashlib
import http.server
import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline_support import mirror_dir, needs_mirror
from stages.xlt.languages import MLQA_LANGUAGES, PAWSX_LANGUAGES, TATOEBA_XTREME, XNLI_LANGUAGES, XQUAD_LANGUAGES
from stages.xlt.sources import fetch as fetch_module
from stages.xlt.sources.fetch import (
    DATASETS,
    MESH_COMMIT,
    ChecksumError,
    DownloadError,
    FetchItem,
    MirrorError,
    fetch,
    fetch_many,
    load_checksums,
    mlqa_items,
    mlqa_pair_items,
    mlqa_pairs,
    pawsx_items,
    tatoeba_items,
    xnli_items,
    xquad_items,
)

SHARED_DATA = mirror_dir()  # XLT_MIRROR (made absolute) or ../shared/data beside the repo; @needs_mirror guards it
MESH = f"https://raw.githubusercontent.com/GautamGupta17/MESH/{MESH_COMMIT}/data/"
PAYLOAD = b'{"data": [], "version": "1.1"}\n' * 50
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
RELPATH = "xquad/xquad.xx.json"
FAST = {"retries": 2, "backoff": 0.001, "timeout": 5}


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment would intercept the loopback requests.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- checksum tables and URL patterns


def test_xquad_checksums_cover_every_language_and_only_data_files() -> None:
    checksums = load_checksums("xquad")
    assert sorted(checksums) == sorted(f"xquad/xquad.{lang}.json" for lang in XQUAD_LANGUAGES)
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in checksums.values()), "lower-case hex SHA-256 digests"
    assert len(set(checksums.values())) == len(checksums)  # twelve different files


def test_tatoeba_checksums_cover_112_pairs_both_sides() -> None:
    checksums = load_checksums("tatoeba")
    codes = {path.split(".")[1].removesuffix("-eng") for path in checksums}
    assert len(codes) == 112 and len(checksums) == 224
    assert set(TATOEBA_XTREME.values()) <= codes
    for code in codes:
        assert f"tatoeba/v1/tatoeba.{code}-eng.{code}" in checksums
        assert f"tatoeba/v1/tatoeba.{code}-eng.eng" in checksums


def test_urls_and_mirror_paths_follow_the_upstream_layout() -> None:
    de = DATASETS["xquad"].item(lang="de")
    assert de.relpath == "xquad/xquad.de.json"
    assert de.url == "https://raw.githubusercontent.com/google-deepmind/xquad/master/xquad.de.json"
    deu, eng = tatoeba_items(["deu"])
    base = "https://raw.githubusercontent.com/facebookresearch/LASER/main/data/tatoeba/v1/"
    assert (deu.relpath, deu.url) == ("tatoeba/v1/tatoeba.deu-eng.deu", base + "tatoeba.deu-eng.deu")
    assert (eng.relpath, eng.url) == ("tatoeba/v1/tatoeba.deu-eng.eng", base + "tatoeba.deu-eng.eng")
    assert deu.sha256 != eng.sha256


def test_unknown_file_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"xquad/xquad\.klingon\.json.*not a known xquad file"):
        xquad_items(["klingon"])


def test_malformed_checksum_line_is_rejected() -> None:
    with pytest.raises(ValueError, match="line 2"):
        fetch_module._parse_sha256sum(f"{PAYLOAD_SHA}  a\nnot-a-digest  b\n", "test.sha256")


@needs_mirror("xquad")
def test_recorded_checksums_match_the_shared_mirror(tmp_path: Path) -> None:
    items = xquad_items(["en", "zh"]) + tatoeba_items(["deu"])
    paths = fetch_many(items, tmp_path, mirror=SHARED_DATA, progress=False)
    assert paths == [tmp_path / item.relpath for item in items]
    assert all(fetch_module.sha256_file(p) == item.sha256 for p, item in zip(paths, items))


def test_xnli_pawsx_mlqa_checksums_cover_their_dev_files() -> None:
    assert sorted(load_checksums("xnli")) == sorted(f"xnli/dev-{lang}.tsv" for lang in XNLI_LANGUAGES)
    assert len(XNLI_LANGUAGES) == 15 and len(PAWSX_LANGUAGES) == 7
    assert sorted(load_checksums("pawsx")) == sorted(f"pawsx/dev-{lang}.tsv" for lang in PAWSX_LANGUAGES)
    assert sorted(load_checksums("mlqa")) == sorted(f"mlqa/MLQA_V1/dev/dev-context-{c}-question-{q}.json"
                                                    for c in MLQA_LANGUAGES for q in MLQA_LANGUAGES)
    digests = [d for name in ("xnli", "pawsx", "mlqa") for d in load_checksums(name).values()]
    assert len(set(digests)) == len(digests) == 15 + 7 + 49


def test_xnli_pawsx_mlqa_urls_are_pinned_to_one_upstream_commit() -> None:
    (de,) = xnli_items(["de"])
    assert (de.relpath, de.url) == ("xnli/dev-de.tsv", MESH + "xnli/dev-de.tsv")
    (ja,) = pawsx_items(["ja"])
    assert (ja.relpath, ja.url) == ("pawsx/dev-ja.tsv", MESH + "pawsx/dev-ja.tsv")
    (g,) = mlqa_pair_items([("zh", "en")])
    assert g.relpath == "mlqa/MLQA_V1/dev/dev-context-zh-question-en.json"
    assert g.url == MESH + "mlqa/MLQA_V1/dev/dev-context-zh-question-en.json"
    assert len(MESH_COMMIT) == 40 and "/main/" not in g.url and "/master/" not in g.url
    with pytest.raises(ValueError, match=r"xnli/dev-xx\.tsv.*not a known xnli file"):
        xnli_items(["xx"])


def test_mlqa_items_are_english_each_language_and_its_gxlt_file() -> None:
    assert mlqa_pairs(["de", "hi"]) == [("en", "en"), ("de", "de"), ("hi", "hi"), ("de", "en"), ("hi", "en")]
    assert mlqa_pairs(["en", "de"], gxlt=False) == [("en", "en"), ("de", "de")]
    items = mlqa_items(MLQA_LANGUAGES)
    assert len(items) == 13 and len({i.relpath for i in items}) == 13
    assert {i.relpath.rsplit("/", 1)[1] for i in items} >= {f"dev-context-{x}-question-en.json"
                                                            for x in ("de", "es", "ar", "hi", "vi", "zh")}


@needs_mirror("mlqa")
def test_new_checksums_match_the_mirror_and_its_sha256sums(tmp_path: Path) -> None:
    items = xnli_items(XNLI_LANGUAGES) + pawsx_items(PAWSX_LANGUAGES) + mlqa_items(MLQA_LANGUAGES)
    paths = fetch_many(items, tmp_path, mirror=SHARED_DATA, progress=False)
    assert all(p.is_file() for p in paths) and len(paths) == 35
    for name, prefix in (("xnli", "xnli/"), ("pawsx", "pawsx/"), ("mlqa", "mlqa/")):
        upstream = fetch_module._parse_sha256sum((SHARED_DATA / name / "SHA256SUMS").read_text(), name)
        mirror_table = {prefix + path.removeprefix("./"): digest for path, digest in upstream}
        assert load_checksums(name).items() <= mirror_table.items()


@needs_mirror("pawsx")
def test_corrupt_copy_of_a_real_file_fails_naming_it_and_the_fix(tmp_path: Path) -> None:
    (item,) = pawsx_items(["fr"])
    mirror = tmp_path / "mirror"
    (mirror / "pawsx").mkdir(parents=True)
    data = bytearray((SHARED_DATA / item.relpath).read_bytes())
    data[100] ^= 0x20  # one flipped bit inside a sentence: same size, other bytes
    (mirror / item.relpath).write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"pawsx/dev-fr\.tsv: sha256 mismatch .*Fix: download it again") as caught:
        fetch_many([item], tmp_path / "raw", mirror=mirror, progress=False)
    assert caught.value.relpath == item.relpath and caught.value.expected == item.sha256
    assert not (tmp_path / "raw" / item.relpath).exists()


# ---------------------------------------------------------------- mirror


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    (root / "xquad").mkdir(parents=True)
    (root / RELPATH).write_bytes(PAYLOAD)
    return root


def test_mirror_copy_is_verified_and_idempotent(mirror: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "out" / "xx.json"
    assert fetch(RELPATH, dest, mirror=mirror, url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _leftovers(dest.parent) == ["xx.json"]

    def no_copy(*args: object) -> None:
        raise AssertionError("a verified file must not be fetched again")

    monkeypatch.setattr(fetch_module.shutil, "copyfile", no_copy)
    fetch(RELPATH, dest, mirror=str(mirror), url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA)


def test_relative_mirror_is_taken_from_the_cwd(mirror: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``XLT_MIRROR=../shared/data`` works: a relative mirror is resolved against the cwd when fetch reads it."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    dest = tmp_path / "out" / "xx.json"
    fetch(RELPATH, dest, mirror="../mirror", url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD
    with pytest.raises(MirrorError) as caught:
        fetch("xquad/xquad.de.json", tmp_path / "out" / "de.json", mirror="../mirror",
              url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA)
    assert str(mirror) in str(caught.value)  # the message names the absolute folder it looked in


def test_existing_file_with_wrong_bytes_is_replaced(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "xx.json"
    dest.write_bytes(b"stale")
    fetch(RELPATH, dest, mirror=mirror, url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA)
    assert dest.read_bytes() == PAYLOAD


def test_mirror_missing_file_names_file_and_layout(mirror: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "de.json"
    with pytest.raises(MirrorError, match=r"xquad/xquad\.de\.json.*layout of \.\./shared/data"):
        fetch("xquad/xquad.de.json", dest, mirror=mirror, url="http://unused.invalid/",
              expected_sha256=PAYLOAD_SHA)
    assert _leftovers(dest.parent) == []


def test_corrupt_mirror_copy_raises_and_leaves_no_file(mirror: Path, tmp_path: Path) -> None:
    corrupt = bytearray(PAYLOAD)
    corrupt[10] ^= 1
    (mirror / RELPATH).write_bytes(bytes(corrupt))
    dest = tmp_path / "out" / "xx.json"
    with pytest.raises(ChecksumError) as caught:
        fetch(RELPATH, dest, mirror=mirror, url="http://unused.invalid/", expected_sha256=PAYLOAD_SHA)
    message = str(caught.value)
    assert RELPATH in message and PAYLOAD_SHA in message
    assert hashlib.sha256(bytes(corrupt)).hexdigest() in message and "mirror" in message
    assert isinstance(caught.value, ValueError)
    assert _leftovers(dest.parent) == []


# ---------------------------------------------------------------- HTTP against a loopback server

Respond = Callable[[http.server.BaseHTTPRequestHandler, int], None]


def _send(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
          content_length: int | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(body) if content_length is None else content_length))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()


class _Server:
    """A loopback HTTP server whose answer to the n-th GET (0-based) is ``respond(handler, n)``."""

    def __init__(self, respond: Respond) -> None:
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                n = server.requests
                server.requests += 1
                respond(self, n)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{RELPATH}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[[Respond], _Server]]:
    servers: list[_Server] = []

    def start(respond: Respond) -> _Server:
        servers.append(_Server(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _get(server_url: str, dest: Path, **overrides: object) -> Path:
    options = {**FAST, **overrides}
    return fetch(RELPATH, dest, mirror=None, url=server_url, expected_sha256=PAYLOAD_SHA, **options)


def test_http_download_succeeds(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 200, PAYLOAD))
    dest = tmp_path / "out" / "xx.json"
    assert _get(server.url, dest) == dest
    assert dest.read_bytes() == PAYLOAD and server.requests == 1
    assert _leftovers(dest.parent) == ["xx.json"]


def test_empty_mirror_setting_means_download(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 200, PAYLOAD))
    dest = tmp_path / "xx.json"
    fetch(RELPATH, dest, mirror="", url=server.url, expected_sha256=PAYLOAD_SHA, **FAST)
    assert dest.read_bytes() == PAYLOAD


def test_http_retries_after_two_503s(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 503, b"busy") if n < 2 else _send(h, 200, PAYLOAD))
    dest = tmp_path / "xx.json"
    _get(server.url, dest, retries=4)
    assert dest.read_bytes() == PAYLOAD and server.requests == 3


def test_http_always_failing_stops_and_points_to_mirror(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 500, b"broken"))
    dest = tmp_path / "out" / "xx.json"
    with pytest.raises(DownloadError, match=r"XLT_MIRROR=/path/to/mirror"):
        _get(server.url, dest, retries=3)
    assert server.requests == 4
    assert _leftovers(dest.parent) == []


def test_http_404_is_not_retried(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 404, b"gone"))
    with pytest.raises(DownloadError, match=r"HTTP 404.*XLT_MIRROR"):
        _get(server.url, tmp_path / "xx.json", retries=3)
    assert server.requests == 1


def test_closed_port_points_to_mirror(tmp_path: Path) -> None:
    with socket.socket() as sock:  # take a free loopback port, then close it: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dest = tmp_path / "out" / "xx.json"
    with pytest.raises(DownloadError, match=r"failed 3 times.*XLT_MIRROR"):
        _get(f"http://127.0.0.1:{port}/{RELPATH}", dest)
    assert _leftovers(dest.parent) == []


def test_truncated_file_is_a_checksum_error_without_partial_file(serve, tmp_path: Path) -> None:
    # The server consistently serves a shorter file (e.g. a broken proxy cache): the transfer looks complete.
    server = serve(lambda h, n: _send(h, 200, PAYLOAD[: len(PAYLOAD) // 2]))
    dest = tmp_path / "out" / "xx.json"
    with pytest.raises(ChecksumError, match=RELPATH):
        _get(server.url, dest)
    assert _leftovers(dest.parent) == []


def test_connection_cut_mid_transfer_is_retried_then_fails_without_partial_file(serve, tmp_path: Path) -> None:
    # The server promises the full length but closes after half: every attempt is cut short.
    server = serve(lambda h, n: _send(h, 200, PAYLOAD[: len(PAYLOAD) // 2], content_length=len(PAYLOAD)))
    dest = tmp_path / "out" / "xx.json"
    with pytest.raises(DownloadError, match="XLT_MIRROR"):
        _get(server.url, dest, retries=1)
    assert server.requests == 2
    assert _leftovers(dest.parent) == []


def test_cut_transfer_then_success_recovers(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 200, PAYLOAD[:100], content_length=len(PAYLOAD)) if n == 0
                   else _send(h, 200, PAYLOAD))
    dest = tmp_path / "xx.json"
    _get(server.url, dest)
    assert dest.read_bytes() == PAYLOAD and server.requests == 2


def test_fetch_many_lays_files_out_like_a_mirror(serve, tmp_path: Path) -> None:
    server = serve(lambda h, n: _send(h, 200, PAYLOAD))
    items = [FetchItem(RELPATH, server.url, PAYLOAD_SHA), FetchItem("other/b.json", server.url, PAYLOAD_SHA)]
    paths = fetch_many(items, tmp_path / "raw", mirror=None, progress=False, **FAST)
    assert paths == [tmp_path / "raw" / RELPATH, tmp_path / "raw" / "other" / "b.json"]
    assert all(p.read_bytes() == PAYLOAD for p in paths)

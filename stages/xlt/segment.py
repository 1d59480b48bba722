"""Word segmentation with character offsets: ``words(text, lang) -> [(start, end), ...]``.

A word is a maximal run of word characters (``\\w``: letters, combining marks, digits; the ``regex`` package's
definition, so Devanagari vowel signs and Thai marks stay inside words), cut further where a script is written
without spaces between words:

* Thai runs: PyThaiNLP's dictionary tokenizer ``newmm`` (maximal matching over the Thai word list that ships
  inside the package; no model, no download).
* Han runs (Chinese): jieba's dictionary segmenter with its HMM for unknown words (dictionary shipped inside the
  package). The prefix dictionary is built in memory once per process and never cached to or read from a temp
  file, so a stale cache cannot change the output.
* Japanese: runs of one script (kanji, hiragana, katakana, anything else). A coarse stand-in: no Japanese
  segmenter is installed; Han runs in Japanese text are not given to jieba, whose dictionary is Chinese.
* Every other case: the ``\\w`` run as it is (words between spaces and punctuation), split where the script
  changes (``Panthersได้`` -> ``Panthers`` + ``ได้``).

Segmentation is by script, not only by language, so a Chinese name inside an English sentence is still cut by
jieba, and Latin words inside Chinese text stay whole. ``text[start:end]`` is always the word, and words never
overlap or contain whitespace or punctuation. Both segmenters are deterministic; they are imported on first use.
"""

from __future__ import annotations

import functools
import logging
import os
import threading

import regex

_WORD_RUN = regex.compile(r"\w+")
# Script of a character for segmentation purposes; anything else (Latin, Cyrillic, digits, ...) is "other".
_SCRIPT_OF = (("thai", regex.compile(r"\p{Script=Thai}")), ("han", regex.compile(r"\p{Script=Han}")),
              ("hiragana", regex.compile(r"\p{Script=Hiragana}")),
              ("katakana", regex.compile(r"[\p{Script=Katakana}ー]")))
_MARK = regex.compile(r"[\p{M}\u200c\u200d]")
_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def _script(char: str) -> str:
    for name, pattern in _SCRIPT_OF:
        if pattern.match(char):
            return name
    return "other"


def _script_runs(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """Same-script runs of text[start:end]; combining marks stay with the run before them."""
    runs: list[tuple[int, int, str]] = []
    for i in range(start, end):
        script = runs[-1][2] if runs and _MARK.match(text[i]) else _script(text[i])
        if runs and runs[-1][2] == script:
            runs[-1] = (runs[-1][0], i + 1, script)
        else:
            runs.append((i, i + 1, script))
    return runs


@functools.cache
def _thai_segmenter():
    # Read-only and offline: PyThaiNLP must neither create ~/pythainlp-data nor try to download anything.
    os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")
    os.environ.setdefault("PYTHAINLP_OFFLINE", "1")
    from pythainlp.tokenize.newmm import segment

    return segment


@functools.cache
def _chinese_tokenizer():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    with tokenizer.get_dict_file() as dictionary:  # what Tokenizer.initialize does, minus its temp-file cache
        tokenizer.FREQ, tokenizer.total = tokenizer.gen_pfdict(dictionary)
    tokenizer.initialized = True
    return tokenizer


def _pieces(run: str, script: str, lang: str) -> list[str]:
    """A same-script run cut into words (the pieces concatenate back to ``run``)."""
    if script == "thai":
        return _thai_segmenter()(run)
    if script == "han" and lang != "ja":
        with _LOCK:  # jieba's tokenizer is not documented as thread-safe
            return [word for word, _, _ in _chinese_tokenizer().tokenize(run, HMM=True)]
    return [run]


@functools.lru_cache(maxsize=65536)
def _words(text: str, lang: str) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for match in _WORD_RUN.finditer(text):
        for start, end, script in _script_runs(text, match.start(), match.end()):
            cursor = start
            for piece in _pieces(text[start:end], script, lang):
                if text[cursor:cursor + len(piece)] != piece:  # a segmenter that rewrote its input: a bug to see
                    raise RuntimeError(f"segmenter output {piece!r} does not match the text at {cursor}: {text!r}")
                spans.append((cursor, cursor + len(piece)))
                cursor += len(piece)
    return tuple(spans)


def words(text: str, lang: str) -> list[tuple[int, int]]:
    """Character offsets ``(start, end)`` of the words of ``text`` (in ``lang``), in order."""
    return list(_words(text, lang))


def word_strings(text: str, lang: str) -> list[str]:
    """The words themselves: ``[text[s:e] for s, e in words(text, lang)]``."""
    return [text[s:e] for s, e in _words(text, lang)]

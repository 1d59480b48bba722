"""Sentence-sized chunks of a multilingual paragraph, with offsets: the units the ``distractor`` family inserts
and inserts between. (``stages.xlt.data.derived`` has its own, English-only sentence splitter for the derived
English tasks; the two serve different data and are kept apart on purpose.)

A sentence ends after ``. ! ? ؟ । ॥`` (plus closing quotes/brackets) followed by whitespace, or right after the
full-width ``。！？`` (Chinese writes no space after them). Requiring whitespace after '.' keeps decimals (3.5)
and most abbreviations inside the sentence. Thai has no sentence punctuation: a space separates sentences *and*
phrases, so Thai text is split at spaces and pieces shorter than ``THAI_MIN_CHARS`` are merged with the next one,
giving sentence-sized chunks.
"""

from __future__ import annotations

import regex

THAI_MIN_CHARS = 40
_CLOSERS = "'\"\u201D\u2019\u300D\u300F)\\]"
_BOUNDARY = regex.compile(
    rf"(?:[.!?\u061F\u0964\u0965][{_CLOSERS}]*\s+)"  # . ! ? ؟ । ॥ need following whitespace
    rf"|(?:[\u3002\uFF01\uFF1F][{_CLOSERS}]*\s*)"  # 。！？ do not
)
_SPACES = regex.compile(r"\s+")


def _pieces(text: str, boundary: regex.Pattern) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in boundary.finditer(text):
        if match.end() > start and text[start:match.end()].strip():
            spans.append((start, match.end()))
            start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _merge_short(text: str, spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and len(text[merged[-1][0]:merged[-1][1]].strip()) < min_chars:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def chunk_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """(start, end) of each chunk (a sentence; in Thai, space-separated pieces merged to >= ``THAI_MIN_CHARS``);
    a span includes its trailing whitespace, so spans tile the text."""
    if lang == "th":
        return _merge_short(text, _pieces(text, _SPACES), THAI_MIN_CHARS)
    return _pieces(text, _BOUNDARY)


def sentence_chunks(text: str, lang: str) -> list[str]:
    """The chunks of ``text``, stripped."""
    return [text[s:e].strip() for s, e in chunk_spans(text, lang)]

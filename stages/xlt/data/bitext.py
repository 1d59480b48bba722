"""Cheap checks that a bitext set (Tatoeba, BUCC) holds what retrieval assumes: one (non-English, English) sentence
pair per row, in that order.

Both failures these catch are silent otherwise. A list where a sentence belongs is the older BUCC format (one row per
language pair, lists of sentences and gold index pairs): retrieval would embed a list's text. A reversed pair flips
the retrieval direction, so xx->en accuracy would be reported as en->xx.

* every row: both sides are non-empty strings; the English side (``sentence2``) is mostly ASCII letters. That
  catches a reversed pair for every language not written in Latin script.
* every file of a Latin-script language (whose rows pass the ASCII test either way): the English side must contain
  common English function words more often than the other side. That catches a reversed file; a single reversed
  Latin-script pair is not distinguishable this cheaply.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stages.xlt.languages import SCRIPTS

MIN_ASCII_SHARE = 0.5  # of the English side's letters; real English Tatoeba/BUCC sentences are ~100% ASCII
ENGLISH_WORDS = frozenset("the is are was were you he she we they it this that what and of to have has not".split())
_WORD = re.compile(r"[^\W\d_]+")


class BitextError(ValueError):
    """A bitext row or file is not a (non-English, English) pair of strings; one line naming the row and the fix."""


def _ascii_share(text: str) -> float | None:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    return sum(c.isascii() for c in letters) / len(letters)


def _has_english_word(text: str) -> bool:
    return any(word in ENGLISH_WORDS for word in _WORD.findall(text.lower()))


def check_rows(rows: Sequence[dict], *, lang: str, where: str) -> None:
    """Raise ``BitextError`` at the first row (or for the file) that breaks the (xx, en) string-pair layout."""
    for i, row in enumerate(rows):
        for column in ("sentence1", "sentence2"):
            value = row.get(column)
            if not isinstance(value, str):
                hint = (" (the older one-row-per-language-pair format with sentence lists, now mteb/BUCC)"
                        if isinstance(value, (list, tuple)) else "")
                raise BitextError(f"{where} row {i}: {column} is a {type(value).__name__}, not a sentence string"
                                  f"{hint}; fix: read the pinned revision, which holds one pair per row")
            if not value.strip():
                raise BitextError(f"{where} row {i}: {column} is empty; fix: read the pinned revision or drop "
                                  "the row upstream")
        share = _ascii_share(row["sentence2"])
        if share is not None and share < MIN_ASCII_SHARE:
            raise BitextError(f"{where} row {i}: the English side (sentence2) is {share:.0%} ASCII letters "
                              f"({row['sentence2'][:40]!r}): the pair looks reversed ({lang} first, English second "
                              "is the layout read); fix: check the columns of that revision")
    if SCRIPTS.get(lang) == "Latn" and rows:
        english = sum(_has_english_word(row["sentence2"]) for row in rows)
        other = sum(_has_english_word(row["sentence1"]) for row in rows)
        if other > english:
            raise BitextError(f"{where}: sentence1 reads as English more often than sentence2 ({other} vs {english} "
                              f"of {len(rows)} rows contain common English words): the columns look reversed "
                              f"({lang} first, English second is the layout read); fix: check that revision")

"""Grapheme clusters, scripts and the word-like units that perturbations edit.

Edits operate on extended grapheme clusters (the ``regex`` package's ``\\X``): combining marks, Devanagari/Thai
vowel signs, viramas and ZWJ/ZWNJ stay attached to their base letter, so no edit can orphan a mark.

Units: a *word* is a word of ``stages.xlt.segment.words`` (dictionary segmentation for Thai and Chinese, ``\\w``
runs elsewhere), reduced to its letters: each maximal run of letters (with their marks) of one script inside it is
a unit, so digits and underscores are never edited and ``Panthersได้`` gives a Latin and a Thai unit. Every unit
keeps its character offsets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import regex

from ..segment import words

SUPPORTED_SCRIPTS: tuple[str, ...] = ("Latin", "Cyrillic", "Greek", "Arabic", "Devanagari", "Thai", "Han")
NO_SPACE_SCRIPTS: frozenset[str] = frozenset({"Thai", "Han"})

# languages.py uses ISO 15924 codes; the regex package wants Unicode script names.
ISO15924_TO_SCRIPT: dict[str, str] = {
    "Latn": "Latin", "Cyrl": "Cyrillic", "Grek": "Greek", "Arab": "Arabic", "Deva": "Devanagari",
    "Thai": "Thai", "Hani": "Han",
}

_SCRIPT_PATTERNS = {name: regex.compile(rf"\p{{Script={name}}}") for name in SUPPORTED_SCRIPTS}
_LETTER_RUN = regex.compile(r"\p{L}[\p{L}\p{M}\u200c\u200d]*")
_CLUSTER = regex.compile(r"\X")


@functools.lru_cache(maxsize=65536)
def char_script(char: str) -> str | None:
    """The supported script of one character, or None (digits, punctuation, other scripts)."""
    for name, pattern in _SCRIPT_PATTERNS.items():
        if pattern.match(char):
            return name
    return None


def clusters(text: str) -> list[str]:
    """Extended grapheme clusters of ``text``."""
    return _CLUSTER.findall(text)


def cluster_boundaries(text: str) -> list[int]:
    """Offsets where a grapheme cluster starts, plus ``len(text)``."""
    return [m.start() for m in _CLUSTER.finditer(text)] + [len(text)]


@dataclass(frozen=True)
class Unit:
    """A word (its letters of one script) at text[start:end], as grapheme clusters."""

    start: int
    end: int
    script: str
    clusters: tuple[str, ...]


def _script_runs(start: int, word: str) -> list[Unit]:
    """Split a letter run into same-script runs (e.g. 'Panthersได้' -> Latin + Thai)."""
    runs: list[Unit] = []
    offset = start
    for cluster in clusters(word):
        script = char_script(cluster[0]) or "Other"
        if runs and runs[-1].script == script:
            last = runs[-1]
            runs[-1] = Unit(last.start, offset + len(cluster), script, last.clusters + (cluster,))
        else:
            runs.append(Unit(offset, offset + len(cluster), script, (cluster,)))
        offset += len(cluster)
    return runs


def word_units(text: str, lang: str) -> list[Unit]:
    """All units of ``text`` (in language ``lang``) in order, in any script (callers filter by ``script``)."""
    units: list[Unit] = []
    for start, end in words(text, lang):
        for match in _LETTER_RUN.finditer(text, start, end):
            units.extend(_script_runs(match.start(), match.group()))
    return units


def uses_spaces(lang_script: str) -> bool:
    """Whether a language's script (ISO 15924, as in languages.SCRIPTS) separates words by spaces."""
    return ISO15924_TO_SCRIPT.get(lang_script, "") not in NO_SPACE_SCRIPTS and lang_script != "Jpan"

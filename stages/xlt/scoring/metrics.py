"""Per-example QA and classification metrics, following MLQA's official evaluation script (as XTREME does).

What MLQA's `evaluate_mlqa.py` (v1) does, and we reproduce: lower-case; delete every Unicode punctuation
character (category P*) and ASCII `string.punctuation`; replace per-language articles by a space; tokenise on
whitespace, except Chinese, which uses MLQA's "mixed segmentation" (every CJK ideograph and punctuation mark
is its own token, runs of other characters are split on whitespace). EM compares the normalised strings;
F1 is the bag-of-tokens F1. Both take the maximum over the gold answers.

Where we extend MLQA (it only knows en/es/de/ar/hi/vi/zh and raises on anything else):
* Thai (no spaces between words) and Japanese are segmented like Chinese, one token per Thai/CJK/kana
  character. Character-level F1 is the usual choice for unsegmented scripts and needs no word segmenter,
  whose errors would otherwise become metric noise that differs between clean and perturbed text.
* Other languages (el, ro, ru, tr, ...) use whitespace tokens and no article removal, as MLQA does for hi.
* Arabic: MLQA's pattern `\\sال^|ال` removes *every* occurrence of "ال" (its first alternative can never
  match); we keep that exactly, so our numbers stay comparable with published MLQA/XTREME scores.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence

from stages.xlt.languages import SCRIPTS

PUNCTUATION: frozenset[str] = frozenset(
    {chr(i) for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)).startswith("P")}
    | set(string.punctuation)
)

# MLQA's article lists, verbatim (note: no "lo" in Spanish, no "các"/"có" in Vietnamese: MLQA omits them).
_ARTICLE_PATTERNS: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "ar": re.compile(r"\sال^|ال"),
}

# Scripts written without spaces between words: one token per character (MLQA's mixed segmentation for zh).
_CHARACTER_SEGMENTED_SCRIPTS = {"Hani", "Jpan", "Thai"}
# CJK Unified Ideographs (MLQA's own range for zh), hiragana/katakana, and Thai.
_SEGMENT_CHAR = re.compile(r"[\u4e00-\u9fa5\u3040-\u30ff\u0e00-\u0e7f]")


def _check_language(lang: str) -> None:
    if lang not in SCRIPTS:
        raise ValueError(
            f"unknown language {lang!r} for QA scoring: add it with its script to stages/xlt/languages.py SCRIPTS"
        )


def whitespace_tokenize(text: str) -> list[str]:
    return text.split()


def mixed_segmentation(text: str) -> list[str]:
    """MLQA's zh tokeniser: each ideograph (here also each Thai/kana char) or punctuation mark is a token."""
    tokens: list[str] = []
    pending = ""
    for char in text:
        if _SEGMENT_CHAR.match(char) or char in PUNCTUATION:
            tokens.extend(whitespace_tokenize(pending))
            pending = ""
            tokens.append(char)
        else:
            pending += char
    tokens.extend(whitespace_tokenize(pending))
    return tokens


def _tokenize(text: str, lang: str) -> list[str]:
    if SCRIPTS[lang] in _CHARACTER_SEGMENTED_SCRIPTS:
        return mixed_segmentation(text)
    return whitespace_tokenize(text)


def normalize_answer(text: str, lang: str) -> str:
    """Lower-case, strip punctuation and articles, re-join tokens with single spaces (MLQA order)."""
    _check_language(lang)
    text = text.lower()
    text = "".join(ch for ch in text if ch not in PUNCTUATION)
    if lang in _ARTICLE_PATTERNS:
        text = _ARTICLE_PATTERNS[lang].sub(" ", text)
    return " ".join(token for token in _tokenize(text, lang) if token.strip())


def _golds(golds: Sequence[str] | str) -> list[str]:
    if isinstance(golds, str):
        return [golds]
    if len(golds) == 0:
        raise ValueError("no gold answers given: every QA example needs at least one answer text")
    return list(golds)


def exact_match(prediction: str, golds: Sequence[str] | str, lang: str) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    normalized = normalize_answer(prediction, lang)
    return float(any(normalized == normalize_answer(gold, lang) for gold in _golds(golds)))


def _token_f1(prediction_tokens: list[str], gold_tokens: list[str]) -> float:
    common = Counter(prediction_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, golds: Sequence[str] | str, lang: str) -> float:
    """Bag-of-tokens F1 between the normalised prediction and each gold; the maximum over golds."""
    prediction_tokens = normalize_answer(prediction, lang).split()
    return max(_token_f1(prediction_tokens, normalize_answer(gold, lang).split()) for gold in _golds(golds))


def accuracy(prediction: int | str, label: int | str) -> float:
    """1.0 if the predicted label (class index, choice index or retrieved index) equals the gold one."""
    return float(prediction == label)

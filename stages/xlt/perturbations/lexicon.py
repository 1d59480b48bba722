"""Bilingual word lexicons from parallel sentences by Dice-coefficient co-occurrence alignment.

Classic association-based alignment (Smadja et al. 1996; Melamed 2000 calls it the baseline "competitive" method
without linking): count, over sentence pairs, how often a source token s and a target token t occur in the same
pair, and score  Dice(s, t) = 2 * c(s, t) / (c(s) + c(t))  (sentence-level counts, each token once per sentence).
Each source token with c(s, t) >= ``min_count`` gets its best-scoring target if Dice >= ``min_dice`` (ties: more
co-occurrences, then alphabetical). Tokens are lower-cased words for languages with spaces; for Chinese (and
Japanese) they are character unigrams and bigrams, since the text is unsegmented. Thai has no offline word
segmenter here and its character n-grams align to noise, so Thai tokens are its space-separated chunks (phrases):
the Thai lexicon is nearly empty by design and word-level code-switching barely touches Thai. Numbers are skipped.
With Tatoeba's 1000 pairs per language the lexicon covers frequent words only; that is its honest ceiling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from ..data.tatoeba import read_tatoeba
from ..languages import SCRIPTS
from .text_units import uses_spaces

_WORD = regex.compile(r"\w+")


def lexicon_tokens(text: str, lang: str) -> list[str]:
    """Lower-cased tokens in order: words, or character uni- and bigrams for unsegmented scripts."""
    # lower(), not casefold(): casefold turns Greek final sigma into medial sigma and German ß into ss.
    lowered = text.lower()
    if lang == "th":
        return [chunk for chunk in lowered.split() if not chunk.isdigit()]
    words = [w for w in _WORD.findall(lowered) if not w.isdigit()]
    if uses_spaces(SCRIPTS.get(lang, "Latn")):
        return words
    tokens: list[str] = []
    for run in words:
        tokens.extend(run)
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def build_lexicon(source_sentences: Sequence[str], target_sentences: Sequence[str], min_count: int = 3, *,
                  source_lang: str, target_lang: str, min_dice: float = 0.4) -> dict[str, str]:
    """{source token: target token} from line-aligned sentences (see the module docstring)."""
    if len(source_sentences) != len(target_sentences):
        raise ValueError(f"build_lexicon: {len(source_sentences)} source vs {len(target_sentences)} target "
                         "sentences; pass line-aligned parallel sentences")
    if min_count < 1:
        raise ValueError(f"build_lexicon: min_count must be >= 1, got {min_count}")
    source_counts: Counter[str] = Counter()
    target_counts: Counter[str] = Counter()
    pair_counts: Counter[tuple[str, str]] = Counter()
    for source, target in zip(source_sentences, target_sentences):
        source_types = set(lexicon_tokens(source, source_lang))
        target_types = set(lexicon_tokens(target, target_lang))
        source_counts.update(source_types)
        target_counts.update(target_types)
        pair_counts.update((s, t) for s in source_types for t in target_types)
    best: dict[str, tuple[float, int, str]] = {}
    for (s, t), together in pair_counts.items():
        if together < min_count:
            continue
        dice = 2.0 * together / (source_counts[s] + target_counts[t])
        # Sort key: higher Dice, then more co-occurrences, then alphabetically first target.
        key = (dice, together, t)
        if dice >= min_dice and (s not in best or (key[0], key[1]) > best[s][:2]
                                 or ((key[0], key[1]) == best[s][:2] and t < best[s][2])):
            best[s] = key
    return {s: best[s][2] for s in sorted(best)}


def tatoeba_lexicons(tatoeba_dir: str | Path, langs: Iterable[str], min_count: int = 3,
                     min_dice: float = 0.4) -> dict[tuple[str, str], dict[str, str]]:
    """Lexicons (lang, "en") and ("en", lang) for every non-English ``lang`` with a Tatoeba pair."""
    lexicons: dict[tuple[str, str], dict[str, str]] = {}
    for lang in langs:
        if lang == "en":
            continue
        pairs = read_tatoeba(tatoeba_dir, lang)
        source, english = [p["source"] for p in pairs], [p["target"] for p in pairs]
        lexicons[(lang, "en")] = build_lexicon(source, english, min_count, source_lang=lang, target_lang="en",
                                               min_dice=min_dice)
        lexicons[("en", lang)] = build_lexicon(english, source, min_count, source_lang="en", target_lang=lang,
                                               min_dice=min_dice)
    return lexicons

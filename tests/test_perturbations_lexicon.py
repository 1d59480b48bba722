"""Dice-coefficient lexicon induction on a corpus small enough to check by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.xlt.perturbations.lexicon import build_lexicon, lexicon_tokens, tatoeba_lexicons

GERMAN = ["der Hund schläft", "der Hund bellt", "die Katze schläft", "die Katze frisst", "ein Hund frisst"]
ENGLISH = ["the dog sleeps", "the dog barks", "the cat sleeps", "the cat eats", "a dog eats"]


def test_dice_alignment_recovers_the_content_words():
    lexicon = build_lexicon(GERMAN, ENGLISH, 2, source_lang="de", target_lang="en", min_dice=0.5)
    assert lexicon["hund"] == "dog"
    assert lexicon["katze"] == "cat"
    assert lexicon["schläft"] == "sleeps"
    assert lexicon["frisst"] == "eats"
    assert "bellt" not in lexicon  # seen once: below min_count


def test_min_count_and_threshold_filter_entries():
    strict = build_lexicon(GERMAN, ENGLISH, 3, source_lang="de", target_lang="en", min_dice=0.5)
    assert strict == {"hund": "dog"}


def test_unsegmented_languages_use_character_ngrams():
    assert lexicon_tokens("我们试试", "zh") == ["我", "们", "试", "试", "我们", "们试", "试试"]
    assert lexicon_tokens("Ναι, σωστός 42", "el") == ["ναι", "σωστός"]  # final sigma kept, numbers dropped


def test_misaligned_input_is_rejected():
    with pytest.raises(ValueError, match="line-aligned"):
        build_lexicon(GERMAN, ENGLISH[:2], 2, source_lang="de", target_lang="en")


TATOEBA = Path("/work/shared/data/tatoeba/v1")


@pytest.mark.skipif(not TATOEBA.exists(), reason="Tatoeba mirror not available")
def test_tatoeba_lexicons_translate_common_words():
    lexicons = tatoeba_lexicons(TATOEBA, ["de", "ru"])
    assert lexicons[("de", "en")]["und"] == "and"
    assert lexicons[("en", "de")]["week"] == "woche"
    assert lexicons[("ru", "en")]["очень"] == "very"
    assert len(lexicons[("de", "en")]) > 100

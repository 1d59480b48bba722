"""Bilingual lexicons by IBM Model 1 (both directions, intersected), on a corpus small enough to check by hand, and
on the mirror's Tatoeba pairs."""

from __future__ import annotations

import pytest

from pipeline_support import require_mirror
from stages.xlt.prepare import tatoeba_lexicons
from stages.xlt.perturbations.lexicon import (SKIP_FREQUENT, build_lexicon, frequent_words, lexicon_key,
                                              lexicon_tokens)

GERMAN = ["der Hund schläft", "der Hund bellt", "die Katze schläft", "die Katze frisst", "ein Hund frisst",
          "eine Katze bellt"]
ENGLISH = ["the dog sleeps", "the dog barks", "the cat sleeps", "the cat eats", "a dog eats", "a cat barks"]


def test_model1_alignment_recovers_the_words():
    lexicon = build_lexicon(GERMAN, ENGLISH, 2, source_lang="de", target_lang="en", skip_frequent=0)
    assert lexicon == {"bellt": "barks", "der": "the", "frisst": "eats", "hund": "dog", "katze": "cat",
                       "schläft": "sleeps"}  # "die"/"ein"/"eine": their best English word prefers another German
    reverse = build_lexicon(ENGLISH, GERMAN, 2, source_lang="en", target_lang="de", skip_frequent=0)
    assert reverse["dog"] == "hund" and reverse["cat"] == "katze"


def test_min_count_and_the_frequency_cut_filter_entries():
    assert "ein" not in build_lexicon(GERMAN, ENGLISH, 2, source_lang="de", target_lang="en", skip_frequent=0)
    assert frequent_words(GERMAN, "de", 3) == ["hund", "katze", "bellt"]  # 3, 3, then 2-sentence words a-z
    cut = build_lexicon(GERMAN, ENGLISH, 2, source_lang="de", target_lang="en", skip_frequent=2)
    assert "hund" not in cut and "katze" not in cut and cut["schläft"] == "sleeps"


def test_tokens_are_segmented_words_simplified_for_chinese():
    assert lexicon_tokens("我們試試看！2008年", "zh") == ["我们", "试试看", "年"]  # Traditional -> Simplified
    assert lexicon_tokens("ฉันไม่รู้ภาษาอังกฤษ", "th") == ["ฉัน", "ไม่", "รู้", "ภาษาอังกฤษ"]
    assert lexicon_tokens("ต่าง ๆ 20", "th") == ["ต่าง"]  # the repetition mark and numbers are no words
    assert lexicon_tokens("Ναι, σωστός 42", "el") == ["ναι", "σωστός"]  # final sigma kept, numbers dropped
    assert lexicon_key("國家", "zh") == "国家" and lexicon_key("Straße", "de") == "straße"


def test_misaligned_input_is_rejected():
    with pytest.raises(ValueError, match="line-aligned"):
        build_lexicon(GERMAN, ENGLISH[:2], 2, source_lang="de", target_lang="en")


@pytest.fixture(scope="module")
def lexicons():
    return tatoeba_lexicons(require_mirror("tatoeba", "v1"), ["de", "ru", "th", "zh"], both_directions=True)


def test_tatoeba_lexicons_translate_content_words(lexicons):
    assert lexicons[("de", "en")]["woche"] == "week" and lexicons[("en", "de")]["week"] == "woche"
    assert lexicons[("ru", "en")]["собака"] == "dog"
    assert len(lexicons[("de", "en")]) > 200


def test_thai_and_chinese_lexicons_are_word_level_and_sensible(lexicons):
    thai, chinese = lexicons[("th", "en")], lexicons[("zh", "en")]
    assert len(thai) > 100 and len(chinese) > 200
    assert thai["ภาษาอังกฤษ"] == "english" and thai["พรุ่งนี้"] == "tomorrow"
    assert chinese["房间"] == "room" and chinese["法语"] == "french"
    assert sum(len(key) >= 2 for key in chinese) > len(chinese) / 2  # words, not characters


def test_lexicons_leave_out_the_most_frequent_words(lexicons):
    from stages.xlt.data.tatoeba import read_tatoeba

    for lang in ("de", "th", "zh"):
        pairs = read_tatoeba(require_mirror("tatoeba", "v1"), lang)
        frequent = frequent_words([p["source"] for p in pairs], lang, SKIP_FREQUENT)
        assert not set(frequent) & set(lexicons[(lang, "en")]), lang
    assert "ich" not in lexicons[("de", "en")] and "ฉัน" not in lexicons[("th", "en")]
    assert "的" not in lexicons[("zh", "en")] and "我" not in lexicons[("zh", "en")]

"""MLQA-style normalisation, EM and F1 on hand-computed cases in several languages."""

import pytest

from stages.xlt.scoring.metrics import (exact_match, f1, f1_segmented, label_accuracy, mixed_segmentation,
                                       normalize_answer, score_prediction)


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("The Eiffel Tower!", "en", "eiffel tower"),
        ("an apple, a pear", "en", "apple pear"),
        ("Der große Hund", "de", "große hund"),
        ("einem Haus des Volkes", "de", "haus volkes"),
        ("los Reyes Católicos", "es", "reyes católicos"),
        ("¿Qué?", "es", "qué"),  # Unicode punctuation (¿) goes too
        ("lo mejor", "es", "lo mejor"),  # MLQA's Spanish list has no "lo"
        ("الكتاب الأحمر", "ar", "كتاب أحمر"),  # MLQA removes every "ال"
        ("những cái bàn", "vi", "bàn"),
        ("भारत का संविधान।", "hi", "भारत का संविधान"),  # danda is punctuation; Hindi has no articles
        ("北京大学，2008年", "zh", "北 京 大 学 2008 年"),  # mixed segmentation: ideographs alone, digits whole
        ("«Москва»", "ru", "москва"),
        ("The", "de", "the"),  # articles are per language
    ],
)
def test_normalize_answer(text, lang, expected):
    assert normalize_answer(text, lang) == expected


def test_thai_uses_whitespace_tokens_as_mlqa_and_xtreme():
    assert normalize_answer("กรุงเทพ มหานคร", "th").split() == ["กรุงเทพ", "มหานคร"]
    assert normalize_answer("東京に住んでいます", "ja").split() == list("東京に住んでいます")  # ja: like zh, kana too


@pytest.mark.parametrize(
    ("prediction", "gold", "whitespace", "segmented"),
    [
        # newmm: ทีม|รับ|ของ|แพน|เธอร์ส vs แพน|เธอร์ส -> overlap 2, P = 2/5, R = 1 -> F1 = 4/7; one token each: 0
        ("ทีมรับของแพนเธอร์ส", "แพนเธอร์ส", 0.0, 4 / 7),
        # ในขณะที่|เป็น|ผู้นำ vs เป็น|ผู้นำ -> P = 2/3, R = 1 -> F1 = 0.8
        ("ในขณะที่เป็นผู้นำ", "เป็นผู้นำ", 0.0, 0.8),
        # the space already separates the two words: both conventions give P = 1/2, R = 1 -> 2/3
        ("กรุงเทพ มหานคร", "กรุงเทพ", 2 / 3, 2 / 3),
        # กรุงเทพมหานคร is one dictionary word: no partial credit either way
        ("กรุงเทพมหานคร", "กรุงเทพ", 0.0, 0.0),
    ],
)
def test_thai_f1_whitespace_and_segmented(prediction, gold, whitespace, segmented):
    assert f1(prediction, [gold], "th") == pytest.approx(whitespace)
    assert f1_segmented(prediction, [gold], "th") == pytest.approx(segmented)


@pytest.mark.parametrize(("prediction", "golds", "lang"), [
    ("the big cat", ["a big dog"], "en"), ("北京大学", ["北京"], "zh"), ("في الكتاب", ["الكتاب"], "ar"),
])
def test_segmented_f1_equals_f1_outside_thai(prediction, golds, lang):
    assert f1_segmented(prediction, golds, lang) == f1(prediction, golds, lang)


def test_mixed_segmentation_keeps_latin_runs():
    assert mixed_segmentation("在GPU上") == ["在", "GPU", "上"]


def test_exact_match_takes_any_gold():
    assert exact_match("the Eiffel tower.", ["Louvre", "Eiffel Tower"], "en") == 1.0
    assert exact_match("Eiffel", ["Eiffel Tower"], "en") == 0.0
    assert exact_match("Die Katze", "katze", "de") == 1.0


@pytest.mark.parametrize(
    ("prediction", "golds", "lang", "expected"),
    [
        ("the big cat", ["a big dog"], "en", 0.5),  # {big,cat} vs {big,dog}: P=R=1/2
        ("big cat", ["big", "big cat sat"], "en", 0.8),  # max(2/3, 0.8)
        ("Der große Hund", ["großer Hund"], "de", 0.5),
        ("el rey de España", ["rey"], "es", 0.5),  # {rey,de,españa} vs {rey}: P=1/3, R=1
        ("北京大学", ["北京"], "zh", 2 / 3),  # 4 vs 2 characters, overlap 2
        ("กรุงเทพ", ["กรุง"], "th", 0.0),  # whitespace tokens: one token each, different
        ("สนาม กีฬา", ["กีฬา"], "th", 2 / 3),
        ("في الكتاب", ["الكتاب"], "ar", 2 / 3),  # {في,كتاب} vs {كتاب}
        ("những ngôi nhà", ["ngôi nhà đẹp"], "vi", 0.8),  # 2 vs 3 tokens, overlap 2
        ("भारत का संविधान", ["संविधान"], "hi", 0.5),
        ("nothing", ["else"], "en", 0.0),
        ("the", ["a"], "en", 0.0),  # both normalise to nothing: no overlap
    ],
)
def test_f1(prediction, golds, lang, expected):
    assert f1(prediction, golds, lang) == pytest.approx(expected)


def test_one_prediction_is_scored_with_its_family_metric():
    assert label_accuracy(2, {"label": 2}, "de") == 1.0 and label_accuracy("1", {"label": 2}, "de") == 0.0
    example = {"answers": {"text": ["the Normans"]}}
    assert score_prediction("answer_f1", "Normans", example, "en") == 1.0  # articles are dropped in English
    assert score_prediction("label_accuracy", 0, {"label": 1}, "en") == 0.0
    assert score_prediction("word_accuracy", [3, 1, -1, 2], {"tags": [3, 0, 5, 2]}, "de") == 0.5  # -1: cut off
    with pytest.raises(ValueError, match="no per-prediction scorer"):
        score_prediction("bleu", "x", example, "en")


def test_bad_input_raises():
    with pytest.raises(ValueError, match="unknown language"):
        normalize_answer("x", "xx")
    with pytest.raises(ValueError, match="no gold answers"):
        f1("x", [], "en")

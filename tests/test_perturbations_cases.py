"""Hand-made cases per family, where we know what must happen, and the API's error messages."""

from __future__ import annotations

import pytest

from stages.xlt.perturbations import FAMILIES_BY_KIND, PerturbationContext, knob_defaults, perturb_examples
from stages.xlt.perturbations.sentence_chunks import sentence_chunks
from stages.xlt.perturbations.spans import edit_outside_answers, insert_text
from stages.xlt.perturbations.strength import chrf
from stages.xlt.perturbations.text_units import clusters, word_units
from stages.xlt.perturbations.typos import neighbour_letters, typo_text


def make_example(context: str, question: str, answer: str, *, id_: str = "q1", lang: str = "en",
                 article: str = "Normans") -> dict:
    return {"id": id_, "article": article, "lang": lang, "context": context, "question": question,
            "answers": {"text": [answer], "answer_start": [context.index(answer)]}}


PARAGRAPH = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy. "
             "They were descended from Norse raiders and pirates. The Norman dynasty had a major political impact.")
EXAMPLE = make_example(PARAGRAPH, "In what country is Normandy located?", "10th and 11th centuries")


# ---------------------------------------------------------------- segmentation

def test_graphemes_keep_devanagari_and_thai_signs_on_their_base():
    assert clusters("हिन्दी") == ["हि", "न्दी"]
    assert "กี่" in clusters("เกี่ยว")


def test_thai_and_han_units_are_dictionary_words():
    assert ["".join(u.clusters) for u in word_units("黑豹队的防守丢了多少分？", "zh")] == [
        "黑豹", "队", "的", "防守", "丢", "了", "多少", "分"]
    assert ["".join(u.clusters) for u in word_units("ทีมรับของแพนเธอร์ส 308", "th")] == [
        "ทีม", "รับ", "ของ", "แพน", "เธอร์ส"]  # digits are no unit
    assert [u.script for u in word_units("Panthersได้", "th")] == ["Latin", "Thai"]


def test_sentence_splitting_for_each_terminator():
    assert sentence_chunks("Es 3.5 m. ¿Dónde? Sí!", "es") == ["Es 3.5 m.", "¿Dónde?", "Sí!"]
    assert sentence_chunks("我们试试。你在干什么？好", "zh") == ["我们试试。", "你在干什么？", "好"]
    assert sentence_chunks("यह है। वह था।", "hi") == ["यह है।", "वह था।"]
    assert sentence_chunks("ما هذا؟ لا شيء.", "ar") == ["ما هذا؟", "لا شيء."]
    thai = "ทีมรับของแพนเธอร์สถอดใจที่คะแนน 308 ได้อันดับที่หกของลีก ในขณะที่เป็นผู้นำ"
    assert "".join(s.replace(" ", "") for s in sentence_chunks(thai, "th")) == thai.replace(" ", "")


# ---------------------------------------------------------------- typos

def test_keyboard_neighbours_are_adjacent_keys_and_keep_case():
    assert set(neighbour_letters("s", "Latin")) == set("adwezx")
    assert neighbour_letters("S", "Latin").isupper()
    assert "ц" in neighbour_letters("й", "Cyrillic")
    assert all("\u0915" <= c <= "\u0939" for c in neighbour_letters("क", "Devanagari"))


def test_typos_at_full_rate_edit_every_eligible_word_but_not_the_answer():
    (out,) = perturb_examples([EXAMPLE], "typos", seed=3, rate=1.0)
    assert "10th and 11th centuries" in out["context"]
    start = out["answers"]["answer_start"][0]
    assert out["context"][start:start + len("10th and 11th centuries")] == "10th and 11th centuries"
    assert out["question"] != EXAMPLE["question"]
    # every eligible (>= 2 letters) question word is edited once: none of them survives intact
    assert not {"what", "country", "Normandy", "located"} & set(out["question"].rstrip("?").split())
    assert out["perturbation"]["edits"] >= 5
    assert out["perturbation"]["chrf"] < 100.0 and out["perturbation"]["applied"] is True


def test_typos_on_chinese_edit_whole_segmented_words():
    import random
    text = "黑豹队的防守丢了多少分？"
    counts: dict[str, int] = {}
    edited = typo_text(text, 1.0, random.Random(0), lang="zh", counts=counts)
    assert edited != text and edited.endswith("？")
    assert sum(counts.values()) == 8  # one edit per jieba word (黑豹/队/的/防守/丢/了/多少/分), not per 2 characters


def test_typos_rate_zero_is_identity_and_fields_are_respected():
    (clean,) = perturb_examples([EXAMPLE], "typos", seed=1, rate=0.0)
    assert clean["context"] == EXAMPLE["context"] and clean["question"] == EXAMPLE["question"]
    assert clean["perturbation"]["chrf"] == 100.0
    assert clean["perturbation"]["applied"] is False and clean["perturbation"]["reason"] == "rate is 0"
    (question_only,) = perturb_examples([EXAMPLE], "typos", seed=1, rate=1.0, fields=["question"])
    assert question_only["context"] == EXAMPLE["context"] and question_only["question"] != EXAMPLE["question"]


def test_typos_on_hindi_keep_vowel_signs_attached():
    import random
    edited = typo_text("पैंथर्स डिफ़ेंस ने कितने अंक दिए", 1.0, random.Random(0), lang="hi")
    assert edited != "पैंथर्स डिफ़ेंस ने कितने अंक दिए"
    for word in edited.split():
        assert not __import__("unicodedata").category(word[0]).startswith("M")


def test_context_edits_remap_offsets_of_several_answers():
    example = make_example("aa bb cc dd ee", "q", "cc")
    example["answers"] = {"text": ["cc", "dd ee"], "answer_start": [6, 9]}
    out = edit_outside_answers(example, lambda free: free.upper() + "xyz")
    assert out["context"] == "AA BB xyzcc xyzdd eexyz"
    assert out["answers"]["answer_start"] == [9, 15]


def test_insert_text_shifts_answers_after_the_point_and_refuses_inside():
    out = insert_text(EXAMPLE, 0, "Hi. ")
    assert out["answers"]["answer_start"][0] == EXAMPLE["answers"]["answer_start"][0] + 4
    with pytest.raises(ValueError, match="inside a gold answer"):
        insert_text(EXAMPLE, EXAMPLE["answers"]["answer_start"][0] + 2, "x")


# ---------------------------------------------------------------- distractor

POOL = [
    make_example("Paris is large. In what country is Lyon located? France has many cities.", "q", "Paris",
                 id_="p1", article="France"),
    make_example("Normandy is in France. Bananas are yellow.", "q", "Bananas", id_="p2", article="Food"),
    make_example("In what country is Normandy located? It is in France.", "q", "France", id_="p3",
                 article="Normans"),  # same article as EXAMPLE: must never be used
]


@pytest.mark.parametrize("position", ["start", "end", "random"])
def test_distractor_inserts_the_most_overlapping_allowed_sentence(position):
    context = PerturbationContext(pool_by_lang={"en": POOL})
    (out,) = perturb_examples([EXAMPLE], "distractor", seed=0, context=context, position=position)
    assert out["perturbation"]["sentence"] == "In what country is Lyon located?"
    assert out["perturbation"]["source_article"] == "France"
    if position == "start":
        assert out["context"].startswith("In what country is Lyon located? The Normans")
    if position == "end":
        assert out["context"].endswith("political impact. In what country is Lyon located?")
    start = out["answers"]["answer_start"][0]
    assert out["context"][start:].startswith("10th and 11th centuries")


def test_distractor_skips_sentences_containing_the_answer():
    example = make_example("Lyon is a city on the Rhône.", "In what country is Lyon located?", "Lyon",
                           article="Other")
    context = PerturbationContext(pool_by_lang={"en": POOL})
    (out,) = perturb_examples([example], "distractor", seed=0, context=context, position="end")
    # the best-overlapping sentence ("In what country is Lyon located?") contains the answer, so another is used
    assert out["perturbation"]["applied"]
    assert "lyon" not in out["perturbation"]["sentence"].lower()


def test_distractor_for_chinese_uses_character_bigrams():
    pool = [make_example("香蕉是黄色的。诺曼底位于哪个国家的北部？", "q", "香蕉", lang="zh", article="B")]
    example = make_example("诺曼人在十世纪来到诺曼底。", "诺曼底位于哪个国家？", "十世纪", lang="zh")
    (out,) = perturb_examples([example], "distractor", seed=0, context=PerturbationContext(pool_by_lang={"zh": pool}),
                        position="end")
    assert out["context"] == "诺曼人在十世纪来到诺曼底。诺曼底位于哪个国家的北部？"


# ---------------------------------------------------------------- code-switching

def test_codeswitch_question_swaps_in_the_parallel_question():
    german = make_example("Die Normannen gaben der Normandie ihren Namen.", "Wo liegt die Normandie?", "Normannen",
                          lang="de")
    parallel = {"en": {"q1": EXAMPLE}}
    (out,) = perturb_examples([german], "codeswitch_question", seed=0, context=PerturbationContext(parallel=parallel))
    assert out["question"] == EXAMPLE["question"] and out["context"] == german["context"]
    assert out["perturbation"]["applied"] and out["perturbation"]["chrf_question"] < 50
    (same,) = perturb_examples([EXAMPLE], "codeswitch_question", seed=0, context=PerturbationContext(parallel=parallel))
    assert same["question"] == EXAMPLE["question"] and same["perturbation"]["applied"] is False


def test_codeswitch_words_translates_from_the_lexicon_keeping_case():
    lexicons = {("en", "de"): {"what": "was", "country": "land", "is": "ist", "normandy": "normandy"}}
    (out,) = perturb_examples([EXAMPLE], "codeswitch_words", seed=0, context=PerturbationContext(lexicons=lexicons),
                        rate=1.0, target_lang="de")
    assert out["question"] == "In was land ist Normandy located?"
    assert out["perturbation"]["n_translatable"] == 3 and out["perturbation"]["n_words"] == 6
    assert out["perturbation"]["n_replaced"] == 3 and out["perturbation"]["replaced"] == ["what", "country", "is"]


def test_codeswitch_words_switches_whole_segmented_words_and_at_least_min_words():
    question = "黑豹队的防守丢了多少分？"
    example = {"id": "z1", "article": "A", "lang": "zh", "context": "黑豹队。", "question": question,
               "answers": {"text": ["黑豹队"], "answer_start": [0]}}
    context = PerturbationContext(lexicons={("zh", "en"): {"防守": "defense", "防": "guard", "分": "points"}})
    (one,) = perturb_examples([example], "codeswitch_words", seed=0, context=context, rate=0.01, min_words=1)
    assert one["perturbation"]["n_replaced"] == 1 and one["perturbation"]["n_translatable"] == 2
    assert one["question"] in ("黑豹队的 defense 丢了多少分？", "黑豹队的防守丢了多少 points？")
    (none,) = perturb_examples([example], "codeswitch_words", seed=0, context=context, rate=0.01, min_words=0)
    assert none["question"] == question and none["perturbation"]["applied"] is False
    (both,) = perturb_examples([example], "codeswitch_words", seed=0, context=context, rate=1.0)
    assert both["question"] == "黑豹队的 defense 丢了多少 points？"  # 防 alone is not a word here: never switched
    (zero,) = perturb_examples([example], "codeswitch_words", seed=0, context=context, rate=0.0, min_words=1)
    assert zero["question"] == question and zero["perturbation"]["reason"] == "rate is 0"


# ---------------------------------------------------------------- strength and API errors

def test_chrf_is_100_for_identity_and_lower_for_changes():
    assert chrf("abc def", "abc def") == 100.0
    assert chrf("the quick brown fox", "teh quikc brown fox") < chrf("the quick brown fox", "the quick brown fxo")


def test_registry_and_parameters():
    assert set(FAMILIES_BY_KIND["qa"]) == {"typos", "distractor", "codeswitch_question", "codeswitch_words"}
    assert knob_defaults("typos", "qa")["rate"] == 0.15
    assert knob_defaults("typos", "pair")["fields"] == ("text_a", "text_b")


@pytest.mark.parametrize("family, params, message", [
    ("nonsense", {}, "unknown perturbation family"),
    ("typos", {"rate": -0.1}, "rate must be a fraction"),
    ("typos", {"rate": 1.5}, "rate must be a fraction"),
    ("typos", {"fields": ["title"]}, "fields must be"),
    ("typos", {"strength": 2}, "has no parameter"),
    ("distractor", {"position": "middle"}, "position must be one of"),
    ("codeswitch_words", {"rate": 2.0}, "rate must be a fraction"),
    ("codeswitch_words", {"target_lang": "xx"}, "no lexicon"),
    ("codeswitch_words", {"min_words": -1}, "min_words must be"),
    ("codeswitch_question", {"question_lang": "de"}, "no 'de' question"),
])
def test_bad_arguments_raise_clear_value_errors(family, params, message):
    with pytest.raises(ValueError, match=message):
        perturb_examples([EXAMPLE], family, seed=0, context=PerturbationContext(pool_by_lang={"en": POOL}), **params)


def test_misplaced_answer_is_rejected():
    broken = {**EXAMPLE, "answers": {"text": ["Normans"], "answer_start": [0]}}
    with pytest.raises(ValueError, match="is not at context"):
        perturb_examples([broken], "typos", seed=0)

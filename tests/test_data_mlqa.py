"""MLQA: id/article relations across the language and G-XLT files, clusters, and the split by English article."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from pipeline_support import mirror_dir, needs_mirror as _needs_mirror, require_mirror
from stages.xlt.data.mlqa import mlqa_path, prepare_mlqa, read_mlqa
from stages.xlt.languages import MLQA_LANGUAGES

MIRROR = mirror_dir()
DEV = MIRROR / "mlqa" / "MLQA_V1" / "dev" if MIRROR is not None else None
needs_mirror = _needs_mirror("mlqa", "MLQA_V1", "dev")
SIZES = {"en": 1148, "de": 512, "es": 500, "ar": 517, "hi": 507, "vi": 511, "zh": 504}


# ---------------------------------------------------------------- synthetic files


def _qa(qid, question, context, answer):
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}


def _file(folder: Path, context_lang, question_lang, articles):
    """articles: [(title, [(context, [(id, question, answer)])])]"""
    data = [{"title": title, "paragraphs": [{"context": c, "qas": [_qa(i, q, c, a) for i, q, a in qas]}
                                            for c, qas in paragraphs]}
            for title, paragraphs in articles]
    path = mlqa_path(folder, context_lang, question_lang)
    path.write_text(json.dumps({"version": "1.0", "data": data}, ensure_ascii=False), encoding="utf-8")


EN = [("Paris", [("Paris is big. It has a river.", [("q1", "Is Paris big?", "big"), ("q2", "River?", "river")]),
                 ("Paris has a tower.", [("q3", "What does it have?", "tower")])]),
      ("Bern", [("Bern is small.", [("q4", "Is Bern small?", "small")])])]
DE = [("Paris (Stadt)", [("Paris ist groß. Es hat einen Fluss und einen Turm.",
                          [("q1", "Ist Paris groß?", "groß"), ("q3", "Was hat es?", "Turm")])])]
DE_EN = [("Paris (Stadt)", [("Paris ist groß. Es hat einen Fluss und einen Turm.",
                             [("q1", "Is Paris big?", "groß"), ("q3", "What does it have?", "Turm")])])]


@pytest.fixture
def synthetic(tmp_path):
    _file(tmp_path, "en", "en", EN)
    _file(tmp_path, "de", "de", DE)
    _file(tmp_path, "de", "en", DE_EN)
    return tmp_path


def test_synthetic_articles_clusters_and_gxlt(synthetic):
    data = read_mlqa(synthetic, ["de"])
    assert [(e["id"], e["article"], e["cluster"]) for e in data.english] == [
        ("q1", "Paris", "mlqa:Paris"), ("q2", "Paris", "mlqa:Paris"), ("q3", "Paris", "mlqa:Paris"),
        ("q4", "Bern", "mlqa:Bern")]
    # one German paragraph holds questions of two English paragraphs: the cluster is the English article
    de = data.native["de"]
    assert [(e["id"], e["article"], e["native_article"], e["cluster"]) for e in de] == [
        ("q1", "Paris", "Paris (Stadt)", "mlqa:Paris"), ("q3", "Paris", "Paris (Stadt)", "mlqa:Paris")]
    cross = data.gxlt["de"]
    assert [(e["id"], e["lang"], e["question_lang"], e["question"], e["cluster"]) for e in cross] == [
        ("q1", "de", "en", "Is Paris big?", "mlqa:Paris"), ("q3", "de", "en", "What does it have?", "mlqa:Paris")]
    assert [e["context"] for e in cross] == [e["context"] for e in de]


def test_german_id_missing_from_english_is_an_error(synthetic):
    _file(synthetic, "de", "de", [("X", [("Berlin ist groß.", [("q9", "Groß?", "groß")])])])
    with pytest.raises(ValueError, match=r"dev-context-de-question-de\.json: question 'q9' is not in the English"):
        read_mlqa(synthetic, ["de"], gxlt=False)


def test_article_spanning_two_english_articles_is_an_error(synthetic):
    _file(synthetic, "de", "de", [("Mix", [("Paris ist groß. Bern ist klein.",
                                             [("q1", "Groß?", "groß"), ("q4", "Klein?", "klein")])])])
    with pytest.raises(ValueError, match=r"article 'Mix' holds questions of 2 English articles"):
        read_mlqa(synthetic, ["de"], gxlt=False)


@pytest.mark.parametrize("change,match", [
    (lambda a: a[0][1][0][1].pop(), "question ids are not those of the same-language file"),
    (lambda a: a[0][1][0][1].__setitem__(0, ("q1", "Ist Paris groß?", "groß")), "not the English file's question"),
])
def test_gxlt_file_must_match_the_language_and_english_files(synthetic, change, match):
    articles = json.loads(json.dumps(DE_EN))
    change(articles)
    _file(synthetic, "de", "en", articles)
    with pytest.raises(ValueError, match=r"dev-context-de-question-en\.json: .*" + match):
        read_mlqa(synthetic, ["de"])


# ---------------------------------------------------------------- the mirror


@pytest.fixture(scope="module")
def mlqa():
    return read_mlqa(require_mirror("mlqa", "MLQA_V1", "dev"), MLQA_LANGUAGES)


@needs_mirror
def test_real_id_relations(mlqa):
    assert {lang: len(v) for lang, v in mlqa.native.items()} == SIZES
    english = {e["id"]: e for e in mlqa.english}
    assert len({e["article"] for e in mlqa.english}) == 520
    languages_of = Counter(e["id"] for examples in mlqa.native.values() for e in examples)
    assert set(languages_of) == set(english)  # every non-English id is an English id, and vice versa covered
    assert Counter(languages_of.values()) == {2: 65, 3: 263, 4: 820}  # no id in all 7 languages
    for lang, examples in mlqa.native.items():
        for e in examples:  # translations of a question share article and cluster
            assert (e["article"], e["cluster"]) == (english[e["id"]]["article"], english[e["id"]]["cluster"])
            assert e["lang"] == lang
    for lang, cross in mlqa.gxlt.items():
        own = {e["id"]: e for e in mlqa.native[lang]}
        assert [e["id"] for e in cross] == [e["id"] for e in mlqa.native[lang]]
        for e in cross:
            assert e["question"] == english[e["id"]]["question"] and e["context"] == own[e["id"]]["context"]
            assert e["cluster"] == own[e["id"]]["cluster"] and e["lang"] == lang and e["question_lang"] == "en"
    assert sorted(mlqa.gxlt) == sorted(set(MLQA_LANGUAGES) - {"en"})


def _leaks(out: dict, data) -> list[str]:
    """Ways a test question could reach training: its id, its article, or an English paragraph, in any language
    (the train set is English; a question of any language shares its id with its English original)."""
    train_ids = {e["id"] for e in out["train"]}
    train_articles = {e["article"] for e in out["train"]}
    train_contexts = {e["context"] for e in out["train"]}
    english = {e["id"]: e for e in data.english}
    problems = []
    for name, per_lang in (("test", out["test"]), ("gxlt", out["gxlt"])):
        for lang, rows in per_lang.items():
            for e in rows:
                if e["id"] in train_ids or e["article"] in train_articles or e["cluster"] in {
                        f"mlqa:{a}" for a in train_articles}:
                    problems.append(f"{name} {lang} {e['id']}: id or article in train")
                if english[e["id"]]["context"] in train_contexts:
                    problems.append(f"{name} {lang} {e['id']}: English paragraph in train")
    # every translation of a training question, in every file read, belongs to a non-test article
    test_articles = set(out["split"]["test"])
    for examples in [*data.native.values(), *data.gxlt.values()]:
        problems += [f"{e['lang']} {e['id']}: translation of a train question in a test article"
                     for e in examples if e["id"] in train_ids and e["article"] in test_articles]
    return problems


@needs_mirror
def test_real_split_by_english_article_never_leaks(mlqa):
    out = prepare_mlqa(DEV, MLQA_LANGUAGES, seed=5, n_test_articles=200)
    split = out["split"]
    assert len(split["test"]) == 200 and len(split["train"]) == 320 and not set(split["test"]) & set(split["train"])
    assert _leaks(out, mlqa) == []
    assert {e["lang"] for e in out["train"]} == {"en"}
    english_test = {e["id"] for e in out["test"]["en"]}
    for lang, rows in out["test"].items():
        assert {e["lang"] for e in rows} == {lang}
        assert {e["id"] for e in rows} <= english_test  # paired with English by id
        assert {e["article"] for e in rows} <= set(split["test"])
        all_of_lang = [e for e in mlqa.native[lang] if e["article"] in set(split["test"])]
        assert len(rows) == len(all_of_lang)  # align="english": each language keeps all its test questions
    for lang, cross in out["gxlt"].items():
        assert [e["id"] for e in cross] == [e["id"] for e in out["test"][lang]]
    assert split["questions"]["train"] + len(out["test"]["en"]) == 1148
    json.dumps(split)
    # the leak check can fail: a split on questions rather than articles puts articles on both sides
    questions = [e["id"] for e in mlqa.english]
    random.Random(0).shuffle(questions)
    naive_test = set(questions[:400])
    naive = {"train": [e for e in mlqa.english if e["id"] not in naive_test],
             "test": {lang: [e for e in v if e["id"] in naive_test] for lang, v in mlqa.native.items()},
             "gxlt": {}, "split": {"test": sorted({e["article"] for e in mlqa.english if e["id"] in naive_test})}}
    assert any("id or article in train" in p for p in _leaks(naive, mlqa))


@needs_mirror
def test_real_intersection_alignment_and_caps(mlqa):
    out = prepare_mlqa(DEV, ["en", "de", "es"], seed=5, n_test_articles=200, align="intersection")
    ids = {lang: [e["id"] for e in rows] for lang, rows in out["test"].items()}
    assert ids["en"] and ids["de"] == ids["en"] and ids["es"] == ids["en"]  # same ids, same (English) order
    assert [e["id"] for e in out["gxlt"]["de"]] == ids["de"]
    assert _leaks(out, mlqa) == []
    with pytest.raises(ValueError, match="no MLQA test question is in all of"):
        prepare_mlqa(DEV, MLQA_LANGUAGES, seed=5, n_test_articles=200, align="intersection")

    capped = prepare_mlqa(DEV, MLQA_LANGUAGES, seed=5, n_test_articles=200, max_test=150, max_train=300)
    size = Counter(e["article"] for e in mlqa.english)
    assert 140 <= len(capped["test"]["en"]) <= 150 and 290 <= len(capped["train"]) <= 300
    for rows in (capped["test"]["en"], capped["train"]):  # whole articles only
        assert all(n == size[a] for a, n in Counter(e["article"] for e in rows).items())
    kept = {e["id"] for e in capped["test"]["en"]}
    for lang in MLQA_LANGUAGES:
        full = [e for e in mlqa.native[lang] if e["id"] in kept]
        assert sorted(e["id"] for e in capped["test"][lang]) == sorted(e["id"] for e in full)
    assert _leaks(capped, mlqa) == []
    again = prepare_mlqa(DEV, MLQA_LANGUAGES, seed=5, n_test_articles=200, max_test=150, max_train=300)
    assert again == capped
    other = prepare_mlqa(DEV, MLQA_LANGUAGES, seed=6, n_test_articles=200, max_test=150, max_train=300)
    assert other["split"]["test"] != capped["split"]["test"]


@needs_mirror
def test_real_subset_of_languages_reads_only_their_files(tmp_path):
    for context, question in [("en", "en"), ("hi", "hi"), ("hi", "en")]:
        (tmp_path / mlqa_path(tmp_path, context, question).name).write_bytes(
            mlqa_path(DEV, context, question).read_bytes())
    out = prepare_mlqa(tmp_path, ["hi"], seed=1, n_test_articles=100)
    assert list(out["test"]) == ["hi"] and list(out["gxlt"]) == ["hi"]
    assert [e["id"] for e in out["gxlt"]["hi"]] == [e["id"] for e in out["test"]["hi"]]
    devanagari = lambda text: any("\u0900" <= c <= "\u097f" for c in text)  # noqa: E731
    assert not any(devanagari(e["question"]) for e in out["gxlt"]["hi"])  # English questions ...
    assert all(devanagari(e["context"]) for e in out["gxlt"]["hi"])  # ... on Hindi paragraphs
    assert all(devanagari(e["question"]) for e in out["test"]["hi"])

import json
import logging
from pathlib import Path

import pytest

from pipeline_support import require_mirror
from stages.xlt.data import split
from stages.xlt.data.squad import check_same_ids, read_squad, read_xquad
from stages.xlt.languages import XQUAD_LANGUAGES



def _squad(articles):
    return {"version": "1.1", "data": articles}


def _article(title, paragraphs):
    article = {"paragraphs": paragraphs}
    if title is not None:
        article["title"] = title
    return article


def _paragraph(context, qas):
    return {"context": context, "qas": qas}


def _qa(qid, question, text, start):
    return {"id": qid, "question": question, "answers": [{"text": text, "answer_start": start}]}


CTX = "Paris is the capital of France. It lies on the Seine."


def _write(tmp_path: Path, payload, name="f.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def test_reads_examples_with_title_article_keys(tmp_path):
    payload = _squad([
        _article("France", [_paragraph(CTX, [_qa("q1", "Capital?", "Paris", 0), _qa("q2", "River?", "Seine", 47)])]),
        _article("Other", [_paragraph("Bob is 7.", [_qa("q3", "Age?", "7", 7)])]),
    ])
    examples = read_squad(_write(tmp_path, payload), "en")
    assert [e["id"] for e in examples] == ["q1", "q2", "q3"]
    assert [e["article"] for e in examples] == ["France", "France", "Other"]
    assert examples[1] == {"id": "q2", "article": "France", "lang": "en", "context": CTX, "question": "River?",
                           "answers": {"text": ["Seine"], "answer_start": [47]}, "cluster": "France/p0"}


def test_missing_titles_fall_back_to_position_keys(tmp_path):
    payload = _squad([_article(None, [_paragraph(CTX, [_qa("q1", "Capital?", "Paris", 0)])]),
                      _article(None, [_paragraph(CTX, [_qa("q2", "River?", "Seine", 47)])])])
    examples = read_squad(_write(tmp_path, payload), "de")
    assert [e["article"] for e in examples] == ["article-000", "article-001"]
    titled = _squad([_article("A", [_paragraph(CTX, [_qa("q1", "Capital?", "Paris", 0)])])])
    assert read_squad(_write(tmp_path, titled, "t.json"), "en", article_keys="position")[0]["article"] == "article-000"
    with pytest.raises(ValueError, match="titles"):
        read_squad(_write(tmp_path, payload), "de", article_keys="title")


def test_truncated_json_names_the_file(tmp_path):
    path = tmp_path / "xquad.de.json"
    path.write_text(json.dumps(_squad([]))[:-3], encoding="utf-8")
    with pytest.raises(ValueError, match="xquad.de.json"):
        read_squad(path, "de")


def test_misaligned_answer_raises_naming_the_question_or_is_dropped(tmp_path, caplog):
    payload = _squad([_article("France", [_paragraph(CTX, [_qa("good", "Capital?", "Paris", 0),
                                                           _qa("bad-id", "River?", "Seine", 10)])])])
    path = _write(tmp_path, payload)
    with pytest.raises(ValueError, match="bad-id"):
        read_squad(path, "en")
    with caplog.at_level(logging.WARNING):
        examples = read_squad(path, "en", on_bad_answer="drop")
    assert [e["id"] for e in examples] == ["good"]
    assert "bad-id" in caplog.text


def test_empty_language_raises(tmp_path):
    with pytest.raises(ValueError, match="no questions"):
        read_squad(_write(tmp_path, _squad([_article("A", [_paragraph(CTX, [])])])), "th")


def test_check_same_ids_detects_a_missing_question():
    a = [{"id": "1", "article": "A"}, {"id": "2", "article": "A"}]
    check_same_ids({"en": a, "de": list(a)})
    with pytest.raises(ValueError, match="'de'"):
        check_same_ids({"en": a, "de": a[:1]})


def test_real_xquad_mirror():
    mirror = require_mirror("xquad")
    per_lang = read_xquad(mirror, XQUAD_LANGUAGES)
    assert sorted(per_lang) == sorted(XQUAD_LANGUAGES) and len(per_lang) == 12
    ids = {lang: [e["id"] for e in examples] for lang, examples in per_lang.items()}
    assert all(v == ids["en"] for v in ids.values())
    assert len(ids["en"]) == len(set(ids["en"])) == 1190
    articles = {lang: [e["article"] for e in examples] for lang, examples in per_lang.items()}
    assert all(v == articles["en"] for v in articles.values())
    assert len(set(articles["en"])) == 48
    # positional keys give the same grouping as titles (same article order in every language)
    positional = read_squad(mirror / "xquad.zh.json", "zh", article_keys="position")
    title_to_pos = {e["article"]: p["article"] for e, p in zip(per_lang["zh"], positional)}
    assert len(set(title_to_pos.values())) == 48


def test_cluster_is_the_paragraph_within_its_article(tmp_path):
    payload = _squad([
        _article("A", [_paragraph(CTX, [_qa("q1", "Capital?", "Paris", 0), _qa("q2", "River?", "Seine", 47)]),
                       _paragraph("Bob is 7.", [_qa("q3", "Age?", "7", 7)])]),
        _article("B", [_paragraph("Bob is 7.", [_qa("q4", "Age?", "7", 7)])]),
    ])
    examples = read_squad(_write(tmp_path, payload), "en")
    assert [e["cluster"] for e in examples] == ["A/p0", "A/p0", "A/p1", "B/p0"]


def test_check_same_ids_detects_a_question_in_another_paragraph():
    a = [{"id": "q1", "article": "A", "cluster": "A/p0"}, {"id": "q2", "article": "A", "cluster": "A/p1"}]
    b = [dict(a[0]), dict(a[1], cluster="A/p0")]
    with pytest.raises(ValueError, match=r"'de'.*other article/paragraph e\.g\. \['q2'\]"):
        check_same_ids({"en": a, "de": b})


def test_real_xquad_clusters_are_parallel_and_cap_units_unchanged():
    per_lang = read_xquad(require_mirror("xquad"), XQUAD_LANGUAGES)
    clusters = {lang: {e["id"]: e["cluster"] for e in examples} for lang, examples in per_lang.items()}
    assert all(c == clusters["en"] for c in clusters.values())
    assert len(set(clusters["en"].values())) == 240  # 48 articles x 5 paragraphs
    # a cluster is exactly one (article, context) paragraph in every language ...
    for examples in per_lang.values():
        pairs = {(e["cluster"], e["article"], e["context"]) for e in examples}
        assert len(pairs) == len({p[0] for p in pairs}) == len({p[1:] for p in pairs}) == 240
    # ... so capping by cluster keeps exactly the units the (article, context) rule kept before clusters existed
    english = per_lang["en"]
    without = [{k: v for k, v in e.items() if k != "cluster"} for e in english]
    for n, seed in [(100, 0), (333, 7), (1000, 3)]:
        assert [e["id"] for e in split.cap(english, n, seed)] == [e["id"] for e in split.cap(without, n, seed)]

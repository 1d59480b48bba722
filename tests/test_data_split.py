import pytest

from stages.xlt.data.split import PARTS, article_ids, cap, select, select_all_languages, split_articles

ARTICLES = [f"art{i:02d}" for i in range(20)]


def _examples(lang="en", n_articles=6, paragraphs=3, questions=4):
    return [{"id": f"a{a}-p{p}-q{q}", "article": f"art{a:02d}", "lang": lang, "context": f"ctx {a} {p} {lang}"}
            for a in range(n_articles) for p in range(paragraphs) for q in range(questions)]


def test_split_is_disjoint_complete_and_sized():
    split = split_articles(ARTICLES, n_test=5, n_intermediate=4, seed=3)
    parts = [set(split.part(p)) for p in PARTS]
    assert [len(p) for p in parts] == [5, 4, 11]
    assert set().union(*parts) == set(ARTICLES)
    assert sum(len(p) for p in parts) == len(ARTICLES)


def test_split_depends_on_seed_not_on_input_order():
    a = split_articles(ARTICLES, n_test=5, n_intermediate=4, seed=3)
    assert a == split_articles(list(reversed(ARTICLES)) + ARTICLES[:3], n_test=5, n_intermediate=4, seed=3)
    assert a != split_articles(ARTICLES, n_test=5, n_intermediate=4, seed=4)


@pytest.mark.parametrize("n_test,n_inter", [(10, 10), (0, 3), (25, 0)])
def test_split_rejects_impossible_sizes(n_test, n_inter):
    with pytest.raises(ValueError):
        split_articles(ARTICLES, n_test=n_test, n_intermediate=n_inter, seed=0)


def test_select_never_splits_an_article():
    examples = _examples()
    split = split_articles(article_ids(examples), n_test=2, n_intermediate=2, seed=1)
    chosen = {p: select(examples, split, p) for p in PARTS}
    assert sum(len(v) for v in chosen.values()) == len(examples)
    seen = [{e["article"] for e in v} for v in chosen.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_select_all_languages_keeps_same_ids_and_catches_mismatch():
    per_lang = {"en": _examples("en"), "de": _examples("de")}
    split = split_articles(article_ids(per_lang["en"]), n_test=2, n_intermediate=2, seed=1)
    test = select_all_languages(per_lang, split, "test")
    assert [e["id"] for e in test["en"]] == [e["id"] for e in test["de"]] and len(test["en"]) == 24
    per_lang["de"] = [e for e in per_lang["de"] if e["id"] != test["en"][0]["id"]]
    with pytest.raises(ValueError, match="'de'"):
        select_all_languages(per_lang, split, "test")


def test_cap_keeps_whole_paragraphs_and_is_deterministic():
    examples = _examples()  # 18 paragraphs of 4 questions
    capped = cap(examples, 12, seed=5)
    assert len(capped) == 12
    by_paragraph = {}
    for e in capped:
        by_paragraph.setdefault(e["context"], []).append(e)
    assert all(len(v) == 4 for v in by_paragraph.values())
    assert capped == cap(examples, 12, seed=5)
    assert capped != cap(examples, 12, seed=6)
    assert [examples.index(e) for e in capped] == sorted(examples.index(e) for e in capped)  # order kept


def test_cap_fills_exactly_when_paragraphs_do_not_divide_n():
    examples = _examples()
    assert len(cap(examples, 10, seed=0)) == 10
    assert cap(examples, None, seed=0) == examples
    assert cap(examples, 10_000, seed=0) == examples
    with pytest.raises(ValueError):
        cap(examples, -1, seed=0)


def test_cap_keeps_question_pairs_together_and_samples_singletons_at_random():
    pairs = [{"id": f"q{i}-{side}", "lang": "en", "text_a": f"question {i}", "text_b": side, "label": int(side == "neg")}
             for i in range(50) for side in ("pos", "neg")]
    capped = cap(pairs, 20, seed=1)
    assert len(capped) == 20 and sum(p["label"] for p in capped) == 10
    assert {p["text_a"] for p in capped} != {f"question {i}" for i in range(10)}  # not just the first ones
    singles = [{"id": str(i), "source": f"s{i}", "target": f"t{i}"} for i in range(100)]
    picked = [int(e["id"]) for e in cap(singles, 10, seed=0)]
    assert len(picked) == 10 and picked != list(range(10)) and picked == sorted(picked)

"""XNLI / PAWS-X readers, premise and sentence groups, and the group split (synthetic files and the mirror)."""

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline_support import mirror_dir, needs_mirror, require_mirror
from stages.xlt.data import pairs
from stages.xlt.data.pairs import (PAWSX_LABELS, XNLI_LABELS, pawsx_clusters, prepare_pairs, read_pairs,
                                   read_parallel, read_tsv, xnli_clusters)
from stages.xlt.languages import PAWSX_LANGUAGES, XNLI_LANGUAGES

MIRROR = mirror_dir()


_needs = needs_mirror


def _write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(end.join(lines).encode("utf-8") + end.encode())
    return path


# ---------------------------------------------------------------- reading TSV


def test_quotes_and_odd_characters_survive_verbatim(tmp_path):
    lines = ['"Der ""Fluss"" ist lang."\tEr sagte "hallo\t1',   # CSV-style quoting and an unbalanced quote
             "a \u2028 line separator\t'single' quotes\t0",
             '"""\t""\t1']
    rows = read_tsv(_write(tmp_path / "dev-de.tsv", lines), PAWSX_LABELS)
    assert rows == [('"Der ""Fluss"" ist lang."', 'Er sagte "hallo', 1),
                    ("a \u2028 line separator", "'single' quotes", 0),
                    ('"""', '""', 1)]
    with open(tmp_path / "dev-de.tsv", encoding="utf-8", newline="") as f:
        as_csv = [tuple(r) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
    assert [(a, b, PAWSX_LABELS[label]) for a, b, label in rows] == as_csv


def test_crlf_line_ends_are_tolerated(tmp_path):
    rows = read_tsv(_write(tmp_path / "x.tsv", ["p\th\tneutral", "p\th2\tentailment"], end="\r\n"), XNLI_LABELS)
    assert rows == [("p", "h", 1), ("p", "h2", 0)]


@pytest.mark.parametrize("bad,match", [
    ("only\ttwo", r"line 2: expected 3 tab-separated fields .* found 2"),
    ("a\tb\tc\tneutral", r"line 2: expected 3 tab-separated fields .* found 4"),
    ("a\t \tneutral", r"line 2: empty text field"),
    ("a\tb\tcontradictory", r"line 2: label 'contradictory' is not one of \['entailment', 'neutral'"),
])
def test_malformed_rows_name_file_and_line(tmp_path, bad, match):
    path = _write(tmp_path / "dev-en.tsv", ["p\th\tneutral", bad, "p\th\tneutral"])
    with pytest.raises(ValueError, match=r"dev-en\.tsv " + match):
        read_tsv(path, XNLI_LABELS)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(ValueError, match="missing data file"):
        read_tsv(tmp_path / "nope.tsv", XNLI_LABELS)
    (tmp_path / "empty.tsv").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="no rows"):
        read_tsv(tmp_path / "empty.tsv", XNLI_LABELS)


def test_xnli_labels_follow_the_hugging_face_order(tmp_path):
    path = _write(tmp_path / "dev-en.tsv", ["p\ta\tentailment", "p\tb\tneutral", "p\tc\tcontradiction"])
    examples = read_pairs(path, "xnli", "en", xnli_clusters(read_tsv(path, XNLI_LABELS)))
    assert [e["label"] for e in examples] == [0, 1, 2]
    assert examples[2] == {"id": "xnli-00002", "lang": "en", "text_a": "p", "text_b": "c", "label": 2,
                           "cluster": "xnli-p0000", "row": 2}


# ---------------------------------------------------------------- groups


def test_xnli_premise_structure_is_enforced():
    good = [("p0", "h", 0)] * 3 + [("p1", "h", 0)] * 3
    assert xnli_clusters(good) == ["xnli-p0000"] * 3 + ["xnli-p0001"] * 3
    with pytest.raises(ValueError, match="not a multiple of 3"):
        xnli_clusters(good[:5])
    with pytest.raises(ValueError, match=r"rows 3-5 \(lines 4-6\): the premises of a block of 3 differ"):
        xnli_clusters(good[:4] + [("other", "h", 0)] + good[5:])
    with pytest.raises(ValueError, match="also starts block 0"):
        xnli_clusters(good[:3] + [("p0", "h", 0)] * 3)


def test_pawsx_groups_are_components_over_either_sentence():
    rows = [("a", "b"), ("c", "d"), ("b", "e"), ("e", "c"), ("x", "y"), ("y", "x")]
    assert pawsx_clusters(rows) == ["pawsx-g0000"] * 4 + ["pawsx-g0001"] * 2


def test_parallel_files_must_have_the_same_rows(tmp_path):
    _write(tmp_path / "dev-en.tsv", ["a\tb\t1", "c\td\t0"])
    _write(tmp_path / "dev-de.tsv", ["a\tb\t1"])
    with pytest.raises(ValueError, match=r"dev-de\.tsv: 1 rows, but 2 cluster labels"):
        read_parallel("pawsx", tmp_path, ["de"])
    with pytest.raises(ValueError, match="unknown sentence-pair task"):
        read_parallel("mnli", tmp_path, ["de"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- the mirror


@pytest.fixture(scope="module")
def xnli():
    return read_parallel("xnli", require_mirror("xnli"), XNLI_LANGUAGES)


@pytest.fixture(scope="module")
def pawsx():
    return read_parallel("pawsx", require_mirror("pawsx"), PAWSX_LANGUAGES)


@_needs("xnli")
def test_real_xnli_rows_labels_and_premise_groups(xnli):
    assert list(xnli) == list(XNLI_LANGUAGES)
    english = xnli["en"]
    assert len(english) == 2490 and Counter(e["label"] for e in english) == {0: 830, 1: 830, 2: 830}
    groups = Counter(e["cluster"] for e in english)
    assert len(groups) == 830 and set(groups.values()) == {3}
    for i in range(0, 2490, 3):
        block = english[i:i + 3]
        assert len({e["text_a"] for e in block}) == 1 and {e["label"] for e in block} == {0, 1, 2}
    for lang, examples in xnli.items():
        assert [(e["id"], e["cluster"], e["row"], e["label"]) for e in examples] == \
               [(e["id"], e["cluster"], e["row"], e["label"]) for e in english], lang
        assert all(e["lang"] == lang for e in examples)


@_needs("pawsx")
def test_real_pawsx_groups_and_label_differences(pawsx):
    english = pawsx["en"]
    assert len(english) == 2000
    sizes = Counter(e["cluster"] for e in english)
    assert len(sizes) == 1201 and max(sizes.values()) == 7
    sentence_group = {}
    for e in english:  # a sentence never appears in two groups
        for s in (e["text_a"], e["text_b"]):
            assert sentence_group.setdefault(s, e["cluster"]) == e["cluster"]
    differ = {lang: pairs.label_differences(rows, english) for lang, rows in pawsx.items() if lang != "en"}
    assert {lang: len(ids) for lang, ids in differ.items()} == {"de": 32, "es": 16, "fr": 3, "ja": 9, "ko": 23,
                                                               "zh": 10}
    for lang, ids in differ.items():  # every difference is an untranslated ("NS") row, labelled 0 in that language
        assert set(ids) <= set(pairs.untranslated_ids(pawsx[lang]))
        assert {e["label"] for e in pawsx[lang] if e["id"] in set(ids)} == {0}
    for lang, examples in pawsx.items():
        assert [(e["id"], e["cluster"]) for e in examples] == [(e["id"], e["cluster"]) for e in english]


@_needs("pawsx")
def test_real_pawsx_quotes_match_a_quote_none_csv_reader():
    for lang in ("fr", "ko", "es"):
        path = MIRROR / "pawsx" / f"dev-{lang}.tsv"
        with open(path, encoding="utf-8", newline="") as f:
            as_csv = [(a, b, int(label)) for a, b, label in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]
        rows = read_tsv(path, PAWSX_LABELS)
        assert rows == as_csv and len(rows) == 2000
        assert sum('""' in a + b for a, b, _ in rows) > 50  # the doubled quotes are kept, not unescaped


def _leaks(out: dict, english: list[dict]) -> list[str]:
    """Everything by which a test row could be seen in training: its id (row), its group, or English text."""
    train = out["intermediate"] + out["target_train"]
    train_ids = {e["id"] for e in train}
    train_groups = {e["cluster"] for e in train}
    train_text = {t for e in train for t in (e["text_a"], e["text_b"])}
    by_id = {e["id"]: e for e in english}
    problems = []
    for lang, rows in out["test"].items():
        for e in rows:
            source = by_id[e["id"]]
            if e["id"] in train_ids or e["cluster"] in train_groups:
                problems.append(f"{lang} {e['id']}: id or group in training")
            if {source["text_a"], source["text_b"]} & train_text:
                problems.append(f"{lang} {e['id']}: English text in training")
    return problems


def _prepare(task, languages, **kwargs):
    sizes = {"xnli": dict(n_test=300, n_intermediate=200), "pawsx": dict(n_test=400, n_intermediate=300)}[task]
    return prepare_pairs(task, MIRROR / task, languages, **{"seed": 11, **sizes, **kwargs})


@pytest.mark.parametrize("task,languages", [("xnli", XNLI_LANGUAGES), ("pawsx", PAWSX_LANGUAGES)])
def test_real_split_never_leaks_in_any_language(task, languages, request, monkeypatch):
    english = request.getfixturevalue(task)["en"]
    out = _prepare(task, languages)
    assert _leaks(out, english) == []
    parts = out["split"]["groups"]
    assert not (set(parts["test"]) & set(parts["intermediate"]) or set(parts["test"]) & set(parts["target_train"])
                or set(parts["intermediate"]) & set(parts["target_train"]))
    assert {e["lang"] for e in out["intermediate"] + out["target_train"]} == {"en"}
    assert {e["cluster"] for e in out["test"]["en"]} == set(parts["test"])
    ids = {lang: [(e["id"], e["cluster"], e["row"]) for e in rows] for lang, rows in out["test"].items()}
    assert list(ids) == list(languages) and all(v == ids["en"] for v in ids.values())
    assert all(e["lang"] == lang for lang, rows in out["test"].items() for e in rows)
    # the check above can fail: row-level groups (a naive row split) leak premises / shared sentences
    monkeypatch.setattr(pairs, "clusters_for", lambda task, rows, origin: [f"row{i}" for i in range(len(rows))])
    naive = prepare_pairs(task, MIRROR / task, languages, seed=11, n_test=900, n_intermediate=300)
    assert any("English text in training" in p for p in _leaks(naive, english))


@_needs("xnli")
def test_real_split_sizes_caps_and_determinism():
    out = _prepare("xnli", ["en", "de", "sw"], max_intermediate=100, max_target_train=250, max_test=400)
    rows = out["split"]["rows"]
    assert rows["intermediate"] == 99 and rows["target_train"] == 249 and rows["test"] == {"en": 399, "de": 399,
                                                                                         "sw": 399}
    for part in (out["intermediate"], out["target_train"], out["test"]["de"]):
        assert set(Counter(e["cluster"] for e in part).values()) == {3}  # whole premise groups only
    uncapped = _prepare("xnli", ["en", "de", "sw"])
    assert len(uncapped["test"]["de"]) == 900 and len(uncapped["intermediate"]) == 600
    assert len(uncapped["target_train"]) == 3 * (830 - 500)
    again = _prepare("xnli", ["en", "de", "sw"], max_intermediate=100, max_target_train=250, max_test=400)
    assert again == out
    other = _prepare("xnli", ["en", "de", "sw"], seed=12, max_intermediate=100, max_target_train=250, max_test=400)
    assert other["split"]["groups"] != out["split"]["groups"]
    json.dumps(out["split"])  # JSON-able record


@_needs("pawsx")
def test_real_pawsx_caps_keep_groups_and_untranslated_rows_can_be_dropped(pawsx):
    out = _prepare("pawsx", PAWSX_LANGUAGES, max_test=300, max_target_train=200)
    sizes = Counter(e["cluster"] for e in pawsx["en"])
    for part in (out["target_train"], out["test"]["ko"]):
        assert all(n == sizes[g] for g, n in Counter(e["cluster"] for e in part).items())
        assert len(part) <= 300
    record = out["split"]
    assert record["gold_label"] == "each language's own file label"
    assert {lang: len(v) for lang, v in record["untranslated_rows"].items()} == {
        "en": 0, "de": 68, "es": 38, "fr": 8, "ja": 20, "ko": 35, "zh": 16}
    test_ids = {e["id"] for e in out["test"]["en"]}
    assert all(set(v) <= test_ids for v in record["label_differs_from_en_in_test"].values())
    gold = {e["id"]: e["label"] for e in pawsx["de"]}
    assert all(e["label"] == gold[e["id"]] for e in out["test"]["de"])  # German gold = German file label
    dropped = _prepare("pawsx", PAWSX_LANGUAGES, drop_untranslated=True)
    untranslated = set().union(*record["untranslated_rows"].values())
    assert len(untranslated) == 151
    for rows in dropped["test"].values():
        ids = {e["id"] for e in rows}
        assert not ids & untranslated and ids == {e["id"] for e in dropped["test"]["en"]}
        assert all("NS" not in (e["text_a"], e["text_b"]) for e in rows)
    assert _leaks(dropped, pawsx["en"]) == []

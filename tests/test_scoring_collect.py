"""Prediction files -> the long score and attack tables: cluster labels, `applied` flags and chrF per example."""

import math

import pytest

from stages.xlt.io import write_jsonl
from stages.xlt.scoring.collect import (
    ATTACK_COLUMNS,
    SCORE_COLUMNS,
    attack_records,
    qa_rows,
    retrieval_rows,
    score_rows,
    score_table,
    tagging_rows,
)

GOLD = {
    "q1": {"id": "q1", "answers": {"text": ["Berlin"]}, "cluster": "para-7"},
    "q2": {"id": "q2", "answers": {"text": ["1990"]}},
}


def test_qa_rows_carry_cluster_applied_and_chrf(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}, {"id": "q2", "prediction": "x"}])
    write_jsonl(tmp_path / "inputs.jsonl", [
        {"id": "q1", "perturbation": {"chrf": 100.0, "applied": False}},  # e.g. no dictionary entry
        {"id": "q2", "perturbation": {"chrf": 71.5}},  # no flag: chrF < 100 means the input changed
    ])
    table = score_table(qa_rows(task="xquad", arm="multi", seed=1, lang="de", condition="codeswitch",
                                predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=tmp_path / "inputs.jsonl",
                                clusters={"q2": "para-9"}))
    assert list(table.columns) == SCORE_COLUMNS
    f1 = table[table["metric"] == "f1"].set_index("id")
    assert f1.loc["q1", "cluster"] == "para-7" and f1.loc["q2", "cluster"] == "para-9"
    assert not f1.loc["q1", "applied"] and f1.loc["q2", "applied"]
    assert f1.loc["q2", "chrf"] == 71.5 and f1.loc["q1", "value"] == 1.0


@pytest.mark.parametrize(("record", "applied"), [
    ({"chrf": 100.0}, False),  # no flag, identical text: not changed
    ({"chrf": 99.9}, True),  # no flag, chrF just below 100: changed
    ({"chrf": 100.0, "applied": True}, True),  # the flag wins over chrF both ways
    ({"chrf": 40.0, "applied": False}, False),
])
def test_applied_comes_from_the_flag_else_from_chrf_below_100(tmp_path, record, applied):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "q1", "perturbation": record}])
    rows = list(qa_rows(task="xquad", arm="multi", seed=1, lang="de", condition="typos",
                        predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=tmp_path / "inputs.jsonl"))
    assert [r["applied"] for r in rows] == [applied, applied]  # em and f1
    assert all(r["chrf"] == record["chrf"] for r in rows)


def test_clean_rows_are_applied_with_nan_chrf(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q2", "prediction": "1990"}])
    rows = list(qa_rows(task="xquad", arm="none", seed=1, lang="de", condition="clean",
                        predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=None))
    assert all(r["applied"] and math.isnan(r["chrf"]) and r["cluster"] == "q2" for r in rows)


def test_a_prediction_without_a_perturbation_record_raises(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "q2", "perturbation": {"chrf": 50.0}}])
    with pytest.raises(ValueError, match="no perturbation record"):
        list(qa_rows(task="xquad", arm="none", seed=1, lang="de", condition="typos",
                     predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=tmp_path / "inputs.jsonl"))


def test_retrieval_rows_are_their_own_clusters(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "t1", "src2tgt": 1, "tgt2src": 0}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "t1", "perturbation": {"chrf": 80.0}}])
    rows = list(retrieval_rows(task="tatoeba", arm="none", seed=1, lang="de", condition="typos",
                               predictions=tmp_path / "pred.jsonl", inputs=tmp_path / "inputs.jsonl"))
    assert {(r["metric"], r["value"], r["cluster"], r["applied"]) for r in rows} == {
        ("accuracy", 1.0, "t1", True), ("accuracy_en2xx", 0.0, "t1", True)}


def test_attack_table_keeps_skipped_items_with_their_clean_score(tmp_path):
    folder = tmp_path / "xquad"
    common = {"lang": "de", "arm": "multi", "seed": 1, "n_words": 6, "budget_exhausted": False, "poolable": True,
              "clean_metric": 1.0, "clean_prediction": "a", "clean": {"question": "w x"}}
    write_jsonl(folder / "de.jsonl", [
        {**common, "id": "q1", "status": "succeeded", "success": True, "words_changed": 2, "queries": 9,
         "clean_score": 0.7, "final_score": 0.1, "final_metric": 0.0, "final_prediction": "b",
         "edits": [{"word": "w", "replacement": "v", "operation": "swap"}], "adversarial": {"question": "v x"}},
        {**common, "id": "q2", "status": "skipped", "success": False, "words_changed": 0, "queries": 0,
         "clean_score": None, "final_score": None, "clean_metric": 0.0, "final_metric": 0.0, "final_prediction": "a",
         "edits": [], "adversarial": {"question": "w x"}, "reason": "clean F1 0.000 is below min_clean_score"},
    ])
    table = attack_records({"xquad": folder}, clusters={"q1": "para-7"})
    assert list(table.columns) == ATTACK_COLUMNS
    by_id = table.set_index("id")
    assert by_id.loc["q2", "status"] == "skipped" and math.isnan(by_id.loc["q2", "clean_score"])
    assert by_id.loc["q1", "cluster"] == "para-7"
    assert by_id.loc["q1", "final_score"] == 0.1 and by_id.loc["q1", "final_metric"] == 0.0
    assert by_id.loc["q1", "adversarial"] == {"question": "v x"}
    assert set(table["task"]) == {"xquad"} and set(table["arm"]) == {"multi"}


def test_classification_rows_score_each_language_against_its_own_label(tmp_path):
    from stages.xlt.scoring.collect import classification_rows

    write_jsonl(tmp_path / "pred.jsonl", [{"id": "x1", "prediction": 2}, {"id": "x2", "prediction": 0}])
    gold = {"x1": {"id": "x1", "label": 2, "cluster": "p1"}, "x2": {"id": "x2", "label": 1, "cluster": "p1"}}
    rows = list(classification_rows(task="xnli", arm="none", seed=0, lang="de", condition="clean",
                                    predictions=tmp_path / "pred.jsonl", gold=gold, inputs=None))
    assert [(r["id"], r["value"], r["cluster"]) for r in rows] == [("x1", 1.0, "p1"), ("x2", 0.0, "p1")]


# ---------------------------------------------------------------- every column of every row


def _shared(**columns) -> dict:
    return {"task": "xquad", "arm": "multi", "seed": 1, "lang": "de", "condition": "typos", **columns}


def test_qa_rows_hold_every_column_of_every_row(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}, {"id": "q2", "prediction": "x"}])
    write_jsonl(tmp_path / "inputs.jsonl", [
        {"id": "q0"},  # an example the perturbation did not record: ignored, and the records after it still read
        {"id": "q1", "perturbation": {"chrf": 80.0}},
        {"id": "q2", "perturbation": {"chrf": 100.0, "applied": False}},
    ])
    rows = list(qa_rows(task="xquad", arm="multi", seed=1, lang="de", condition="typos",
                        predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=tmp_path / "inputs.jsonl",
                        clusters={"q2": "para-9"}))
    q1 = _shared(id="q1", cluster="para-7", applied=True, chrf=80.0)
    q2 = _shared(id="q2", cluster="para-9", applied=False, chrf=100.0)
    assert rows == [{**q1, "metric": "em", "value": 1.0}, {**q1, "metric": "f1", "value": 1.0},
                    {**q2, "metric": "em", "value": 0.0}, {**q2, "metric": "f1", "value": 0.0}]


def test_classification_rows_hold_every_column_of_every_row(tmp_path):
    from stages.xlt.scoring.collect import classification_rows

    write_jsonl(tmp_path / "pred.jsonl", [{"id": "x1", "prediction": "2"}, {"id": "x2", "prediction": 0}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "x1", "perturbation": {"chrf": 55.5}},
                                            {"id": "x2", "perturbation": {"chrf": 100.0}}])
    gold = {"x1": {"id": "x1", "label": 2, "cluster": "p1"}, "x2": {"id": "x2", "label": 1}}
    rows = list(classification_rows(task="xnli", arm="squad", seed=2, lang="hi", condition="tautology",
                                    predictions=tmp_path / "pred.jsonl", gold=gold, inputs=tmp_path / "inputs.jsonl",
                                    clusters={"x1": "premise-4"}))
    shared = {"task": "xnli", "arm": "squad", "seed": 2, "lang": "hi", "condition": "tautology", "metric": "accuracy"}
    assert rows == [{**shared, "id": "x1", "cluster": "premise-4", "applied": True, "chrf": 55.5, "value": 1.0},
                    {**shared, "id": "x2", "cluster": "x2", "applied": False, "chrf": 100.0, "value": 0.0}]


def test_retrieval_rows_hold_every_column_clean_and_perturbed(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "t1", "src2tgt": 1, "tgt2src": 0},
                                          {"id": "t2", "src2tgt": 0, "tgt2src": 1, "cluster": "sentence-3"}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "t1", "perturbation": {"chrf": 70.0}},
                                            {"id": "t2", "perturbation": {"chrf": 100.0}}])
    perturbed = list(retrieval_rows(task="tatoeba", arm="none", seed=3, lang="th", condition="typos",
                                    predictions=tmp_path / "pred.jsonl", inputs=tmp_path / "inputs.jsonl",
                                    clusters={"t1": "pair-1"}))
    shared = {"task": "tatoeba", "arm": "none", "seed": 3, "lang": "th", "condition": "typos"}
    t1 = {**shared, "id": "t1", "cluster": "pair-1", "applied": True, "chrf": 70.0}
    t2 = {**shared, "id": "t2", "cluster": "sentence-3", "applied": False, "chrf": 100.0}
    assert perturbed == [{**t1, "metric": "accuracy", "value": 1.0}, {**t1, "metric": "accuracy_en2xx", "value": 0.0},
                         {**t2, "metric": "accuracy", "value": 0.0}, {**t2, "metric": "accuracy_en2xx", "value": 1.0}]
    clean = list(retrieval_rows(task="tatoeba", arm="none", seed=3, lang="th", condition="clean",
                                predictions=tmp_path / "pred.jsonl", inputs=None))
    assert [(r["id"], r["condition"], r["applied"], r["cluster"]) for r in clean] == [
        ("t1", "clean", True, "t1"), ("t1", "clean", True, "t1"),
        ("t2", "clean", True, "sentence-3"), ("t2", "clean", True, "sentence-3")]
    assert all(math.isnan(r["chrf"]) for r in clean)


def test_stale_predictions_raise_naming_the_file_the_id_and_the_fix(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "zz", "prediction": "Berlin"}])
    with pytest.raises(ValueError) as unknown:
        list(qa_rows(task="xquad", arm="none", seed=1, lang="de", condition="clean",
                     predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=None))
    assert str(unknown.value) == (f"{tmp_path / 'pred.jsonl'}: prediction for unknown item id 'zz'; "
                                  "the test set changed after evaluation: run `dvc repro`")
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "q2", "perturbation": {"chrf": 50.0}}])
    with pytest.raises(ValueError) as missing:
        list(qa_rows(task="xquad", arm="none", seed=1, lang="de", condition="typos",
                     predictions=tmp_path / "pred.jsonl", gold=GOLD, inputs=tmp_path / "inputs.jsonl"))
    assert str(missing.value) == (f"{tmp_path / 'pred.jsonl'}: item 'q1' has no perturbation record in "
                                  f"{tmp_path / 'inputs.jsonl'}; the perturbed set changed after evaluation: "
                                  "run `dvc repro`")


def test_a_retrieval_pair_without_a_perturbation_record_raises_like_qa(tmp_path):
    """A stale Tatoeba prediction file used to be scored silently as changed (applied, chrF NaN)."""
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "t1", "src2tgt": 1, "tgt2src": 1}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "t2", "perturbation": {"chrf": 50.0}}])
    with pytest.raises(ValueError) as missing:
        list(retrieval_rows(task="tatoeba", arm="none", seed=1, lang="de", condition="typos",
                            predictions=tmp_path / "pred.jsonl", inputs=tmp_path / "inputs.jsonl"))
    assert str(missing.value) == (f"{tmp_path / 'pred.jsonl'}: item 't1' has no perturbation record in "
                                  f"{tmp_path / 'inputs.jsonl'}; the perturbed set changed after evaluation: "
                                  "run `dvc repro`")


def test_attack_records_hold_every_column_of_every_row(tmp_path):
    """Every column is read and typed (seeds, counts and flags arrive as strings or 0/1 in hand-made files)."""
    base = {"n_words": "7", "budget_exhausted": 0, "poolable": 1, "clean_prediction": 1, "final_prediction": 0,
            "clean": {"text_b": "a b"}, "adversarial": {"text_b": "a c"},
            "edits": [{"word": "b", "replacement": "c", "operation": "swap"}]}
    write_jsonl(tmp_path / "xnli" / "hi.jsonl", [
        {**base, "id": "n1", "lang": "hi", "arm": "squad", "seed": "2", "status": "failed", "success": 0,
         "words_changed": "3", "queries": "12", "clean_score": "0.9", "final_score": "0.6", "clean_metric": "1",
         "final_metric": 1, "cluster": "premise-8"}])
    write_jsonl(tmp_path / "xquad" / "de.jsonl", [
        {**base, "id": "q1", "lang": "de", "arm": "multi", "seed": 1, "status": "succeeded", "success": 1,
         "words_changed": 2, "queries": 9, "clean_score": 0.5, "final_score": None, "clean_metric": 1.0,
         "final_metric": 0.0, "reason": "x", "separate_because": None}])
    table = attack_records({"xquad": tmp_path / "xquad", "xnli": tmp_path / "xnli"}, clusters={"q1": "para-7"})
    assert list(table.columns) == ATTACK_COLUMNS
    first, second = table.to_dict("records")
    assert (first["task"], first["seed"], first["cluster"], first["words_changed"], first["queries"]) == (
        "xnli", 2, "premise-8", 3, 12)
    assert first["success"] is False and first["poolable"] is True and first["budget_exhausted"] is False
    assert (first["clean_score"], first["final_score"], first["clean_metric"], first["n_words"]) == (0.9, 0.6, 1.0, 7)
    assert (second["task"], second["cluster"], second["success"]) == ("xquad", "para-7", True)
    assert math.isnan(second["final_score"]) and second["reason"] == "x"
    assert second["edits"] == base["edits"] and second["adversarial"] == {"text_b": "a c"}
    assert table["success"].dtype == bool  # 0/1 in the files
    assert list(attack_records({}).columns) == ATTACK_COLUMNS


def test_attack_records_keep_every_text_field_as_written(tmp_path):
    """The reviewable sample reads the language, predictions, texts and edits straight from the table."""
    write_jsonl(tmp_path / "xquad" / "de.jsonl", [
        {"id": "q1", "lang": "de", "arm": "multi", "seed": 1, "status": "succeeded", "success": True,
         "words_changed": 1, "n_words": 4, "queries": 5, "budget_exhausted": True, "clean_score": 0.8,
         "final_score": 0.2, "clean_metric": 1.0, "final_metric": 0.0, "poolable": False,
         "separate_because": "typo model of de is not pooled", "reason": None, "clean_prediction": "Berlin",
         "final_prediction": "Bonn", "edits": [{"word": "Stadt", "replacement": "Sdatt", "operation": "swap"}],
         "clean": {"question": "Welche Stadt?"}, "adversarial": {"question": "Welche Sdatt?"}}])
    (row,) = attack_records({"xquad": tmp_path / "xquad"}).to_dict("records")
    assert row == {"task": "xquad", "arm": "multi", "seed": 1, "lang": "de", "id": "q1", "cluster": "q1",
                   "status": "succeeded", "success": True, "words_changed": 1, "n_words": 4, "queries": 5,
                   "budget_exhausted": True, "clean_score": 0.8, "final_score": 0.2, "clean_metric": 1.0,
                   "final_metric": 0.0, "poolable": False, "separate_because": "typo model of de is not pooled",
                   "reason": None, "clean_prediction": "Berlin", "final_prediction": "Bonn",
                   "edits": [{"word": "Stadt", "replacement": "Sdatt", "operation": "swap"}],
                   "clean": {"question": "Welche Stadt?"}, "adversarial": {"question": "Welche Sdatt?"}}


# ---------------------------------------------------------------- tagging: one row per word

SENTENCES = {"s1": {"id": "s1", "tags": [7, 3, 0, 12], "cluster": "sent-1"},
             "s2": {"id": "s2", "tags": [11]},
             "s3": {"id": "s3", "tags": list(range(11))}}


def test_tagging_rows_hold_every_column_of_every_word(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "s1", "prediction": [7, "3", 1, -1]}, {"id": "s2", "prediction": [11]}])
    write_jsonl(tmp_path / "inputs.jsonl", [{"id": "s1", "perturbation": {"chrf": 62.5}},
                                            {"id": "s2", "perturbation": {"chrf": 100.0, "applied": False}}])
    rows = list(tagging_rows(task="udpos", arm="multi", seed=4, lang="hi", condition="typos",
                             predictions=tmp_path / "pred.jsonl", gold=SENTENCES, inputs=tmp_path / "inputs.jsonl",
                             clusters={"s2": "pair-2"}))
    shared = {"task": "udpos", "arm": "multi", "seed": 4, "lang": "hi", "condition": "typos", "metric": "accuracy"}
    s1 = {**shared, "cluster": "sent-1", "applied": True, "chrf": 62.5}  # the sentence's cluster, for each word
    assert rows == [{**s1, "id": "s1#000", "value": 1.0}, {**s1, "id": "s1#001", "value": 1.0},  # "3" is tag 3
                    {**s1, "id": "s1#002", "value": 0.0}, {**s1, "id": "s1#003", "value": 0.0},
                    {**shared, "cluster": "pair-2", "applied": False, "chrf": 100.0, "id": "s2#000", "value": 1.0}]


def test_tagging_word_ids_sort_in_word_order(tmp_path):
    # Zero-padded word numbers: "s3#010" sorts after "s3#009", so sorted ids keep the sentence's word order.
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "s3", "prediction": list(range(10)) + [0]}])
    rows = list(tagging_rows(task="udpos", arm="none", seed=0, lang="de", condition="clean",
                             predictions=tmp_path / "pred.jsonl", gold=SENTENCES, inputs=None))
    assert [r["id"] for r in rows] == [f"s3#{k:03d}" for k in range(11)] == sorted(r["id"] for r in rows)
    assert rows[-1]["id"] == "s3#010" and [r["value"] for r in rows] == [1.0] * 10 + [0.0]
    assert all(r["cluster"] == "s3" and r["applied"] and math.isnan(r["chrf"]) for r in rows)  # clean, own cluster


def test_tagging_rows_with_another_word_count_raise_naming_file_item_and_fix(tmp_path):
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "s1", "prediction": [7, 3, 0]}])
    with pytest.raises(ValueError) as stale:
        list(tagging_rows(task="udpos", arm="none", seed=0, lang="de", condition="clean",
                          predictions=tmp_path / "pred.jsonl", gold=SENTENCES, inputs=None))
    assert str(stale.value) == (f"{tmp_path / 'pred.jsonl'}: item 's1' has 3 predicted tags for 4 words; the test "
                                "set changed after evaluation: run `dvc repro`")


# ---------------------------------------------------------------- score_rows: the family's builder


def test_score_rows_dispatch_on_the_family(tmp_path):
    common = dict(task="t", arm="none", seed=0, lang="de", condition="clean", predictions=tmp_path / "pred.jsonl",
                  inputs=None)
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "q1", "prediction": "Berlin"}])
    assert [(r["metric"], r["value"]) for r in score_rows("qa", gold=GOLD, **common)] == [("em", 1.0), ("f1", 1.0)]
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "x1", "prediction": 1}])
    gold = {"x1": {"id": "x1", "label": 1}}
    assert [(r["metric"], r["value"]) for r in score_rows("classification", gold=gold, **common)] == [
        ("accuracy", 1.0)]
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "t1", "src2tgt": 0, "tgt2src": 1}])
    assert [(r["metric"], r["value"]) for r in score_rows("retrieval", gold={}, **common)] == [
        ("accuracy", 0.0), ("accuracy_en2xx", 1.0)]  # a hit is its own verdict: no gold needed
    write_jsonl(tmp_path / "pred.jsonl", [{"id": "s2", "prediction": [11]}])
    assert [(r["id"], r["value"]) for r in score_rows("tagging", gold=SENTENCES, **common)] == [("s2#000", 1.0)]
    with pytest.raises(ValueError) as unknown:
        score_rows("parsing", gold={}, **common)
    assert str(unknown.value) == ("no score rows for task family 'parsing'; scored families are "
                                  "['classification', 'qa', 'retrieval', 'tagging']")

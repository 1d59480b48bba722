"""Prediction files -> the long score and attack tables: cluster labels, `applied` flags and chrF per example."""

import math

import pytest

from stages.xlt.io import write_jsonl
from stages.xlt.scoring.collect import ATTACK_COLUMNS, SCORE_COLUMNS, attack_records, qa_rows, retrieval_rows, score_table

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

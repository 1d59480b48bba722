"""Hub loaders on local folders laid out like the Hub repos (parquet / json written here)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from stages.xlt.data.hub_tasks import LAYOUTS, load_hub_task
from stages.xlt.tasks.registry import FINETUNE, INTERMEDIATE, TARGETS


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def _parquet(root: Path, relative: str, rows: list[dict]) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def test_squad_parquet_maps_to_qa(tmp_path):
    rows = [{"id": "s1", "title": "Paris", "context": "Paris is big.", "question": "What is big?",
             "answers": {"text": ["Paris"], "answer_start": [0]}}]
    _parquet(tmp_path, "plain_text/train-00000-of-00001.parquet", rows)
    examples = load_hub_task("squad", "train", source=tmp_path, cache_dir=tmp_path / "cache")
    assert examples == [{"id": "s1", "article": "Paris", "lang": "en", "context": "Paris is big.",
                         "question": "What is big?", "answers": {"text": ["Paris"], "answer_start": [0]}}]


def test_glue_mnli_drops_unlabelled_and_joins_splits(tmp_path):
    rows = [{"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": 0, "idx": 0},
            {"premise": "x", "hypothesis": "y", "label": -1, "idx": 1}]
    _parquet(tmp_path, "mnli/validation_matched-00000-of-00001.parquet", rows)
    _parquet(tmp_path, "mnli/validation_mismatched-00000-of-00001.parquet", rows[:1])
    examples = load_hub_task("mnli", "validation_matched+validation_mismatched", source=tmp_path,
                             cache_dir=tmp_path / "cache")
    assert [e["id"] for e in examples] == ["mnli-en-validation_matched-0", "mnli-en-validation_mismatched-0"]
    assert examples[0] == {"id": "mnli-en-validation_matched-0", "lang": "en", "text_a": "A man sleeps.",
                           "text_b": "A man rests.", "label": 0}


def test_multiple_choice_tasks(tmp_path):
    _parquet(tmp_path, "data/train-00000-of-00001.parquet", [
        {"id": "c1", "question": "Where?", "question_concept": "x",
         "choices": {"label": ["A", "B", "C"], "text": ["home", "park", "sea"]}, "answerKey": "B"}])
    _parquet(tmp_path, "data/validation-00000-of-00001.parquet", [
        {"ind": 4, "activity_label": "x", "ctx_a": "He", "ctx_b": "runs", "ctx": "He runs", "endings": ["a", "b"],
         "source_id": "s", "split": "val", "split_type": "indomain", "label": "1"}])
    csqa = load_hub_task("commonsenseqa", "train", source=tmp_path, cache_dir=tmp_path / "cache")
    assert csqa == [{"id": "c1", "lang": "en", "context": "Where?", "choices": ["home", "park", "sea"], "label": 1}]
    hs = load_hub_task("hellaswag", "validation", source=tmp_path, cache_dir=tmp_path / "cache")
    assert hs == [{"id": "hellaswag-validation-4", "lang": "en", "context": "He runs", "choices": ["a", "b"],
                   "label": 1}]


def test_per_language_configs_and_json_files(tmp_path):
    for lang in ("de", "fr"):
        folder = tmp_path / lang
        folder.mkdir()
        with open(folder / "test-00000-of-00001.jsonl", "w") as f:
            f.write(json.dumps({"premise": f"p-{lang}", "hypothesis": "h", "label": 2}) + "\n")
    examples = load_hub_task("xnli", "test", source=tmp_path, languages=["de", "fr"], cache_dir=tmp_path / "c")
    assert [(e["lang"], e["text_a"], e["label"]) for e in examples] == [("de", "p-de", 2), ("fr", "p-fr", 2)]


def test_xquad_hub_copy_gets_positional_article_keys(tmp_path):
    rows = [{"id": f"q{i}", "context": f"ctx {i // 2}", "question": "?", "answers": {"text": ["c"],
             "answer_start": [0]}} for i in range(14)]  # 7 paragraphs of 2 questions
    _parquet(tmp_path, "xquad.de/validation-00000-of-00001.parquet", rows)
    examples = load_hub_task("xquad", "validation", source=tmp_path, languages=["de"], cache_dir=tmp_path / "c")
    assert [e["article"] for e in examples] == ["article-000"] * 10 + ["article-001"] * 4


def test_tydiqa_filters_by_id_prefix_and_tatoeba_maps_codes(tmp_path):
    qa = {"title": "T", "context": "abc", "question": "?", "answers": {"text": ["a"], "answer_start": [0]}}
    _parquet(tmp_path, "secondary_task/validation-00000-of-00001.parquet",
             [dict(qa, id="finnish-1"), dict(qa, id="swahili-2")])
    fi = load_hub_task("tydiqa", "validation", source=tmp_path, languages=["fi"], cache_dir=tmp_path / "c")
    assert [e["id"] for e in fi] == ["finnish-1"]
    _parquet(tmp_path, "cmn-eng/test/0000.parquet", [{"sentence1": "你好", "sentence2": "Hello"}])
    zh = load_hub_task("tatoeba", "test", source=tmp_path, languages=["zh"], cache_dir=tmp_path / "c")
    assert zh == [{"id": "tatoeba-zh-00000", "lang": "zh", "source": "你好", "target": "Hello"}]


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="known"):
        load_hub_task("mnlii", "train", source=tmp_path)
    with pytest.raises(ValueError, match="known"):
        load_hub_task("xnli", "test", source=tmp_path, languages=["xx"])
    with pytest.raises(ValueError, match="nyu-mll/glue"):
        load_hub_task("mnli", "train", source=tmp_path)


def test_layouts_agree_with_registry():
    used = set()
    for spec in [*INTERMEDIATE.values(), *FINETUNE.values(), *TARGETS.values()]:
        if spec.hub is None:
            continue
        loader, _, _ = spec.hub.partition(":")
        assert loader in LAYOUTS, spec.name
        assert set(spec.languages) <= set(LAYOUTS[loader].languages), spec.name
        used.add(loader)
    assert used == set(LAYOUTS)  # no loader without a task


def test_hub_urls_use_data_files_and_the_parquet_branch():
    from stages.xlt.data.hub_tasks import _hub_url

    assert LAYOUTS["mlqa"].candidates() == [("main", "mlqa.{lang}.{lang}/{split}-*.parquet"),
                                            ("refs/convert/parquet", "mlqa.{lang}.{lang}/{split}/*.parquet")]
    assert _hub_url("nyu-mll/glue", "main", "mnli/train-*.parquet") == "hf://datasets/nyu-mll/glue/mnli/train-*.parquet"
    assert _hub_url("facebook/mlqa", "refs/convert/parquet", "mlqa.de.de/test/*.parquet") == (
        "hf://datasets/facebook/mlqa@refs%2Fconvert%2Fparquet/mlqa.de.de/test/*.parquet")


def test_local_copy_of_the_parquet_branch_layout_is_found(tmp_path):
    _parquet(tmp_path, "mlqa.de.de/test/0000.parquet", [{"id": "m1", "context": "Berlin ist groß.",
             "question": "Was?", "answers": {"text": ["Berlin"], "answer_start": [0]}}])
    examples = load_hub_task("mlqa", "test", source=tmp_path, languages=["de"], cache_dir=tmp_path / "c")
    assert [(e["id"], e["lang"], e["article"]) for e in examples] == [("m1", "de", "mlqa-de-p00000")]

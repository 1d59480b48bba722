"""Hub loaders on local copies of the repositories at their pinned commits (files named, typed and encoded as there;
``hub_fixtures.py``)."""

import re

import pytest

from hub_fixtures import (ANLI, COSMOSQA, CSQA, GLUE_MNLI, HELLASWAG, PANX, PAWSX, QA, SHARD, UDPOS, XNLI, XQUAD,
                          write_download_metadata, write_jsonl_gz, write_parquet)

from stages.xlt.data.bitext import BitextError
from stages.xlt.data.hub_tasks import LAYOUTS, HubDataError, hub_url, load_hub_task
from stages.xlt.tasks.registry import FINETUNE, HUB_MODELS, HUB_SOURCES, INTERMEDIATE, TARGETS, hub_source


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def _load(tmp_path, task, split, **kwargs):
    return load_hub_task(task, split, source=tmp_path, cache_dir=tmp_path / "cache", **kwargs)


def _qa_row(i, context="Paris is big.", title="Paris"):
    return {"id": f"q{i}", "title": title, "context": context, "question": "What is big?",
            "answers": {"text": ["Paris"], "answer_start": [0]}}


def test_squad_maps_to_qa_with_its_title_as_article(tmp_path):
    write_parquet(tmp_path, "squad", f"plain_text/train-{SHARD}.parquet", [_qa_row(1)], QA)
    assert _load(tmp_path, "squad", "train") == [
        {"id": "q1", "article": "Paris", "lang": "en", "context": "Paris is big.", "question": "What is big?",
         "answers": {"text": ["Paris"], "answer_start": [0]}}]


def test_glue_mnli_drops_unlabelled_and_joins_splits(tmp_path):
    rows = [{"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": 0, "idx": 0},
            {"premise": "x", "hypothesis": "y", "label": -1, "idx": 1}]
    write_parquet(tmp_path, "mnli", f"mnli/validation_matched-{SHARD}.parquet", rows, GLUE_MNLI)
    write_parquet(tmp_path, "mnli", f"mnli/validation_mismatched-{SHARD}.parquet", rows[:1], GLUE_MNLI)
    examples = _load(tmp_path, "mnli", "validation_matched+validation_mismatched")
    assert [e["id"] for e in examples] == ["mnli-en-validation_matched-0", "mnli-en-validation_mismatched-0"]
    assert examples[0] == {"id": "mnli-en-validation_matched-0", "lang": "en", "text_a": "A man sleeps.",
                           "text_b": "A man rests.", "label": 0}


def test_anli_rounds_are_joined(tmp_path):
    for r in ("r1", "r2"):
        write_parquet(tmp_path, "anli", f"plain_text/train_{r}-{SHARD}.parquet",
                      [{"uid": f"{r}-0", "premise": "p", "hypothesis": "h", "label": 2, "reason": ""}], ANLI)
    assert [e["id"] for e in _load(tmp_path, "anli", "train_r1+train_r2")] == ["anli-en-train_r1-r1-0",
                                                                              "anli-en-train_r2-r2-0"]


def test_multiple_choice_label_encodings(tmp_path):
    """CommonsenseQA: a letter key; HellaSwag: a string label, "" when unlabelled; CosmosQA: an int 0-3."""
    write_parquet(tmp_path, "commonsenseqa", f"data/train-{SHARD}.parquet", [
        {"id": "c1", "question": "Where?", "question_concept": "x",
         "choices": {"label": ["A", "B", "C"], "text": ["home", "park", "sea"]}, "answerKey": "B"},
        {"id": "c2", "question": "Who?", "question_concept": "x",
         "choices": {"label": ["A", "B"], "text": ["a", "b"]}, "answerKey": ""}], CSQA)
    write_parquet(tmp_path, "hellaswag", f"data/validation-{SHARD}.parquet", [
        {"ind": 4, "activity_label": "x", "ctx_a": "He", "ctx_b": "runs", "ctx": "He runs", "endings": ["a", "b"],
         "source_id": "s", "split": "val", "split_type": "indomain", "label": "1"},
        {"ind": 5, "activity_label": "x", "ctx_a": "", "ctx_b": "", "ctx": "c", "endings": ["a", "b"],
         "source_id": "s", "split": "test", "split_type": "indomain", "label": ""}], HELLASWAG)
    write_parquet(tmp_path, "cosmosqa", f"data/train-{SHARD}.parquet", [
        {"id": "k1", "context": "It rained.", "question": "Why wet?", "answer0": "rain", "answer1": "sun",
         "answer2": "snow", "answer3": "none", "label": 0}], COSMOSQA)
    assert _load(tmp_path, "commonsenseqa", "train") == [
        {"id": "c1", "lang": "en", "context": "Where?", "choices": ["home", "park", "sea"], "label": 1}]
    assert _load(tmp_path, "hellaswag", "validation") == [
        {"id": "hellaswag-validation-4", "lang": "en", "context": "He runs", "choices": ["a", "b"], "label": 1}]
    assert _load(tmp_path, "cosmosqa", "train") == [
        {"id": "k1", "lang": "en", "context": "It rained. Why wet?", "choices": ["rain", "sun", "snow", "none"],
         "label": 0}]


def test_per_language_configs(tmp_path):
    for lang in ("de", "fr"):
        write_parquet(tmp_path, "xnli", f"{lang}/test-{SHARD}.parquet",
                      [{"premise": f"p-{lang}", "hypothesis": "h", "label": 2}], XNLI)
    examples = _load(tmp_path, "xnli", "test", languages=["de", "fr"])
    assert [(e["lang"], e["text_a"], e["label"]) for e in examples] == [("de", "p-de", 2), ("fr", "p-fr", 2)]


def test_pawsx_from_google_xtreme_parses_string_labels(tmp_path):
    write_parquet(tmp_path, "pawsx", f"PAWS-X.de/test-{SHARD}.parquet",
                  [{"sentence1": "a", "sentence2": "b", "label": "1"}, {"sentence1": "c", "sentence2": "d",
                                                                       "label": "0"}], PAWSX)
    assert [(e["id"], e["label"]) for e in _load(tmp_path, "pawsx", "test", languages=["de"])] == [
        ("pawsx-de-test-0", 1), ("pawsx-de-test-1", 0)]


def test_xquad_hub_copy_gets_positional_article_keys(tmp_path):
    rows = [{k: v for k, v in _qa_row(i, context=f"ctx {i // 2}").items() if k != "title"} for i in range(14)]
    write_parquet(tmp_path, "xquad", f"xquad.de/validation-{SHARD}.parquet", rows, XQUAD)
    examples = _load(tmp_path, "xquad", "validation", languages=["de"])
    assert [e["article"] for e in examples] == ["article-000"] * 10 + ["article-001"] * 4


def test_mlqa_from_google_xtreme_uses_its_title(tmp_path):
    write_parquet(tmp_path, "mlqa", f"MLQA.de.de/test-{SHARD}.parquet",
                  [_qa_row(1, "Berlin ist groß.", "Berlin"), _qa_row(2, "Bonn ist klein.", "Bonn")], QA)
    examples = _load(tmp_path, "mlqa", "test", languages=["de"])
    assert [(e["id"], e["lang"], e["article"]) for e in examples] == [("q1", "de", "Berlin"), ("q2", "de", "Bonn")]


def test_tydiqa_filters_by_id_prefix(tmp_path):
    rows = [dict(_qa_row(0), id="finnish-1"), dict(_qa_row(0), id="swahili-2")]
    write_parquet(tmp_path, "tydiqa", f"tydiqa/validation-{SHARD}.parquet", rows, QA)
    assert [e["id"] for e in _load(tmp_path, "tydiqa", "validation", languages=["fi"])] == ["finnish-1"]


def test_bitext_sets_one_pair_per_row(tmp_path):
    write_jsonl_gz(tmp_path, "tatoeba", "test/cmn-eng.jsonl.gz", [{"sentence1": "你好", "sentence2": "Hello",
                                                                     "lang": "cmn-eng"}])
    write_jsonl_gz(tmp_path, "bucc", "test/de-en.jsonl.gz", [
        {"sentence1": "Das ist ein Haus.", "sentence2": "This is a house.", "lang": "de-en"}])
    assert _load(tmp_path, "tatoeba", "test", languages=["zh"]) == [
        {"id": "tatoeba-zh-00000", "lang": "zh", "source": "你好", "target": "Hello"}]
    assert _load(tmp_path, "bucc", "test", languages=["de"])[0]["target"] == "This is a house."


def _one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def test_bucc_row_with_list_sides_fails_with_one_line(tmp_path):
    """The older format (one row per language pair, sentence lists and gold index pairs) must not load silently."""
    write_jsonl_gz(tmp_path, "bucc", "test/de-en.jsonl.gz", [
        {"sentence1": ["Das ist ein Haus.", "Ein Hund."], "sentence2": ["This is a house.", "A dog."],
         "gold": [[1, 1], [2, 2]]}])
    with pytest.raises(BitextError) as error:
        _load(tmp_path, "bucc", "test", languages=["de"])
    message = _one_line(error)
    assert "row 0" in message and "sentence1 is a list" in message and "mteb/BUCC" in message
    assert "mteb/bucc-bitext-mining" in message and "fix:" in message


def test_reversed_tatoeba_pair_fails_with_one_line(tmp_path):
    write_jsonl_gz(tmp_path, "tatoeba", "test/rus-eng.jsonl.gz", [
        {"sentence1": "Привет.", "sentence2": "Hello."},
        {"sentence1": "I am hungry.", "sentence2": "Я голоден."}])
    with pytest.raises(BitextError) as error:
        _load(tmp_path, "tatoeba", "test", languages=["ru"])
    message = _one_line(error)
    assert "row 1" in message and "reversed" in message and "English side (sentence2)" in message


def test_reversed_latin_script_file_fails(tmp_path):
    """German and English share a script: a reversed file is caught by English function words, file-wide."""
    pairs = [("Ich habe Hunger.", "I am hungry."), ("Das ist gut.", "That is good."),
             ("Wo ist der Bahnhof?", "Where is the station?")]
    write_jsonl_gz(tmp_path, "tatoeba", "test/deu-eng.jsonl.gz",
                   [{"sentence1": en, "sentence2": de} for de, en in pairs])
    with pytest.raises(BitextError, match="columns look reversed"):
        _load(tmp_path, "tatoeba", "test", languages=["de"])
    write_jsonl_gz(tmp_path, "tatoeba", "test/deu-eng.jsonl.gz",
                   [{"sentence1": de, "sentence2": en} for de, en in pairs])
    assert len(_load(tmp_path, "tatoeba", "test", languages=["de"])) == 3


def test_a_local_copy_of_another_commit_is_refused(tmp_path):
    relpath = f"plain_text/train-{SHARD}.parquet"
    write_parquet(tmp_path, "squad", relpath, [_qa_row(1)], QA)
    write_download_metadata(tmp_path, "squad", relpath, hub_source("squad").revision)
    assert len(_load(tmp_path, "squad", "train")) == 1  # the pinned commit: accepted
    write_download_metadata(tmp_path, "squad", relpath, "0" * 40)
    with pytest.raises(HubDataError) as error:
        _load(tmp_path, "squad", "train")
    assert "0000000000" in _one_line(error) and hub_source("squad").revision in str(error.value)


def test_a_file_without_the_layouts_columns_is_refused(tmp_path):
    write_parquet(tmp_path, "mlqa", f"MLQA.de.de/test-{SHARD}.parquet",
                  [{k: v for k, v in _qa_row(1).items() if k != "answers"}])
    with pytest.raises(HubDataError, match=r"no column\(s\) \['answers'\]"):
        _load(tmp_path, "mlqa", "test", languages=["de"])


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="known"):
        load_hub_task("mnlii", "train", source=tmp_path)
    with pytest.raises(ValueError, match="known"):
        load_hub_task("xnli", "test", source=tmp_path, languages=["xx"])
    with pytest.raises(HubDataError) as error:
        load_hub_task("mnli", "train", source=tmp_path)
    assert "nyu-mll/glue@bcdcba79" in _one_line(error) and "mnli/train-*.parquet" in str(error.value)


def test_provenance_records_every_file_with_its_commit(tmp_path):
    write_parquet(tmp_path, "squad", f"plain_text/train-{SHARD}.parquet", [_qa_row(1), _qa_row(2)], QA)
    sources: list[dict] = []
    _load(tmp_path, "squad", "train", sources=sources)
    assert sources == [{"repo": "rajpurkar/squad", "revision": HUB_SOURCES["squad"].revision,
                        "files": [f"plain_text/train-{SHARD}.parquet"], "rows": 2, "read_from": "local copy"}]


def test_layouts_agree_with_registry():
    used = set()
    for spec in [*INTERMEDIATE.values(), *FINETUNE.values(), *TARGETS.values()]:
        for loader_split in (spec.hub, spec.hub_dev):
            if loader_split is None:
                continue
            loader, _, _ = loader_split.partition(":")
            assert loader in LAYOUTS and loader in HUB_SOURCES, spec.name
            assert set(spec.languages) <= set(LAYOUTS[loader].languages) or loader_split == spec.hub_dev, spec.name
            used.add(loader)
    assert used == set(LAYOUTS) == set(HUB_SOURCES)  # no loader without a task, every loader pinned


def test_every_hub_source_is_pinned_to_a_commit():
    for name, source in {**HUB_SOURCES, **HUB_MODELS}.items():
        assert re.fullmatch(r"[0-9a-f]{7,40}", source.revision), name
        assert source.evidence, name
    unverified = sorted(name for name, s in {**HUB_SOURCES, **HUB_MODELS}.items() if not s.full_hash)
    assert unverified == ["FacebookAI/xlm-roberta-large"]  # the README's table says why
    assert hub_url(hub_source("mlqa"), "MLQA.de.de/test-*.parquet") == (
        f"hf://datasets/google/xtreme@{HUB_SOURCES['mlqa'].revision}/MLQA.de.de/test-*.parquet")


def test_tagging_sets_from_google_xtreme(tmp_path):
    """udpos configs are named by the language's English name, PAN-X by its code; tags stay integers."""
    write_parquet(tmp_path, "udpos", f"udpos.German/test-{SHARD}.parquet",
                  [{"tokens": ["Das", "Haus", "."], "pos_tags": [5, 7, 12]}], UDPOS)
    write_parquet(tmp_path, "panx", f"PAN-X.de/test-{SHARD}.parquet",
                  [{"tokens": ["Anna", "lebt", "in", "Berlin"], "ner_tags": [1, 0, 0, 5], "langs": ["de"] * 4}], PANX)
    assert _load(tmp_path, "udpos", "test", languages=["de"]) == [
        {"id": "udpos-de-test-00000", "lang": "de", "tokens": ["Das", "Haus", "."], "tags": [5, 7, 12]}]
    assert _load(tmp_path, "panx", "test", languages=["de"])[0]["tags"] == [1, 0, 0, 5]


def test_a_tagged_row_whose_lists_differ_fails_with_one_line(tmp_path):
    write_parquet(tmp_path, "udpos", f"udpos.German/test-{SHARD}.parquet",
                  [{"tokens": ["Das", "Haus"], "pos_tags": [5]}], UDPOS)
    with pytest.raises(HubDataError) as error:
        _load(tmp_path, "udpos", "test", languages=["de"])
    assert "2 words but 1 pos_tags" in _one_line(error)

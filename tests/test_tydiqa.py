"""TyDiQA-GoldP as jiant's XTREME setup runs it: a fine-tuning task of its own (the English rows of google/xtreme's
tydiqa train split, selected on the English rows of its validation split) whose model predicts the ``tydiqa``
target; Hub-only; its languages have their own questions, so no English-question condition applies to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub_fixtures import QA, SHARD, write_parquet
from stages.xlt.tasks import registry

PAPER = Path(__file__).resolve().parents[1] / "stages" / "presets"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def _row(name: str, i: int, title: str) -> dict:
    context = f"{title} is a city. It has {i} parks."
    return {"id": f"{name}-{i}", "title": title, "context": context, "question": f"How many parks? {i}",
            "answers": {"text": [str(i)], "answer_start": [context.index(str(i))]}}


def _write_tydiqa(root: Path) -> None:
    """google/xtreme's layout: one file per split, every language in it, ids prefixed by the language's name."""
    write_parquet(root, "tydiqa", f"tydiqa/train-{SHARD}.parquet",
                  [_row("english", 1, "Oslo"), _row("finnish", 2, "Turku"), _row("english", 3, "Bergen"),
                   _row("swahili", 4, "Mombasa")], QA)
    write_parquet(root, "tydiqa", f"tydiqa/validation-{SHARD}.parquet",
                  [_row("english", 11, "Paris"), _row("finnish", 12, "Espoo"), _row("finnish", 13, "Espoo"),
                   _row("arabic", 14, "Cairo")], QA)


def test_the_target_is_predicted_by_its_own_fine_tuning_task():
    spec, model = registry.target("tydiqa"), registry.finetune_task("tydiqa")
    assert spec.model == "tydiqa" and model.family == spec.family == "qa"
    assert (model.hub, model.hub_dev, spec.hub) == ("tydiqa:train", "tydiqa:validation", "tydiqa:validation")
    assert registry.available(model, "hub") and not registry.available(model, "offline")
    assert not spec.english_originals and registry.target("xquad").english_originals


def test_prepare_hub_reads_english_train_and_dev_and_every_test_language(tmp_path):
    from stages.xlt.prepare import prepare_hub

    _write_tydiqa(tmp_path / "hub")
    prepared = prepare_hub(intermediate_tasks=[], finetune=["tydiqa"], targets={"tydiqa": ["en", "fi"]},
                           source=tmp_path / "hub", max_train=None, max_test=None, seed=0, max_dev=None,
                           cache_dir=tmp_path / "cache")
    assert [r["id"] for r in prepared.finetune["tydiqa.jsonl"]] == ["english-1", "english-3"]
    assert [r["id"] for r in prepared.finetune["tydiqa.dev.jsonl"]] == ["english-11"]
    assert all(r["lang"] == "en" for r in prepared.finetune["tydiqa.jsonl"] + prepared.finetune["tydiqa.dev.jsonl"])
    finnish = prepared.test["tydiqa.fi.jsonl"]
    assert [r["id"] for r in finnish] == ["finnish-12", "finnish-13"]
    # No English original to share a cluster with: each language's article (title) is its own cluster.
    assert {r["cluster"] for r in finnish} == {"tydiqa:fi:Espoo"}
    assert [r["id"] for r in prepared.test["tydiqa.en.jsonl"]] == ["english-11"]
    assert {s["files"][0] for s in prepared.sources} == {f"tydiqa/train-{SHARD}.parquet",
                                                         f"tydiqa/validation-{SHARD}.parquet"}


def _paper() -> dict:
    return yaml.safe_load((PAPER / "paper.yaml").read_text(encoding="utf-8"))


def test_the_paper_preset_fine_tunes_and_evaluates_it_without_english_questions():
    from stages.params import validate

    params = validate(_paper())
    assert "tydiqa" in params.finetune_targets()
    assert params.evaluate.targets["tydiqa"] == list(registry.target("tydiqa").languages)
    assert "codeswitch_en_question" in params.conditions_for("xquad")
    assert "codeswitch_en_question" not in params.conditions_for("tydiqa")
    assert {"typos", "distractor", "codeswitch_words"} <= set(params.conditions_for("tydiqa"))


def test_params_reject_an_english_question_swap_on_it_and_an_offline_profile():
    from stages.params import ParamsError, validate

    raw = _paper()
    raw["perturb"]["conditions"]["codeswitch_en_question"]["targets"] = ["xquad", "tydiqa"]
    with pytest.raises(ParamsError, match="codeswitch_en_question.*tydiqa's items have none"):
        validate(raw)
    raw = _paper()
    del raw["transfer"]["targets"]["tydiqa"]
    with pytest.raises(ParamsError, match="add 'tydiqa' to transfer.targets"):
        validate(raw)
    small = yaml.safe_load((PAPER / "small.yaml").read_text(encoding="utf-8"))
    small["transfer"]["targets"]["tydiqa"] = {}
    with pytest.raises(ParamsError, match="transfer.targets.tydiqa: task 'tydiqa' needs download.source: hub"):
        validate(small)

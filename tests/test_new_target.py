"""A new target of an existing family is a registry entry plus a loader: here a BUCC-style retrieval target on Hub
fixtures goes through what the stages call (params validation, Hub preparation, the prefix inputs, evaluation with
and without a perturbation, score rows) with no code that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub_fixtures import write_jsonl_gz
from stages.xlt.tasks import registry

NAME = "bucc_fixture"
PAIRS = {"de": [("Das ist ein Haus.", "This is a house."), ("Der Hund schläft.", "The dog sleeps."),
                ("Wir essen Brot.", "We eat bread.")],
         "fr": [("C'est une maison.", "This is a house."), ("Le chien dort.", "The dog sleeps.")]}


@pytest.fixture
def new_target(monkeypatch):
    """The registry entry: a retrieval target read by the existing BUCC loader, in two languages."""
    spec = registry.TaskSpec(NAME, "retrieval", languages=("de", "fr"), hub="bucc:test")
    monkeypatch.setitem(registry.TARGETS, NAME, spec)
    return spec


def test_params_accept_it_and_ask_its_protocol(new_target):
    import yaml

    from stages.params import ParamsError, validate

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "stages/presets/paper.yaml").read_text("utf-8"))
    raw["evaluate"]["targets"][NAME] = ["de"]
    params = validate(raw)
    assert params.conditions_for(NAME) == [n for n, c in params.perturb.conditions.items()
                                           if "sentence" in c.kinds() and c.targets is None]
    raw["attack"]["targets"] = [NAME]
    with pytest.raises(ParamsError, match=f"'{NAME}' cannot be attacked"):
        validate(raw)


def test_prepared_evaluated_and_scored_without_naming_it(new_target, tmp_path, tmp_path_factory):
    try:
        from test_training_tiny import build_tiny_encoder
    except ImportError:
        from tests.test_training_tiny import build_tiny_encoder
    from stages.xlt.evaluation import EvaluationSettings, PredictionJob, for_family
    from stages.xlt.io import write_jsonl
    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.perturbations.knobs import CLEAN
    from stages.xlt.prepare import prepare_hub
    from stages.xlt.scoring.collect import score_rows

    for lang, pairs in PAIRS.items():
        write_jsonl_gz(tmp_path / "hub", "bucc", f"test/{lang}-en.jsonl.gz",
                       [{"sentence1": a, "sentence2": b, "lang": f"{lang}-en"} for a, b in pairs])
    prepared = prepare_hub(intermediate_tasks=[], finetune=[], targets={NAME: ["de", "fr"]}, source=tmp_path / "hub",
                           max_train=None, max_test=None, seed=0, cache_dir=tmp_path / "cache")
    test = prepared.test[f"{NAME}.de.jsonl"]
    assert len(test) == 3 and all(row["cluster"] == row["id"] for row in test)  # each pair its own cluster

    model = MultiTaskModel(build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=0), {})
    evaluation = for_family(new_target.family)
    settings = EvaluationSettings(batch_size=2)
    assert set(evaluation.prefix_inputs(model.tokenizer, test, condition=CLEAN, window=None,
                                        settings=settings)) == {"", "en"}
    perturbed = [{**test[0], "source": "Das ist ein Boot."}]

    def job(condition, examples, changed):
        return PredictionJob(condition=condition, examples=examples, changed=changed, originals=lambda: test,
                             clean_predictions={}, states=lambda c, side: None, window=None, settings=settings)

    clean_rows = list(evaluation.predict_rows(model, None, job(CLEAN, test, test)))
    changed_rows = list(evaluation.predict_rows(model, None, job("typos", perturbed, perturbed)))
    assert [r["id"] for r in clean_rows] == [r["id"] for r in changed_rows] == [r["id"] for r in test]
    write_jsonl(tmp_path / "clean.jsonl", clean_rows)
    rows = list(score_rows(new_target.family, task=NAME, arm="none", seed=0, lang="de", condition=CLEAN,
                           predictions=tmp_path / "clean.jsonl", gold={r["id"]: r for r in test}, inputs=None,
                           clusters={r["id"]: r["cluster"] for r in test}))
    assert {r["metric"] for r in rows} == {new_target.protocol.metric, "accuracy_en2xx"} and len(rows) == 6

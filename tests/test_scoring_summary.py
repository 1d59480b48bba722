"""Summary tables, headline metrics, plot tables and the Markdown report from a small synthetic score table."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from stages.xlt.scoring.report import render_report
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import (
    SummarySettings,
    detailed,
    headline,
    plot_tables,
    summarize,
    write_plot_tables,
)
from stages.xlt.scoring.synthetic import synthetic_scores

RATES = {"multi": 0.5, "squad": 0.1, "none": 0.1}
SETTINGS = SummarySettings(bootstrap=BootstrapSettings(n_resamples=300, seed=3))
SETUP = {
    "model": "tiny-encoder",
    "arms": {"none": [], "squad": ["squad"], "multi": ["squad", "mnli"]},
    "seeds": [0, 1],
    "data_sizes": {"test": {"de": 150, "zh": 150}},
    "perturbations": {"typos": {"rate": 0.1}},
}


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return synthetic_scores(RATES, langs=("de", "zh"), conditions=("typos",), seeds=(0, 1), n_examples=150, seed=2)


@pytest.fixture(scope="module")
def attacks(scores) -> pd.DataFrame:
    clean = scores[scores["condition"] == "clean"][["task", "arm", "seed", "lang", "id"]]
    success = (clean["arm"] == "multi") | (clean["id"] < "q00075")
    return clean.assign(success=success, words_changed=2, queries=30)


@pytest.fixture(scope="module")
def summary(scores, attacks):
    return summarize(scores, attacks, SETTINGS)


def manual_drop(scores: pd.DataFrame, arm: str, lang: str) -> float:
    rows = scores[(scores["arm"] == arm) & (scores["lang"] == lang)]
    return rows[rows["condition"] == "clean"]["value"].mean() - rows[rows["condition"] == "typos"]["value"].mean()


def test_arm_table_matches_a_direct_computation(summary, scores):
    arms = summary.arms.set_index(["arm", "lang", "condition"])
    for arm in RATES:
        for lang in ("de", "zh"):
            assert arms.loc[(arm, lang, "typos"), "drop"] == pytest.approx(manual_drop(scores, arm, lang))
        average = np.mean([manual_drop(scores, arm, lang) for lang in ("de", "zh")])
        assert arms.loc[(arm, "avg", "typos"), "drop"] == pytest.approx(average)
        assert 40 <= arms.loc[(arm, "avg", "typos"), "mean_chrf"] <= 100


def test_comparisons_find_the_planted_effect(summary, scores):
    rows = summary.comparisons.set_index(["arm_a", "arm_b", "lang", "condition"])
    multi_vs_squad = rows.loc[("multi", "squad", "avg", "typos")]
    expected = np.mean([manual_drop(scores, "multi", l) - manual_drop(scores, "squad", l) for l in ("de", "zh")])
    assert multi_vs_squad["delta"] == pytest.approx(expected)
    assert multi_vs_squad["verdict"] == "degrades"
    assert rows.loc[("squad", "none", "avg", "typos"), "verdict"] == "no evidence"


def test_alignment_uses_only_ids_scored_everywhere(scores):
    drop_one = (scores["arm"] == "none") & (scores["condition"] == "typos") & (scores["id"] == "q00000")
    missing = scores[~(drop_one & (scores["lang"] == "de"))]
    result = summarize(missing, None, SETTINGS)
    assert set(result.arms.loc[result.arms["lang"] == "de", "n_examples"]) == {149}
    assert set(result.arms.loc[result.arms["lang"] == "zh", "n_examples"]) == {150}


def test_attack_success_rate(summary):
    attacks = summary.attacks.set_index(["arm", "lang"])
    assert attacks.loc[("multi", "avg"), "success_rate"] == pytest.approx(1.0)
    assert attacks.loc[("squad", "de"), "success_rate"] == pytest.approx(0.5)


def test_headline_is_small_flat_and_keyed_by_data(summary):
    head = headline(summary)
    assert len(head) <= 60
    assert all(isinstance(v, (float, str)) or v is None for v in head.values())
    row = summary.comparisons.set_index(["arm_a", "arm_b", "lang"]).loc[("multi", "squad", "avg")]
    assert head["qa.f1.multi_vs_squad.typos.delta"] == pytest.approx(row["delta"], abs=1e-6)
    assert head["qa.f1.multi_vs_squad.typos.ci_low"] <= head["qa.f1.multi_vs_squad.typos.ci_high"]
    assert head["qa.f1.multi_vs_squad.typos.verdict"] == "degrades"
    assert {"qa.f1.multi.clean", "qa.f1.multi.typos", "qa.f1.multi.typos.drop", "qa.multi.attack_success_rate"} <= set(head)
    json.dumps(head, allow_nan=False)


def test_detailed_is_json_without_nan(summary):
    nested = detailed(summary)
    json.dumps(nested, allow_nan=False)
    row = summary.comparisons.set_index(["arm_a", "arm_b", "lang"]).loc[("squad", "none", "de")]
    leaf = nested["comparisons"]["qa"]["f1"]["squad_vs_none"]["typos"]["de"]
    assert leaf["delta"] == pytest.approx(row["delta"], abs=1e-6) and leaf["verdict"] == row["verdict"]
    assert nested["arms"]["qa"]["f1"]["multi"]["typos"]["avg"]["n_languages"] == 2
    assert nested["attacks"]["qa"]["squad"]["de"]["success_rate"] == pytest.approx(0.5)


def test_comparisons_param_drives_arm_names(scores):
    custom = SummarySettings(comparisons=(("none", "multi"),), bootstrap=BootstrapSettings(n_resamples=100))
    result = summarize(scores, None, custom)
    assert set(zip(result.comparisons["arm_a"], result.comparisons["arm_b"])) == {("none", "multi")}
    assert result.comparisons.set_index("lang").loc["avg", "verdict"] == "improves"


def test_plot_tables_written_as_csv(summary, tmp_path):
    tables = plot_tables(summary)
    assert {"arm", "lang", "condition", "drop", "ci_low", "ci_high"} <= set(tables["drop"].columns)
    assert {"comparison", "lang", "condition", "delta", "ci_low", "ci_high"} <= set(tables["delta"].columns)
    assert {"arm", "chrf_mid", "score"} <= set(tables["strength"].columns)
    paths = write_plot_tables(summary, tmp_path)
    assert sorted(p.name for p in paths) == ["delta.csv", "drop.csv", "strength.csv"]
    assert len(pd.read_csv(tmp_path / "drop.csv")) == len(tables["drop"])


def test_report_contains_the_computed_numbers(summary):
    text = render_report(summary, SETUP, {"Δ heatmap": "plots/delta_heatmap.png"})
    row = summary.comparisons.set_index(["arm_a", "arm_b", "lang", "condition"]).loc[("multi", "squad", "avg", "typos")]
    assert f"{100 * row['delta']:+.1f} [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]" in text
    clean = summary.arms[(summary.arms["arm"] == "multi") & (summary.arms["lang"] == "avg")]["clean"].mean()
    assert f"{100 * clean:.1f}" in text
    for needed in ("## Question", "## Setup", "## Answer", "## What this does not show", "tiny-encoder",
                   "(plots/delta_heatmap.png)", "300 resamples", "degrades", "no evidence"):
        assert needed in text


def test_bad_tables_raise(scores):
    with pytest.raises(ValueError, match="lacks columns"):
        summarize(scores.drop(columns=["seed"]))
    with pytest.raises(ValueError, match="no 'clean' rows"):
        summarize(scores[scores["condition"] != "clean"])
    with pytest.raises(ValueError, match="duplicate"):
        summarize(pd.concat([scores, scores.head(1)]))
    with pytest.raises(ValueError, match="0–100 scale"):
        summarize(scores.assign(chrf=scores["chrf"] * 2), None, SETTINGS)
    assert math.isnan(scores.loc[scores["condition"] == "clean", "chrf"].iloc[0])


def test_publish_writes_everything_with_relative_links(summary, tmp_path):
    from stages.xlt.scoring.publish import publish

    written = publish(summary, SETUP, metrics_dir=tmp_path / "metrics", plots_dir=tmp_path / "plots",
                      report_path=tmp_path / "report.md")
    assert json.loads(written["headline"].read_text())["qa.f1.multi_vs_squad.typos.verdict"] == "degrades"
    report = written["report"].read_text()
    assert "(plots/delta_qa_multi_vs_squad.png)" in report
    assert (tmp_path / "plots" / "delta_qa_multi_vs_squad.png").exists()
    assert (tmp_path / "plots" / "drop.csv").exists()

"""The machine-readable outputs and the files `publish` writes: narrow headline rows, every cell without NaN,
plot tables with intervals, training curves gathered per phase, the report and one page per target."""

import json

import pandas as pd
import pytest
from scoring_support import COMPARISONS, synthetic_attacks, synthetic_scores

from stages.xlt.scoring.metrics_files import detailed, headline_files, plot_tables, write_plot_tables
from stages.xlt.scoring.publish import publish, training_curves
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import summarize

RATES = {"multi": 0.5, "squad": 0.1, "none": 0.1}


@pytest.fixture(scope="module")
def summary():
    scores = synthetic_scores(RATES, langs=("de", "th", "zh"), conditions=("typos", "codeswitch"), seeds=(0, 1),
                              n_clusters=30, coverage={("th", "codeswitch"): 0.0, ("de", "codeswitch"): 0.5}, seed=2)
    attacks = synthetic_attacks(scores, {"multi": 0.7, "squad": 0.2, "none": 0.2}, n_items=40)
    settings = SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=300, seed=3),
                               n_permutations=300, headline=(("qa", ("multi", "squad"), "typos"),))
    return summarize(scores, attacks, settings)


def row(table, **where):
    mask = pd.Series(True, index=table.index)
    for key, value in where.items():
        mask &= table[key] == value
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


def test_headline_files_are_narrow_rows_in_points(summary):
    files = headline_files(summary)
    assert set(files) == {"qa.typos.multi-squad.json", "clean.qa.json"}
    cell = files["qa.typos.multi-squad.json"]
    comparison = row(summary.comparisons, metric="f1", arm_a="multi", arm_b="squad", lang="avg", condition="typos")
    assert set(cell) == {"delta", "ci_low", "ci_high", "p_adj", "mde"}
    assert cell["delta"] == pytest.approx(100 * comparison["delta"], abs=0.01)
    assert cell["ci_low"] <= cell["delta"] <= cell["ci_high"]
    assert cell["p_adj"] == pytest.approx(comparison["p_adjusted"], abs=1e-6)
    clean = files["clean.qa.json"]
    assert set(clean) == set(RATES)
    assert clean["multi"] == pytest.approx(100 * row(summary.clean, metric="f1", arm="multi", lang="avg")["clean"],
                                           abs=0.01)
    for values in files.values():
        json.dumps(values, allow_nan=False)
    # A row per file, a column per key: the widest `dvc metrics show` line is the longest path plus every key.
    keys = set().union(*files.values())
    assert len(keys) <= 12


def test_detailed_is_json_without_nan_and_has_every_cell(summary):
    nested = detailed(summary)
    json.dumps(nested, allow_nan=False)
    leaf = nested["comparisons"]["qa"]["f1"]["squad_vs_none"]["typos"]["de"]
    comparison = row(summary.comparisons, metric="f1", arm_a="squad", arm_b="none", lang="de", condition="typos")
    assert leaf["delta"] == pytest.approx(comparison["delta"], abs=1e-6) and leaf["verdict"] == comparison["verdict"]
    for key in ("coverage", "n", "n_clusters", "diluted_delta", "ci_low", "p_value", "p_adjusted", "p_permutation",
                "relative_delta", "relative_ci_low", "confounded", "family"):
        assert key in leaf
    assert nested["comparisons"]["qa"]["f1"]["multi_vs_squad"]["codeswitch"]["th"]["verdict"] == "not applicable"
    assert nested["arms"]["qa"]["f1"]["multi"]["typos"]["avg"]["n_languages"] == 3
    assert nested["attacks"]["qa"]["multi_vs_squad"]["pooled"]["n"] > 0
    assert nested["settings"]["interval_scope"] == summary.scope()
    assert nested["settings"]["interval_method"] == ("cluster bootstrap (items) + between-run variance with "
                                                     "Satterthwaite t")
    assert nested["settings"]["p_permutation"].startswith("items only, runs fixed")
    assert nested["settings"]["alpha"] == 0.05
    for key in ("se", "df", "var_items", "var_runs", "mde", "mde_family", "family_size", "seed_var_a",
                "var_interaction_a", "per_seed_drop_a", "per_seed_clean_b", "confounded_changed", "n_resamples_nan"):
        assert key in leaf, key
    assert len(leaf["per_seed_drop_a"]) == 2


def test_plot_tables_carry_intervals_coverage_and_adjusted_p(summary, tmp_path):
    tables = plot_tables(summary)
    assert {"arm", "lang", "condition", "drop", "ci_low", "ci_high", "coverage", "n"} <= set(tables["drop"].columns)
    assert {"comparison", "lang", "condition", "delta", "ci_low", "ci_high", "coverage", "n", "p_value",
            "p_adjusted"} <= set(tables["delta"].columns)
    assert {"arm", "chrf_mid", "drop", "ci_low", "ci_high", "n"} <= set(tables["strength"].columns)
    assert list(tables["headline"]["cell"]) == ["qa · typos · multi − squad"]
    assert sorted(tables["clean"]["arm"]) == sorted(RATES) and (tables["clean"]["ci_low"]
                                                                <= tables["clean"]["clean"]).all()
    paths = write_plot_tables(summary, tmp_path)
    assert sorted(p.name for p in paths) == ["clean.csv", "delta.csv", "drop.csv", "headline.csv", "strength.csv"]
    assert len(pd.read_csv(tmp_path / "delta.csv")) == len(tables["delta"])


def _loss_log(folder, values):
    folder.mkdir(parents=True)
    (folder / "loss.tsv").write_text("step\tloss\n" + "".join(f"{10 * (i + 1)}\t{v}\n" for i, v in enumerate(values)))


def test_training_curves_give_one_table_per_phase_and_task(tmp_path):
    _loss_log(tmp_path / "intermediate" / "multi-0" / "plots" / "metrics", [3.0, 2.0])
    _loss_log(tmp_path / "intermediate" / "squad-0" / "plots" / "metrics", [3.5, 2.5])
    _loss_log(tmp_path / "transfer" / "multi-0" / "qa" / "plots" / "metrics", [4.0])
    _loss_log(tmp_path / "transfer" / "multi-0" / "xnli" / "plots" / "metrics", [1.1])
    curves = training_curves({phase: tmp_path / phase for phase in ("intermediate", "transfer")})
    assert sorted(curves) == ["intermediate", "transfer_qa", "transfer_xnli"]
    assert sorted(curves["intermediate"]["model"].unique()) == ["multi-0", "squad-0"]
    assert list(curves["intermediate"].columns) == ["model", "step", "loss"]
    assert curves["transfer_xnli"]["loss"].tolist() == [1.1]


def test_publish_writes_everything_with_relative_links(summary, tmp_path):
    setup = {"model": "tiny-encoder", "arms": {"none": [], "squad": ["squad"], "multi": ["squad", "mnli"]},
             "seeds": [0, 1], "targets": ["qa"]}
    written = publish(summary, setup, headline_dir=tmp_path / "metrics" / "headline",
                      detailed_path=tmp_path / "metrics" / "detailed.json", plots_dir=tmp_path / "plots",
                      report_path=tmp_path / "metrics" / "report.md", figures_dir=tmp_path / "plots" / "figures",
                      curves={}, curves_dir=tmp_path / "plots" / "training_curves")
    assert sorted(p.name for p in written["headline"].iterdir()) == ["clean.qa.json", "qa.typos.multi-squad.json"]
    report = written["report"].read_text()
    assert "(../plots/figures/forest_qa_multi_vs_squad.png)" in report
    assert "(report/qa.md)" in report
    page = (tmp_path / "metrics" / "report" / "qa.md").read_text()
    assert "(../../plots/figures/drop_qa_codeswitch.png)" in page and "[← the report](../report.md)" in page
    for name in ("forest_qa_multi_vs_squad.png", "drop_qa_codeswitch.png", "strength_qa.png", "headline.png"):
        assert (tmp_path / "plots" / "figures" / name).exists()
    assert (tmp_path / "plots" / "drop.csv").exists() and (tmp_path / "plots" / "training_curves").is_dir()

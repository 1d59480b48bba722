"""Summary tables from synthetic score tables: coverage-aware cells, language averages without not-applicable
languages, multiplicity families, the too-few-clusters guard, the variance split, per-seed values and minimum
detectable effects, confound flags, the paired attack table. (Output files: test_scoring_outputs.py.)"""

import math

import numpy as np
import pandas as pd
import pytest
from scoring_support import COMPARISONS, bh_by_definition, holm_by_definition, synthetic_attacks, synthetic_scores

from stages.xlt.scoring.power import Components, measured_effects
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings, decide
from stages.xlt.scoring.summary import summarize

RATES = {"multi": 0.5, "squad": 0.1, "none": 0.1}
LANGS = ("de", "th", "zh")
COVERAGE = {("th", "codeswitch"): 0.0, ("de", "codeswitch"): 0.5}
SETTINGS = SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=300, seed=3),
                           n_permutations=300, headline=(("qa", ("multi", "squad"), "typos"),))


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return synthetic_scores(RATES, langs=LANGS, conditions=("typos", "codeswitch"), seeds=(0, 1), n_clusters=30,
                            coverage=COVERAGE, seed=2)


@pytest.fixture(scope="module")
def attacks(scores) -> pd.DataFrame:
    return synthetic_attacks(scores, {"multi": 0.7, "squad": 0.2, "none": 0.2}, n_items=40)


@pytest.fixture(scope="module")
def summary(scores, attacks):
    return summarize(scores, attacks, SETTINGS)


def manual_drop(scores: pd.DataFrame, arm: str, lang: str, condition: str, changed_only: bool = True) -> float:
    rows = scores[(scores["arm"] == arm) & (scores["lang"] == lang)]
    perturbed = rows[rows["condition"] == condition]
    if changed_only:
        perturbed = perturbed[perturbed["applied"]]
    clean = rows[(rows["condition"] == "clean") & rows["id"].isin(perturbed["id"])]
    return clean["value"].mean() - perturbed["value"].mean()


def cell(table: pd.DataFrame, **keys) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in keys.items():
        mask &= (table[column] == value).to_numpy()
    assert mask.sum() == 1, keys
    return table[mask].iloc[0]


def test_drops_use_only_the_changed_examples(summary, scores):
    for arm in RATES:
        for lang in ("de", "zh"):
            row = cell(summary.arms, arm=arm, lang=lang, condition="codeswitch")
            assert row["drop"] == pytest.approx(manual_drop(scores, arm, lang, "codeswitch"))
            assert row["diluted_drop"] == pytest.approx(manual_drop(scores, arm, lang, "codeswitch", False))
    de = cell(summary.arms, arm="multi", lang="de", condition="codeswitch")
    assert 0.3 < de["coverage"] < 0.7 and de["n"] < de["n_total"] == 120
    assert de["n_clusters"] == len(set(scores[(scores["lang"] == "de") & (scores["condition"] == "codeswitch")
                                              & scores["applied"]]["cluster"]))
    # Half the examples unchanged: the diluted drop is about half the drop on changed examples.
    assert de["diluted_drop"] == pytest.approx(de["drop"] * de["coverage"], rel=1e-9)


def test_a_cell_with_no_changed_example_is_not_applicable_and_leaves_the_average(summary, scores):
    arms, deltas = summary.arms, summary.comparisons
    th = cell(arms, arm="multi", lang="th", condition="codeswitch")
    assert not th["applicable"] and th["n"] == 0 and th["coverage"] == 0 and math.isnan(th["drop"])
    th_delta = cell(deltas, arm_a="multi", arm_b="squad", lang="th", condition="codeswitch")
    assert th_delta["verdict"] == "not applicable" and math.isnan(th_delta["p_value"])
    assert math.isnan(th_delta["p_adjusted"]) and math.isnan(th_delta["delta"])
    average = cell(arms, arm="multi", lang="avg", condition="codeswitch")
    assert average["drop"] == pytest.approx(np.mean([manual_drop(scores, "multi", lang, "codeswitch")
                                                     for lang in ("de", "zh")]))
    assert average["n_languages"] == 2 and average["languages"] == "de,zh" and average["not_applicable"] == "th"
    delta = cell(deltas, arm_a="multi", arm_b="squad", lang="avg", condition="codeswitch")
    expected = np.mean([manual_drop(scores, "multi", lang, "codeswitch") - manual_drop(scores, "squad", lang,
                                                                                        "codeswitch")
                        for lang in ("de", "zh")])
    assert delta["delta"] == pytest.approx(expected)
    # Two applicable languages in the family of per-language cells, not three.
    assert cell(deltas, arm_a="multi", arm_b="squad", lang="de", condition="codeswitch")["family_size"] == 2


def test_an_all_not_applicable_average_is_not_applicable(scores):
    nothing = scores.assign(applied=np.where(scores["condition"] == "codeswitch", False, scores["applied"]))
    result = summarize(nothing, None, SETTINGS)
    average = cell(result.comparisons, arm_a="multi", arm_b="squad", lang="avg", condition="codeswitch")
    assert average["verdict"] == "not applicable" and average["n"] == 0 and math.isnan(average["p_adjusted"])
    assert not cell(result.arms, arm="multi", lang="avg", condition="codeswitch")["applicable"]


def test_comparisons_find_the_planted_effect(summary):
    rows = summary.comparisons
    assert cell(rows, arm_a="multi", arm_b="squad", lang="avg", condition="typos")["verdict"] == "degrades"
    assert cell(rows, arm_a="squad", arm_b="none", lang="avg", condition="typos")["verdict"] == "no evidence"


def test_families_and_verdicts_use_the_adjusted_p(summary):
    rows = summary.comparisons
    for family, block in rows.groupby("family"):
        assert block["p_adjusted"].to_numpy() == pytest.approx(
            holm_by_definition(block["p_value"].tolist()), nan_ok=True)
    assert rows.groupby("family").size().max() > 1  # families hold several cells: the adjustment is not a no-op
    headline_rows = rows[rows["headline"]]
    assert len(headline_rows) == 1 and set(headline_rows["family"]) == {"headline cells"}
    per_lang = rows[(rows["lang"] != "avg") & (rows["arm_a"] == "multi") & (rows["arm_b"] == "none")
                    & (rows["condition"] == "typos")]
    assert set(per_lang["family"]) == {"qa/f1/multi_vs_none/typos: languages"} and len(per_lang) == 3
    for row in rows[rows["applicable"]].itertuples():
        assert row.verdict == decide(row.p_adjusted, row.delta, 0.05)
        assert (row.ci_low > 0 or row.ci_high < 0) == (row.p_value < 0.05)
    bh = summarize(synthetic_scores(RATES, langs=LANGS, n_clusters=10, seed=4), None,
                   SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100),
                                   multiplicity="bh"))
    for family, block in bh.comparisons.groupby("family"):
        assert block["p_adjusted"].to_numpy() == pytest.approx(bh_by_definition(block["p_value"].tolist()))


def test_the_reference_adjustments_match_hand_computed_values():
    """The definitions the summary's families are checked against, pinned by hand (test_scoring_statistics.py
    pins adjust_p_values to the same numbers)."""
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # Holm: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> running max 0.06.
    assert holm_by_definition(p)[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(holm_by_definition(p)[4])
    # BH: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04, 0.04·4/4 = 0.04 -> running min from the top.
    assert bh_by_definition(p)[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02]) and math.isnan(bh_by_definition(p)[4])
    assert holm_by_definition([0.5, 0.6]) == [1.0, 1.0] and bh_by_definition([0.2]) == [0.2]


def test_a_cell_significant_only_before_adjustment_is_no_evidence():
    # Moderate effect, six languages: one language has raw p < 0.05 whose interval excludes 0, but after Holm
    # over the six it is not significant, so its verdict must be "no evidence".
    scores = synthetic_scores({"multi": 0.25, "squad": 0.15}, langs=("ar", "de", "hi", "ru", "th", "zh"),
                              n_clusters=20, seed=3)
    result = summarize(scores, None, SummarySettings(comparisons=(("multi", "squad"),),
                                                     bootstrap=BootstrapSettings(n_resamples=400)))
    rows = result.comparisons[result.comparisons["lang"] != "avg"]
    borderline = rows[(rows["p_value"] < 0.05) & (rows["p_adjusted"] >= 0.05)]
    assert len(borderline) >= 1
    assert (borderline["ci_low"] > 0).all() or (borderline["ci_high"] < 0).all()
    assert set(borderline["verdict"]) == {"no evidence"}
    # Holm, not Bonferroni: on these graded p-values the step-down gives some cell a smaller adjusted p than m·p.
    languages = result.comparisons[result.comparisons["family"] == rows["family"].iloc[0]]
    holm = holm_by_definition(languages["p_value"].tolist())
    assert languages["p_adjusted"].to_numpy() == pytest.approx(holm)
    bonferroni = np.minimum(1.0, len(languages) * languages["p_value"].to_numpy())
    assert (np.array(holm) < bonferroni - 1e-9).any()


def test_alignment_uses_only_ids_scored_everywhere(scores):
    drop_one = (scores["arm"] == "none") & (scores["condition"] == "typos") & (scores["id"] == "q00000")
    result = summarize(scores[~(drop_one & (scores["lang"] == "de"))], None, SETTINGS)
    assert set(result.arms.loc[(result.arms["lang"] == "de") & (result.arms["condition"] == "typos"), "n"]) == {119}
    assert set(result.arms.loc[(result.arms["lang"] == "zh") & (result.arms["condition"] == "typos"), "n"]) == {120}


def test_confounded_comparisons_are_flagged(scores):
    better = scores.copy()
    none_clean = (better["arm"] == "none") & (better["condition"] == "clean")
    better.loc[none_clean, "value"] = 1.0
    result = summarize(better, None, SummarySettings(comparisons=COMPARISONS,
                                                     bootstrap=BootstrapSettings(n_resamples=100),
                                                     confound_threshold=0.05))
    confounds = result.confounds.set_index("comparison")
    assert confounds.loc["multi_vs_none", "confounded"] and confounds.loc["squad_vs_none", "confounded"]
    assert not confounds.loc["multi_vs_squad", "confounded"]
    assert confounds.loc["multi_vs_none", "clean_gap"] < -0.3
    assert set(result.comparisons.loc[result.comparisons["comparison"] == "multi_vs_none", "confounded"]) == {True}


def test_clean_table_per_arm_and_language(summary, scores):
    row = cell(summary.clean, arm="squad", lang="zh", metric="f1")
    manual = scores[(scores["arm"] == "squad") & (scores["lang"] == "zh") & (scores["condition"] == "clean")]
    assert row["clean"] == pytest.approx(manual["value"].mean())
    assert row["ci_low"] <= row["clean"] <= row["ci_high"] and row["n"] == 120 and row["n_seeds"] == 2


def test_attack_table_on_synthetic_records(summary):
    # The statistics themselves are tested in test_scoring_attacks.py; here: wired into the summary.
    pooled = cell(summary.attacks, comparison="multi_vs_squad", lang="pooled")
    per_lang = summary.attacks[(summary.attacks["comparison"] == "multi_vs_squad")
                               & (summary.attacks["lang"] != "pooled")]
    assert pooled["n"] == per_lang["n"].sum() and pooled["success_a"] > pooled["success_b"]
    assert pooled["success_a"] == pytest.approx(per_lang["success_a"].mean())  # languages, not items, averaged
    assert per_lang["p_adjusted"].to_numpy() == pytest.approx(holm_by_definition(per_lang["p_value"].tolist()))
    assert (per_lang["success_a_ci_low"] <= per_lang["success_a"]).all()
    assert {"skipped_a", "original_accuracy_b", "accuracy_under_attack_a", "mde"} <= set(summary.attacks.columns)


def test_comparisons_param_drives_arm_names(scores):
    custom = SummarySettings(comparisons=(("none", "multi"),), bootstrap=BootstrapSettings(n_resamples=100))
    result = summarize(scores, None, custom)
    assert set(zip(result.comparisons["arm_a"], result.comparisons["arm_b"])) == {("none", "multi")}
    assert cell(result.comparisons, lang="avg", condition="typos")["verdict"] == "improves"


def test_average_languages_per_task(scores):
    custom = SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100),
                             average_languages={"qa": ["de", "zh"]})
    result = summarize(scores, None, custom)
    assert cell(result.comparisons, arm_a="multi", arm_b="squad", lang="avg", condition="typos")["languages"] == "de,zh"


def test_strength_table_is_on_changed_examples(summary, scores):
    strength = summary.strength
    changed = scores[(scores["condition"] == "codeswitch") & scores["applied"] & (scores["arm"] == "multi")
                     & (scores["seed"] == 0) & (scores["metric"] == "f1")]
    assert strength[(strength["arm"] == "multi") & (strength["condition"] == "codeswitch")]["n"].sum() == len(changed)


def test_bad_tables_raise(scores):
    with pytest.raises(ValueError, match="lacks columns"):
        summarize(scores.drop(columns=["cluster"]), None, SETTINGS)
    with pytest.raises(ValueError, match="no 'clean' rows"):
        summarize(scores[scores["condition"] != "clean"], None, SETTINGS)
    with pytest.raises(ValueError, match="duplicate"):
        summarize(pd.concat([scores, scores.head(1)]), None, SETTINGS)
    with pytest.raises(ValueError, match="0–100 scale"):
        summarize(scores.assign(chrf=scores["chrf"] * 2), None, SETTINGS)
    with pytest.raises(ValueError, match="several cluster labels"):
        summarize(scores.assign(cluster=np.where(scores["arm"] == "none", "x", scores["cluster"])), None, SETTINGS)
    inconsistent = scores.assign(applied=np.where((scores["arm"] == "none") & (scores["condition"] == "typos"),
                                                  False, scores["applied"]))
    with pytest.raises(ValueError, match="'applied' for some arms"):
        summarize(inconsistent, None, SETTINGS)
    with pytest.raises(ValueError, match="not in"):
        SummarySettings(comparisons=COMPARISONS, headline=(("qa", ("multi", "other"), "typos"),))
    with pytest.raises(ValueError, match="has no scores"):
        summarize(scores, None, SummarySettings(comparisons=COMPARISONS, headline=(("qa", ("multi", "squad"), "nope"),),
                                                bootstrap=BootstrapSettings(n_resamples=100)))
    assert math.isnan(scores.loc[scores["condition"] == "clean", "chrf"].iloc[0])


def test_strength_bins_are_merged_until_each_holds_enough_items(summary):
    settings = summary.settings
    strength = summary.strength
    assert not strength.empty and (strength["n"] >= settings.min_bin_items).all()
    # every changed item is still in exactly one bin
    per_cell = strength.groupby(["arm", "condition"])["n"].sum()
    assert per_cell.nunique() <= len(strength["condition"].unique())


@pytest.mark.parametrize("counts, expected", [
    ([0, 7, 1, 1, 9, 0], [(1, 2), (2, 5)]),      # 1+1 < 5 joins the 9 that follows it
    ([3, 1, 0, 0, 0, 2], [(0, 6)]),              # never enough: one bin holding everything
    ([0, 0, 6, 0, 2, 0], [(2, 5)]),              # a short tail joins the bin before it
    ([5, 5, 5], [(0, 1), (1, 2), (2, 3)]),       # already large enough: unchanged
])
def test_merged_bins(counts, expected):
    from stages.xlt.scoring.strength import _merged_bins

    assert _merged_bins(np.array(counts), 5) == expected


def test_skipped_comparisons_are_not_made_nor_counted_in_families(scores):
    settings = SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100),
                               n_permutations=100, skipped_comparisons=(("qa", "squad", "none"),))
    result = summarize(scores, None, settings)
    assert not ((result.comparisons["arm_a"] == "squad") & (result.comparisons["arm_b"] == "none")).any()
    family = result.comparisons[(result.comparisons["lang"] == "avg") & (result.comparisons["metric"] == "f1")
                                & (result.comparisons["comparison"] == "multi_vs_squad")]
    assert set(family["family_size"]) == {2}  # typos and codeswitch of multi vs squad, nothing of squad vs none


def test_a_cell_with_one_changed_cluster_gets_no_verdict(scores):
    # Only the items of one cluster are changed in de under typos: a Δ there rests on one cluster (its type-I
    # rate in simulation was 0.40). It keeps its estimate, gets "too few clusters", no p, and leaves its family.
    one = scores["cluster"] == "p0000"
    few = scores.assign(applied=np.where((scores["lang"] == "de") & (scores["condition"] == "typos"), one,
                                         scores["applied"]))
    result = summarize(few, None, SETTINGS)
    de = cell(result.comparisons, arm_a="multi", arm_b="squad", lang="de", condition="typos")
    assert de["n_clusters"] == 1 and de["verdict"] == "too few clusters" and bool(de["too_few_clusters"])
    assert np.isfinite(de["delta"]) and math.isnan(de["p_value"]) and math.isnan(de["p_adjusted"])
    assert math.isnan(de["ci_low"]) and math.isnan(de["mde"])
    assert cell(result.comparisons, arm_a="multi", arm_b="squad", lang="zh", condition="typos")["family_size"] == 2
    drop = cell(result.arms, arm="multi", lang="de", condition="typos")
    assert bool(drop["too_few_clusters"]) and np.isfinite(drop["drop"]) and math.isnan(drop["drop_ci_low"])
    # The same guard at a stricter setting catches cells with a few clusters.
    strict = summarize(few, None, SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100),
                                                  min_clusters=40))
    assert set(strict.comparisons.loc[strict.comparisons["applicable"], "verdict"]) == {"too few clusters"}
    assert strict.comparisons["family_size"].max() == 0
    with pytest.raises(ValueError, match="min_clusters"):
        SummarySettings(comparisons=COMPARISONS, min_clusters=0)


def test_variance_split_power_and_per_seed_values(summary, scores):
    rows = summary.comparisons[summary.comparisons["applicable"]]
    assert (rows["se"] ** 2).to_numpy() == pytest.approx((rows["var_items"] + rows["var_runs"]).to_numpy())
    for row in rows.itertuples():
        # The family's level is alpha over its tested cells.
        measured = Components(row.var_items, row.n_clusters, 1, (row.seed_var_a, row.seed_var_b),
                              (row.var_interaction_a, row.var_interaction_b), (row.n_seeds_a, row.n_seeds_b))
        assert [row.mde, row.mde_family] == pytest.approx(measured_effects(measured, [0.05, 0.05 / row.family_size]))
        assert row.mde_family >= row.mde > 0
    de = cell(rows, arm_a="multi", arm_b="squad", lang="de", condition="typos")
    for seed, value in zip((0, 1), de["per_seed_drop_a"]):
        only = scores[scores["seed"] == seed]
        assert value == pytest.approx(manual_drop(only, "multi", "de", "typos"), abs=1e-6)
    assert np.mean(de["per_seed_drop_a"]) == pytest.approx(de["drop_a"], abs=1e-6)
    assert de["seed_var_a"] == pytest.approx(np.var(de["per_seed_drop_a"], ddof=1), rel=1e-3)  # list rounded
    average = cell(rows, arm_a="multi", arm_b="squad", lang="avg", condition="typos")
    assert np.mean(average["per_seed_drop_b"]) == pytest.approx(average["drop_b"], abs=1e-6)
    arm = cell(summary.arms, arm="multi", lang="avg", condition="typos")
    assert arm["per_seed_drop"] == pytest.approx(average["per_seed_drop_a"])
    assert arm["drop_se"] ** 2 == pytest.approx(arm["drop_var_items"] + arm["drop_var_runs"])
    clean = cell(summary.clean, arm="squad", lang="zh", metric="f1")
    assert np.mean(clean["per_seed_clean"]) == pytest.approx(clean["clean"], abs=1e-6)


def test_confounds_on_the_changed_examples(scores):
    # Arm none scores perfectly on the clean versions of the examples typos changes in de, and nowhere else:
    # on all examples the gap is small, on the changed examples of that cell it is not.
    changed = (scores["lang"] == "de") & (scores["condition"] == "typos") & scores["applied"]
    ids = set(scores.loc[changed, "id"][:20])
    better = scores.copy()
    target = (better["arm"] == "none") & (better["condition"] == "clean") & (better["lang"] == "de") & \
        better["id"].isin(ids)
    better.loc[target, "value"] = 1.0
    nothing_else = better.assign(applied=np.where((better["condition"] == "typos") & (better["lang"] == "de"),
                                                  better["id"].isin(ids), better["applied"]))
    result = summarize(nothing_else, None,
                       SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100)))
    row = cell(result.comparisons, arm_a="multi", arm_b="none", lang="de", condition="typos")
    assert bool(row["confounded_changed"]) and row["clean_gap_changed"] < -0.05 and not bool(row["confounded"])
    confound = result.confounds.set_index("comparison").loc["multi_vs_none"]
    assert not confound["confounded"]

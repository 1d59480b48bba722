"""Minimum detectable effects and the planner's projections: the MDE against the noncentral t where it is exact,
projections at the run's own design and under more items, seeds and languages, the cost model, and simulations in
which an effect of the planner's MDE, on data with known variance components, is found with power 0.80."""

import json
import math

import numpy as np
import pytest
from scipy import optimize, special, stats
from scoring_support import clustered_runs, clustered_runs_components, synthetic_scores

from stages.xlt.scoring.power import (
    Components,
    HeadlineCell,
    Shape,
    best_within,
    components,
    design_seconds,
    detectable_effects,
    evaluate,
    family_rule,
    headline_cells,
    measured_effects,
    project,
    relative_mde,
    run_shape,
    stage_kind,
)
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings, ClusterBootstrap, RunPart
from stages.xlt.scoring.metrics_files import detailed
from stages.xlt.scoring.summary import summarize

PLANNER = dict(run_sd=0.03, rho=0.6, cluster_sd=0.06, item_sd=0.25, run_rho=0.8)


def noncentral_t_mde(se: float, df: float, alpha: float, power: float = 0.8) -> float:
    critical = stats.t.ppf(1 - alpha / 2, df)
    def power_at(ncp: float) -> float:  # nct's far lower tail is negligible and can come back NaN
        return stats.nct.sf(critical, df, ncp) + np.nan_to_num(stats.nct.cdf(-critical, df, ncp)) - power

    ncp = optimize.brentq(power_at, 0, 50)
    return ncp * se


# ---------------------------------------------------------------------------------------------- MDE
@pytest.mark.parametrize("clusters", [6, 15, 200])
def test_without_runs_the_mde_is_the_noncentral_t_one(clusters):
    # One seed per arm: the test is a t test with K − 1 df, for which the noncentral t is exact.
    runs = [RunPart(math.nan, 1), RunPart(math.nan, 1)]
    for alpha in (0.05, 0.05 / 7):
        assert detectable_effects(0.0004, clusters, runs, [alpha])[0] == pytest.approx(
            noncentral_t_mde(0.02, clusters - 1, alpha), rel=0.01)
    assert detectable_effects(0.0004, 10_000, runs, [0.05])[0] == pytest.approx(0.02 * 2.8016, rel=0.005)


def test_estimated_run_variance_costs_detectability():
    # The same true variance, but estimated from 3 seeds per arm: se and df vary between runs, so the effect
    # found with 80% power is larger than the fixed-df noncentral t promises, and more so at alpha/7.
    runs = [RunPart(0.0012, 3, 0.0003)] * 2
    se = math.sqrt(0.0002 + 2 * 0.0009 / 3)
    df = se ** 4 / (0.0002 ** 2 / 32 + 2 * (0.0012 / 3) ** 2 / 2)
    plain, family = detectable_effects(0.0002, 33, runs, [0.05, 0.05 / 7])
    assert noncentral_t_mde(se, df, 0.05) < plain < 1.3 * noncentral_t_mde(se, df, 0.05)
    assert family / noncentral_t_mde(se, df, 0.05 / 7) > plain / noncentral_t_mde(se, df, 0.05)
    assert detectable_effects(0.0002, 33, [RunPart(0.0012, 6, 0.0003)] * 2, [0.05])[0] < plain
    assert math.isnan(detectable_effects(math.nan, 33, runs, [0.05])[0])
    assert detectable_effects(0.0, 33, [RunPart(0.0, 3, 0.0)] * 2, [0.05])[0] == 0.0


# ---------------------------------------------------------------------------------------------- projection
@pytest.fixture(scope="module")
def run_detailed():
    scores = synthetic_scores({"multi": 0.3, "squad": 0.2}, langs=("de", "hi", "zh"), conditions=("typos",),
                              seeds=(0, 1, 2), n_clusters=25, seed=8)
    settings = SummarySettings(comparisons=(("multi", "squad"),), bootstrap=BootstrapSettings(n_resamples=400),
                               headline=(("qa", ("multi", "squad"), "typos"),), n_permutations=100)
    return json.loads(json.dumps(detailed(summarize(scores, None, settings))))


def test_projection_at_the_runs_own_design_returns_the_runs_numbers(run_detailed):
    cell = headline_cells(run_detailed)[0]
    same = project(cell.components, 3, 1.0, 3)
    assert same.se == pytest.approx(cell.se, rel=1e-4) and same.var_items == pytest.approx(cell.var_items, rel=1e-4)
    assert same.mde == pytest.approx(cell.mde, rel=1e-3) and same.mde_family == pytest.approx(cell.mde_family,
                                                                                              rel=1e-3)
    c = cell.components
    if all(s >= v for s, v in zip(c.seed_var, c.interaction)):  # else the projection's s² is its model value
        assert same.df == pytest.approx(cell.df, rel=1e-3)
    shape = run_shape(run_detailed)
    assert shape.seeds == 3 and shape.items == {"qa": 100.0} and shape.languages == {"qa": 3}


def test_more_items_and_seeds_shrink_the_parts_they_average():
    c = Components(var_items=0.0004, n_clusters=30, n_languages=1, seed_var=(0.0009, 0.0006),
                   interaction=(0.0003, 0.0003), n_seeds=(3, 3))
    base = project(c, 3)
    # Item part: cluster part 0.0004 − 0.0002 = 0.0002 plus the two runs' item noise 0.0003/3 each.
    assert base.var_items == pytest.approx(0.0004) and base.var_runs == pytest.approx((0.0006 + 0.0003) / 3)
    more_items = project(c, 3, items_scale=4)
    assert more_items.var_items == pytest.approx(0.0001) and more_items.var_runs == pytest.approx(base.var_runs)
    assert more_items.n_clusters == 120
    more_seeds = project(c, 6)
    assert more_seeds.var_items == pytest.approx(0.0002 + 0.0006 / 6)
    assert more_seeds.var_runs == pytest.approx(base.var_runs / 2)
    assert more_seeds.mde < base.mde and more_items.mde < base.mde
    with pytest.raises(ValueError, match="at least 2 seeds"):
        project(c, 1)


def test_languages_follow_the_cross_language_covariance():
    # v̄ = 0.004 per language, 0.003 for the average of 2: c̄ = (0.003 − 0.002)/(1 − 1/2) = 0.002;
    # with 4 languages 0.004/4 + (3/4)·0.002 = 0.0025.
    c = Components(var_items=0.003, n_clusters=40, n_languages=2, seed_var=(0.0, 0.0), interaction=(0.0, 0.0),
                   n_seeds=(3, 3), language_var_items=(0.003, 0.005), language_clusters=(40, 40))
    assert project(c, 3, 1.0, 4).var_items == pytest.approx(0.0025)
    assert project(c, 3, 1.0, 4).n_clusters == 40  # parallel data: the same clusters in every language
    # Independent languages (disjoint clusters, c̄ = 0): the item part falls as 1/L and K grows with L.
    disjoint = Components(var_items=0.002, n_clusters=80, n_languages=2, seed_var=(0.0, 0.0),
                          interaction=(0.0, 0.0), n_seeds=(3, 3), language_var_items=(0.004, 0.004),
                          language_clusters=(40, 40))
    assert project(disjoint, 3, 1.0, 4).var_items == pytest.approx(0.001)
    assert project(disjoint, 3, 1.0, 4).n_clusters == 160
    with pytest.raises(ValueError, match="per-language cells"):
        project(Components(0.001, 40, 1, (0.0, 0.0), (0.0, 0.0), (3, 3)), 3, 1.0, 2)


def test_components_need_the_variance_split(run_detailed):
    old = json.loads(json.dumps(run_detailed))
    del old["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]["avg"]["var_items"]
    with pytest.raises(ValueError, match="re-run `dvc repro score`"):
        components(old, "qa", "f1", "multi_vs_squad", "typos")
    with pytest.raises(ValueError, match="no comparison"):
        components(run_detailed, "qa", "f1", "multi_vs_squad", "nope")


# ---------------------------------------------------------------------------------------------- cost
STAGE_TIMES = {"total_seconds": 1100, "stages": [
    {"stage": "download", "seconds": 10}, {"stage": "prefix@finetune", "seconds": 40},
    {"stage": "intermediate@multi-0", "seconds": 100}, {"stage": "transfer@multi-0", "seconds": 200},
    {"stage": "evaluate_clean@multi-0", "seconds": 50}, {"stage": "evaluate_perturbed@multi-0", "seconds": 150},
    {"stage": "perturb", "seconds": 20}, {"stage": "prefix_perturbed", "seconds": 80},
    {"stage": "attack@qa", "seconds": 300}, {"stage": "score", "seconds": 10}]}


def test_stage_times_scale_by_what_each_stage_depends_on():
    assert [stage_kind(n) for n in ("transfer@a-1", "evaluate_clean@a-0", "prefix_clean", "attack@xquad",
                                    "prefix@intermediate", "encoder")] == [
        "training", "evaluation", "test inputs", "attack", "fixed", "fixed"]
    run = Shape(seeds=1, items={"qa": 100}, languages={"qa": 2})
    same = design_seconds(STAGE_TIMES, run, run)
    assert sum(same.values()) == pytest.approx(1100) and same["between stages"] == pytest.approx(140)
    design = design_seconds(STAGE_TIMES, run, Shape(seeds=2, items={"qa": 300}, languages={"qa": 4}))
    # items × languages: 6× the test items; seeds 2×.
    assert design["training"] == pytest.approx(600) and design["evaluation"] == pytest.approx(200 * 12)
    assert design["test inputs"] == pytest.approx(600) and design["attack"] == pytest.approx(600)
    assert design["fixed"] == pytest.approx(50) and design["score"] == pytest.approx(120)
    with pytest.raises(ValueError, match="stage_times.json"):
        design_seconds({"stages": [{"name": "x"}]}, run, run)


def test_the_best_design_within_a_budget(run_detailed):
    cells, run = headline_cells(run_detailed), run_shape(run_detailed)
    times = {"stages": [{"stage": "transfer@multi-0", "seconds": 600}, {"stage": "evaluate_clean@multi-0",
                                                                         "seconds": 60}]}
    options = [evaluate(cells, run, Shape(s, {"qa": n}, {"qa": 3}), 0.05, stage_times=times)
               for s in (3, 6) for n in (100, 400)]
    assert options[0].objective == pytest.approx(1.0, rel=1e-3)  # the run's own design
    assert options[0].seconds == pytest.approx(660)
    best = best_within(options, 900)
    assert best.design.seeds == 3 and best.design.items == {"qa": 400}
    assert best_within(options, 100) is None
    assert min(options, key=lambda e: e.objective).design.seeds == 6


# ---------------------------------------------------------------------------------------------- MDE: the model
def sampled_mde(var_items: float, clusters: int, runs: list[tuple[float, int, float]], alpha: float,
                power: float = 0.8, draws: int = 200_000) -> float:
    """The module docstring's MDE by plain Monte Carlo (independent random draws, not the module's stratified ones):
    v̂ = v·χ²_{K−1}/(K−1), each arm's ŝ² = max(s², V_E)·χ²_{S−1}/(S−1), se² and df as the scoring forms them,
    Δ̂ ~ N(Δ, truth); solve P(|Δ̂| > t_{df̂}·ŝe) = power."""
    rng = np.random.default_rng(5)
    items = var_items * rng.chisquare(clusters - 1, draws) / (clusters - 1)
    total, denominator, truth = items.copy(), items ** 2 / (clusters - 1), var_items
    for seed_var, seeds, interaction in runs:
        truth += max(0.0, seed_var - interaction) / seeds
        drawn = max(seed_var, interaction) * rng.chisquare(seeds - 1, draws) / (seeds - 1)
        total += np.maximum(0.0, drawn - interaction) / seeds
        denominator += (drawn / seeds) ** 2 / (seeds - 1)
    critical = stats.t.ppf(1 - alpha / 2, total ** 2 / denominator) * np.sqrt(total)
    sigma = math.sqrt(truth)

    def shortfall(effect: float) -> float:
        return float(np.mean(stats.norm.cdf((effect - critical) / sigma)
                             + stats.norm.cdf((-effect - critical) / sigma))) - power

    return optimize.brentq(shortfall, 0.0, float(np.quantile(critical, 0.99)) + 10 * sigma)


@pytest.mark.parametrize(("var_items", "clusters", "runs"), [
    (0.0002, 33, [(0.0012, 3, 0.0003)] * 2),  # run part dominant: the s² estimates' 2 df decide
    (0.0004, 3, [(0.0012, 3, 0.0003)] * 2),  # 3 clusters: the item part's 2 df matter as much
    (0.0004, 4, [(0.0012, 3, 0.0003), (0.0008, 2, 0.0002)]),  # arms of 3 and 2 seeds
])
def test_the_mde_is_the_docstrings_model_sampled_plainly(var_items, clusters, runs):
    mde = detectable_effects(var_items, clusters, [RunPart(*r) for r in runs], [0.05])[0]
    assert mde == pytest.approx(sampled_mde(var_items, clusters, runs, 0.05), rel=0.02)


def test_at_low_power_both_tails_count():
    # Many clusters, one seed per arm: Δ̂/se is normal, so the MDE solves Φ(d − z) + Φ(−d − z) = power (z the
    # normal quantile at 1 − α/2). At power 0.1 the far tail is ~1/4 of the power and cannot be dropped.
    z = stats.norm.ppf(0.975)
    d = optimize.brentq(lambda d: stats.norm.cdf(d - z) + stats.norm.cdf(-d - z) - 0.1, 0, 5)
    one_tail = optimize.brentq(lambda d: stats.norm.cdf(d - z) - 0.1, 0, 5)
    assert d < 0.97 * one_tail
    runs = [RunPart(math.nan, 1), RunPart(math.nan, 1)]
    assert detectable_effects(0.0004, 1_000_000, runs, [0.05], power=0.1)[0] == pytest.approx(0.02 * d, rel=1e-3)


def test_the_mde_is_pinned_and_independent_of_the_arms_order():
    # The module's stratified draws are fixed (deterministic MDEs in every version); a deliberate change of the
    # draws updates these values, computed by the module when the test was written.
    runs = [RunPart(0.0012, 3, 0.0003)] * 2
    assert detectable_effects(0.0002, 33, runs, [0.05, 0.05 / 7]) == pytest.approx(
        [0.12081648836869463, 0.24279131369145032], rel=1e-9)
    mixed = [RunPart(0.0012, 3, 0.0003), RunPart(0.0008, 2, 0.0002)]
    assert detectable_effects(0.0004, 3, mixed, [0.05]) == pytest.approx([0.1969188314901429], rel=1e-9)
    # An arm of one seed draws nothing: a 3-seed arm after it is drawn as if it came first.
    one, three = RunPart(math.nan, 1), RunPart(0.0012, 3, 0.0003)
    assert detectable_effects(0.0002, 33, [one, three], [0.05]) == detectable_effects(0.0002, 33, [three, one], [0.05])
    assert detectable_effects(0.0002, 33, [one, three], [0.05])[0] > detectable_effects(0.0002, 33, [one, one],
                                                                                      [0.05])[0]


def test_the_mde_is_unknown_outside_its_domain():
    runs = [RunPart(0.0012, 3, 0.0003)] * 2
    # two clusters are the fewest with an item variance
    assert math.isnan(detectable_effects(0.0002, 1, runs, [0.05])[0])
    assert math.isfinite(detectable_effects(0.0002, 2, runs, [0.05])[0])
    assert math.isnan(detectable_effects(-0.0001, 33, runs, [0.05])[0])
    # an arm of 2 or more seeds without its s² or its interaction; one seed needs neither
    for unknown in (RunPart(math.nan, 2, 0.0003), RunPart(0.0012, 3, math.nan)):
        assert math.isnan(detectable_effects(0.0002, 33, [unknown, runs[0]], [0.05])[0])
    assert math.isfinite(detectable_effects(0.0002, 33, [RunPart(math.nan, 1, math.nan), runs[0]], [0.05])[0])
    # levels outside (0, 1) have no MDE; the others are still computed
    out = detectable_effects(0.0002, 33, runs, [0.0, 1.0, 0.05])
    assert math.isnan(out[0]) and math.isnan(out[1]) and out[2] == pytest.approx(0.12081648836869463, rel=1e-9)


def test_family_rule_says_why_alpha_over_m_is_a_bound():
    assert family_rule("bh") == ("alpha/m, Benjamini–Hochberg's threshold for the smallest p of the family; BH's "
                                 "thresholds grow with rank, so this is a conservative bound")
    assert family_rule("holm") == ("alpha/m (Bonferroni), Holm's threshold for the smallest p of the family; "
                                   "Holm's later steps are less strict, so this is a conservative bound")


# ---------------------------------------------------------------------------------------------- projection: edges
BASE = Components(var_items=0.0004, n_clusters=30, n_languages=1, seed_var=(0.0009, 0.0006),
                  interaction=(0.0003, 0.0003), n_seeds=(3, 3))


def test_projected_df_is_satterthwaites_from_the_design():
    # Runs of the design: s² = σ²_R + V_E = 0.0009 and 0.0006 (V_E 0.0003 each); se² = 0.0004 + 0.0003.
    total = 0.0004 + (0.0006 + 0.0003) / 3
    df = total ** 2 / (0.0004 ** 2 / 29 + (0.0009 / 3) ** 2 / 2 + (0.0006 / 3) ** 2 / 2)
    base = project(BASE, 3)
    assert base.df == pytest.approx(df) and base.se == pytest.approx(math.sqrt(total))
    # 2 seeds, the fewest that estimate a run variance: item part 0.0002 + 2 · 0.0003/2, run part 0.0009/2
    two = project(BASE, 2)
    assert two.var_items == pytest.approx(0.0005)
    assert two.df == pytest.approx((0.0005 + 0.0009 / 2) ** 2 / (
        0.0005 ** 2 / 29 + (0.0009 / 2) ** 2 + (0.0006 / 2) ** 2))
    assert project(BASE, 3, alpha=0.01).se == base.se and project(BASE, 3, alpha=0.01).mde > base.mde


def test_measured_and_projected_mdes_follow_the_power_asked_for():
    own = project(BASE, 3)
    assert measured_effects(BASE, [0.05]) == pytest.approx([own.mde], rel=1e-12)
    half = project(BASE, 3, power=0.5)
    assert measured_effects(BASE, [0.05], power=0.5) == pytest.approx([half.mde], rel=1e-12)
    assert half.mde < own.mde and half.mde_family < own.mde_family
    assert own.mde_family == own.mde  # a family of one
    family = project(Components(**{**BASE.__dict__, "family_size": 7}), 3)
    assert family.mde_family == pytest.approx(detectable_effects(own.var_items, 30, [
        RunPart(0.0009, 3, 0.0003), RunPart(0.0006, 3, 0.0003)], [0.05 / 7])[0], rel=1e-12)


def test_unknown_run_parts_count_as_none():
    # An arm without an interaction estimate: no item noise to move out of s²; without s²: no run variance.
    no_interaction = Components(0.0004, 30, 1, (0.0009, 0.0006), (math.nan, math.nan), (3, 3))
    assert project(no_interaction, 3).var_items == pytest.approx(0.0004)
    assert project(no_interaction, 3).var_runs == pytest.approx((0.0009 + 0.0006) / 3)
    no_seed_var = Components(0.0004, 30, 1, (math.nan, 0.0006), (0.0003, 0.0003), (3, 3))
    assert project(no_seed_var, 3).var_runs == pytest.approx(0.0003 / 3)


def test_bad_designs_are_refused_with_the_reason():
    with pytest.raises(ValueError) as one_seed:
        project(BASE, 1)
    assert str(one_seed.value) == ("seeds=1: with one seed per arm the run-to-run variance is not estimable; plan "
                                   "at least 2 seeds per arm")
    for items, languages in ((0.0, 1), (-1.0, 1), (1.0, 0)):
        with pytest.raises(ValueError) as bad:
            project(BASE, 3, items, languages)
        assert str(bad.value) == f"items scale {items} and languages {languages} must be positive"


def test_languages_need_every_measured_languages_cell():
    message = ("cannot project from {} to 3 languages: the cross-language covariance needs the per-language cells "
               "of at least two languages")
    one = Components(0.001, 40, 1, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.001,))
    with pytest.raises(ValueError) as single:
        project(one, 3, 1.0, 3)
    assert str(single.value) == message.format(1)
    gap = Components(0.003, 40, 2, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.003, math.nan))
    with pytest.raises(ValueError) as missing:
        project(gap, 3, 1.0, 3)
    assert str(missing.value) == message.format(2)
    # No per-language item variance at all (every language's cell has none): the item part is left as it is.
    flat = Components(0.0002, 40, 2, (0.0, 0.0), (0.0003, 0.0003), (3, 3), language_var_items=(0.0, 0.0))
    assert project(flat, 3, 1.0, 4).var_items == pytest.approx(0.0002)


def test_per_language_cells_match_the_languages():
    with pytest.raises(ValueError) as short:
        Components(0.003, 40, 3, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.003, 0.005))
    assert str(short.value) == "2 per-language item variances for 3 languages"
    with pytest.raises(ValueError, match="1 per-language item variances for 2 languages"):
        Components(0.003, 40, 2, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.003,))
    Components(0.003, 40, 3, (0.0, 0.0), (0.0, 0.0), (3, 3))  # none measured: fine (no language projection)
    Components(0.003, 40, 1, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.003, 0.004))  # one language


def test_clusters_are_disjoint_from_nine_tenths_of_the_languages_sum():
    def clusters(k: float) -> float:
        c = Components(0.002, k, 2, (0.0, 0.0), (0.0, 0.0), (3, 3), language_var_items=(0.004, 0.004),
                       language_clusters=(40, 60))
        return project(c, 3, 1.0, 4).n_clusters

    assert clusters(90) == 180  # 90 ≥ 0.9 · (40 + 60): disjoint, K grows with the languages
    assert clusters(89) == 89  # shared clusters (parallel data): K stays


def test_components_read_every_field_of_a_cell(run_detailed):
    cell = run_detailed["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]
    c = components(run_detailed, "qa", "f1", "multi_vs_squad", "typos")
    avg = cell["avg"]
    assert (c.var_items, c.n_clusters, c.n_languages, c.family_size) == (
        avg["var_items"], avg["n_clusters"], 3, avg.get("family_size") or 1)
    assert c.seed_var == (avg["seed_var_a"], avg["seed_var_b"])
    assert c.interaction == (avg["var_interaction_a"], avg["var_interaction_b"])
    assert c.n_seeds == (3, 3)
    assert c.language_var_items == tuple(cell[lang]["var_items"] for lang in ("de", "hi", "zh"))
    assert c.language_clusters == tuple(cell[lang]["n_clusters"] for lang in ("de", "hi", "zh"))
    edited = json.loads(json.dumps(run_detailed))
    avg = edited["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]["avg"]
    avg.update(languages="de", seed_var_b=None, family_size=None)
    c = components(edited, "qa", "f1", "multi_vs_squad", "typos")
    assert c.n_languages == 1 and c.language_var_items == (cell["de"]["var_items"],) and c.family_size == 1
    assert math.isnan(c.seed_var[1])
    avg["languages"] = None
    assert components(edited, "qa", "f1", "multi_vs_squad", "typos").n_languages == 1


def test_components_messages_name_the_cell_and_the_fix(run_detailed):
    old = json.loads(json.dumps(run_detailed))
    avg = old["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]["avg"]
    del avg["seed_var_a"]
    with pytest.raises(ValueError) as split:
        components(old, "qa", "f1", "multi_vs_squad", "typos")
    assert str(split.value) == ("detailed.json lacks the variance split (var_items, seed_var_a, ...): it was written "
                                "by an older scoring; re-run `dvc repro score` first")
    avg["seed_var_a"], avg["var_items"] = 0.001, None
    with pytest.raises(ValueError) as none:
        components(old, "qa", "f1", "multi_vs_squad", "typos")
    assert str(none.value) == ("qa/multi_vs_squad/typos: no variance estimate (not applicable or too few clusters), "
                               "nothing to project")
    with pytest.raises(ValueError) as absent:
        components(run_detailed, "qa", "em", "multi_vs_squad", "typos")
    assert str(absent.value) == "detailed.json has no comparison qa/em/multi_vs_squad/typos/avg"


# ---------------------------------------------------------------------------------------------- planning: edges
def _with_settings(detailed: dict, settings: dict | None) -> dict:
    """A copy of detailed.json with these settings (None: without any)."""
    bare = {k: v for k, v in detailed.items() if k != "settings"}
    return bare if settings is None else {**bare, "settings": settings}


def test_headline_cells_carry_the_measured_row(run_detailed):
    (cell,) = headline_cells(run_detailed)
    row = run_detailed["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]["avg"]
    assert (cell.task, cell.metric, cell.comparison, cell.condition, cell.name) == (
        "qa", "f1", "multi_vs_squad", "typos", "qa typos")
    assert (cell.delta, cell.se, cell.df, cell.var_items, cell.var_runs, cell.mde, cell.mde_family) == tuple(
        row[k] for k in ("delta", "se", "df", "var_items", "var_runs", "mde", "mde_family"))
    edited = json.loads(json.dumps(run_detailed))
    edited["comparisons"]["qa"]["f1"]["multi_vs_squad"]["typos"]["avg"]["delta"] = None
    assert math.isnan(headline_cells(edited)[0].delta)
    for bare in (_with_settings(run_detailed, {"headline": []}), _with_settings(run_detailed, None)):
        with pytest.raises(ValueError) as none:
            headline_cells(bare)
        assert str(none.value) == "detailed.json names no headline cells (score.headline): nothing to plan for"


def test_run_shape_skips_tasks_without_a_clean_table(run_detailed):
    edited = json.loads(json.dumps(run_detailed))
    edited["settings"]["primary_metrics"] = {"aaa": "f1", **edited["settings"]["primary_metrics"], "zzz": "f1"}
    edited["clean"]["zzz"] = {}  # a task with no clean metric
    shape = run_shape(edited)  # "aaa" sorts first and has no clean table: the tasks after it still count
    assert shape.items == {"qa": 100.0} and shape.languages == {"qa": 3}
    edited["settings"]["n_seeds"] = {"multi": 2, "squad": 5}
    assert run_shape(edited).seeds == 5
    del edited["settings"]["primary_metrics"]
    assert run_shape(edited).items == {}
    del edited["clean"]
    edited["settings"]["primary_metrics"] = {"qa": "f1"}
    assert run_shape(edited).items == {}
    for bare in (_with_settings(run_detailed, {}), _with_settings(run_detailed, None)):
        with pytest.raises(ValueError) as no_seeds:
            run_shape(bare)
        assert str(no_seeds.value) == "detailed.json settings lack n_seeds"


def test_evaluate_projects_each_cell_to_the_design(run_detailed):
    cells, run = headline_cells(run_detailed), run_shape(run_detailed)
    c = cells[0].components
    wider = evaluate(cells, run, Shape(4, {"qa": 200}, {"qa": 5}), 0.05, power=0.6)
    assert wider.projections == (project(c, 4, 2.0, 5, 0.05, 0.6),)
    assert wider.seconds is None  # no stage times given
    assert wider.objective == pytest.approx(wider.projections[0].mde_family / cells[0].mde_family)
    # a design silent on a task keeps the run's items and languages for it
    assert evaluate(cells, run, Shape(3, {}, {}), 0.05).projections == (project(c, 3, 1.0, 3),)
    # a cell that cannot be projected (one measured language, projected to two) is left out of the objective
    single = HeadlineCell("qa", "f1", "a_vs_b", "typos", 0.01, 0.01, 10, 1e-4, 0, 0.05, 0.05,
                          Components(1e-4, 30, 1, (0.0, 0.0), (0.0, 0.0), (3, 3)))
    both = evaluate([cells[0], single], run, Shape(3, {"qa": 100}, {"qa": 4}), 0.05)
    assert both.projections[1] is None and both.projections[0] is not None
    assert both.objective == pytest.approx(both.projections[0].mde_family / cells[0].mde_family)


def test_a_cell_over_fewer_languages_than_its_task_keeps_its_own_count():
    """The run's own design reproduces a cell that averages two of the task's three languages, and a design that
    adds a language adds it to that cell's two."""
    scores = synthetic_scores({"multi": 0.3, "squad": 0.2}, langs=("de", "hi", "zh"), conditions=("typos",),
                              seeds=(0, 1, 2), n_clusters=25, seed=8)
    settings = SummarySettings(comparisons=(("multi", "squad"),), bootstrap=BootstrapSettings(n_resamples=400),
                               headline=(("qa", ("multi", "squad"), "typos"),), n_permutations=100,
                               average_languages={"qa": ("de", "hi")})
    fewer = json.loads(json.dumps(detailed(summarize(scores, None, settings))))
    cells, run = headline_cells(fewer), run_shape(fewer)
    assert run.languages == {"qa": 3} and cells[0].components.n_languages == 2
    own = evaluate(cells, run, run, 0.05)
    assert own.objective == pytest.approx(1.0, rel=1e-3)
    assert own.projections == (project(cells[0].components, 3, 1.0, 2),)
    wider = evaluate(cells, run, Shape(3, {}, {"qa": 4}), 0.05)
    assert wider.projections == (project(cells[0].components, 3, 1.0, 3),)


def test_relative_mde_leaves_out_cells_without_both_mdes():
    assert relative_mde([1.0, 3.0], [2.0, 2.0]) == pytest.approx(1.0)
    assert relative_mde([1.0, math.nan, 3.0, 5.0, 2.0], [2.0, 1.0, math.nan, 0.0, 4.0]) == pytest.approx(0.5)
    assert math.isnan(relative_mde([math.nan], [1.0]))


def test_the_budget_is_inclusive(run_detailed):
    cells, run = headline_cells(run_detailed), run_shape(run_detailed)
    times = {"stages": [{"stage": "transfer@multi-0", "seconds": 600}]}
    own = evaluate(cells, run, run, 0.05, stage_times=times)
    assert own.seconds == 600 and best_within([own], 600) is own and best_within([own], 599.9) is None
    assert best_within([evaluate(cells, run, run, 0.05)], 1e9) is None  # no wall time: cannot be placed


def test_stage_times_in_another_shape_are_refused():
    run = Shape(seeds=1, items={"qa": 100}, languages={"qa": 2})
    message = ('stage times need {"stages": [{"stage": name, "seconds": s}, ...]} (the format of '
               '.notes/stage_times.json)')
    for times in ([{"stage": "x", "seconds": 1}], {"stages": []}, {"stages": [{"stage": "x"}]},
                  {"stages": [{"seconds": 1}]}, {"stages": [["x", 1]]}):
        with pytest.raises(ValueError) as bad:
            design_seconds(times, run, run)
        assert str(bad.value) == message


def test_attacks_scale_with_their_own_tasks_languages():
    run = Shape(seeds=1, items={"qa": 100, "nli": 50}, languages={"qa": 2, "nli": 4})
    design = Shape(seeds=1, items={"qa": 100, "nli": 50, "pos": 10}, languages={"qa": 6, "nli": 4, "pos": 3})
    times = {"stages": [{"stage": "attack@qa", "seconds": 100}, {"stage": "attack@nli", "seconds": 10},
                        {"stage": "attack@pos", "seconds": 7}, {"stage": "attack", "seconds": 1}]}
    # qa ×3; nli unchanged; pos (not in the run) and an attack stage without a task: as measured
    assert design_seconds(times, run, design)["attack"] == pytest.approx(300 + 10 + 7 + 1)
    assert stage_kind("score") == "score" and stage_kind("intermediate@a-0") == "training"
    assert stage_kind("perturb") == stage_kind("prefix_perturbed") == "test inputs"
    assert stage_kind("evaluate_perturbed@a-1") == "evaluation"


# ---------------------------------------------------------------------------------------------- simulation
def detection_rate(seeds: int, clusters: int, languages: int, effect: float, alpha: float, sims: int,
                   seed: int, n_resamples: int = 400) -> float:
    rng = np.random.default_rng(seed)
    found = 0
    for sim in range(sims):
        arms, labels = clustered_runs(rng, {"A": 0.1 + effect, "B": 0.1}, seeds=seeds, n_langs=languages,
                                      n_clusters=clusters, **PLANNER)
        boot = ClusterBootstrap([{"A": a, "B": b} for a, b in zip(arms["A"], arms["B"])], labels,
                                BootstrapSettings(n_resamples=n_resamples, seed=sim), n_permutations=1)
        found += boot.compare("A", "B").p_value < alpha
    return found / sims


def test_the_planners_mde_is_found_with_80_percent_power():
    # Fast version of the slow test below: known components of a 3-seed run (3 languages × 33 clusters),
    # projected to 4 seeds and 1.5× the items; data generated with the true Δ = the planner's MDE.
    pilot = clustered_runs_components(seeds=3, **PLANNER)
    planned = project(pilot, 4, 1.5, 3)
    rate = detection_rate(4, 50, 3, planned.mde, 0.05, 120, seed=3, n_resamples=300)
    assert 0.70 <= rate <= 0.90, rate


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "items", "languages", "family"),
                         [(3, 1.0, 3, 7), (5, 2.0, 3, 1), (4, 1.5, 4, 1), (8, 1.0, 3, 7)])
def test_the_planners_mde_is_found_with_80_percent_power_across_designs(seeds, items, languages, family):
    pilot = clustered_runs_components(seeds=3, family_size=family, **PLANNER)
    planned = project(pilot, seeds, items, languages)
    effect, alpha = (planned.mde_family, 0.05 / family) if family > 1 else (planned.mde, 0.05)
    rate = detection_rate(seeds, round(33 * items), languages, effect, alpha, 400, seed=11, n_resamples=600)
    print(f"seeds {seeds}, items ×{items}, {languages} languages, alpha/{family}: MDE {100 * effect:.2f} points, "
          f"power {rate:.3f}")
    assert 0.73 <= rate <= 0.87, rate

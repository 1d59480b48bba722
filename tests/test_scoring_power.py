"""Minimum detectable effects and the planner's projections: the MDE against the noncentral t where it is exact,
projections at the run's own design and under more items, seeds and languages, the cost model, and simulations in
which an effect of the planner's MDE, on data with known variance components, is found with power 0.80."""

import json
import math

import numpy as np
import pytest
from scipy import optimize, stats
from scoring_support import clustered_runs, clustered_runs_components, synthetic_scores

from stages.xlt.scoring.power import (
    Components,
    Shape,
    best_within,
    components,
    design_seconds,
    detectable_effects,
    evaluate,
    headline_cells,
    project,
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

"""Cluster bootstrap + between-run variance for Δ drop: hand-computed values, coverage on clustered parallel data
(new scheme vs the old per-language row bootstrap) and with training runs that differ (t method vs resampling 3
seeds), shared clusters across languages, the variance split, interval/p-value agreement, ties and NaN
replicates, multiplicity."""

import math

import numpy as np
import pytest
from scipy import stats
from scoring_support import bootstrap_drop, clustered_runs, compare_drops

from stages.xlt.scoring.statistics import (
    ArmScores,
    BootstrapSettings,
    ClusterBootstrap,
    Interval,
    RunPart,
    _cluster_counts,
    _digest,
    adjust_p_values,
    bootstrap_p_value,
    confidence_label,
    decide,
    interval_scope,
    percentile_interval,
    snap_zero,
    t_interval,
)

P_CLEAN = 0.6


def singletons(n: int) -> np.ndarray:
    return np.array([f"c{i}" for i in range(n)])


def simulate(rate_a: float, rate_b: float, n: int, seeds: int, rng: np.random.Generator) -> tuple[ArmScores, ArmScores]:
    """Shared per-example difficulty; a perturbation kills a correct answer with probability rate_arm.

    True drop(arm) = rate_arm × E[clean] = rate_arm × P_CLEAN, so true Δ = (rate_a − rate_b) × P_CLEAN.
    """
    p = P_CLEAN + rng.uniform(-0.3, 0.3, size=n)

    def arm(rate: float) -> ArmScores:
        clean = (rng.random((seeds, n)) < p).astype(float)
        return ArmScores(clean, clean * (rng.random((seeds, n)) >= rate))

    return arm(rate_a), arm(rate_b)


# ---------------------------------------------------------------------------------------------- estimates
def test_hand_computed_drop_and_delta():
    a = ArmScores(np.array([[1.0, 1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 0.0, 0.0]]))  # drop 0.5 of clean 0.75
    b = ArmScores(np.array([[1.0, 0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0, 0.5]]))  # drop 0.125 of clean 0.5
    settings = BootstrapSettings(n_resamples=200)
    drop = bootstrap_drop([a], [singletons(4)], settings)
    assert drop.drop.estimate == pytest.approx(0.5)
    assert drop.relative_drop.estimate == pytest.approx(0.5 / 0.75)
    assert drop.n_examples == 4 and drop.n_clusters == 4
    result = compare_drops([a], [b], [singletons(4)], settings)
    assert result.delta.estimate == pytest.approx(0.375)
    assert result.relative_delta.estimate == pytest.approx(0.5 / 0.75 - 0.125 / 0.5)
    assert result.delta.ci_low <= result.delta.estimate <= result.delta.ci_high


def test_language_average_is_the_unweighted_mean_of_languages():
    rng = np.random.default_rng(1)
    small = simulate(0.5, 0.1, 50, 1, rng)
    large = simulate(0.1, 0.1, 500, 1, rng)
    labels = [np.array([f"s{i}" for i in range(50)]), np.array([f"l{i}" for i in range(500)])]
    settings = BootstrapSettings(n_resamples=200)
    pooled = compare_drops([small[0], large[0]], [small[1], large[1]], labels, settings)
    per_lang = [compare_drops([x[0]], [x[1]], [c], settings).delta.estimate for x, c in zip((small, large), labels)]
    assert pooled.delta.estimate == pytest.approx(np.mean(per_lang))


def test_ratio_estimator_weights_examples_by_cluster_draws():
    # Two clusters with 1 and 3 examples: the point estimate is the plain example mean, not the cluster mean.
    arm = ArmScores(np.array([[1.0, 1.0, 1.0, 1.0]]), np.array([[1.0, 0.0, 0.0, 0.0]]))
    result = bootstrap_drop([arm], [np.array(["x", "y", "y", "y"])],
                            BootstrapSettings(n_resamples=400, method="percentile"))
    assert result.drop.estimate == pytest.approx(0.75)
    assert result.n_clusters == 2
    # Replicates can only be 0 (x drawn twice), 1 (y twice) or 0.75 (each once: 3 of 4 examples lost), with
    # probabilities 1/4, 1/4, 1/2; an unweighted mean of cluster means would give 0.5 for the last.
    assert (result.drop.ci_low, result.drop.ci_high) == (0.0, 1.0)  # both tails hold 1/4 > 2.5%
    middle = bootstrap_drop([arm], [np.array(["x", "y", "y", "y"])], BootstrapSettings(n_resamples=400, confidence=0.4, method="percentile"))
    assert (middle.drop.ci_low, middle.drop.ci_high) == (0.75, 0.75)  # the central 40% is all 0.75
    assert (middle.perturbed.ci_low, middle.perturbed.ci_high) == (0.25, 0.25)  # 1 of 4 examples still right
    assert (result.clean.ci_low, result.clean.ci_high) == (1.0, 1.0)


# ---------------------------------------------------------------------------------------------- coverage
def clustered_parallel(rng, truth: float, n_clusters: int = 40, n_langs: int = 4, rho: float = 0.8):
    """40 clusters of 3–5 items, the same clusters in every language; a cluster effect on arm A's drop that is
    correlated across languages (rho), small item noise. True Δ = `truth`."""
    sizes = rng.integers(3, 6, size=n_clusters)
    codes = np.repeat(np.arange(n_clusters), sizes)
    labels = np.array([f"c{c}" for c in codes])
    n = codes.size
    shared = rng.normal(0, 0.15, n_clusters)
    languages = []
    for _ in range(n_langs):
        effect = np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.normal(0, 0.15, n_clusters)
        clean = rng.uniform(0.4, 0.8, size=(1, n))
        pert_a = clean - (truth + effect[codes] + rng.normal(0, 0.05, n))
        pert_b = clean - rng.normal(0, 0.05, n)
        languages.append((ArmScores(clean, pert_a), ArmScores(clean.copy(), pert_b)))
    return languages, labels


def old_scheme_interval(languages, n_resamples: int, rng) -> tuple[float, float]:
    """The previous design: rows resampled independently in every language, then averaged."""
    replicates = np.zeros(n_resamples)
    for a, b in languages:
        d = (a.clean - a.perturbed)[0] - (b.clean - b.perturbed)[0]
        idx = rng.integers(0, d.size, size=(n_resamples, d.size))
        replicates += d[idx].mean(axis=1)
    replicates /= len(languages)
    return tuple(np.quantile(replicates, [0.025, 0.975]))


def test_language_average_interval_covers_the_truth_on_clustered_parallel_data():
    rng = np.random.default_rng(2024)
    truth, sims, resamples = 0.1, 200, 400
    new_hits = old_hits = 0
    for sim in range(sims):
        languages, labels = clustered_parallel(rng, truth)
        result = compare_drops([a for a, _ in languages], [b for _, b in languages], [labels] * len(languages),
                               BootstrapSettings(n_resamples=resamples, seed=sim), n_permutations=1)
        new_hits += result.delta.ci_low <= truth <= result.delta.ci_high
        low, high = old_scheme_interval(languages, resamples, rng)
        old_hits += low <= truth <= high
    assert 0.90 <= new_hits / sims <= 0.99, new_hits / sims
    assert old_hits / sims < 0.85, old_hits / sims


def test_the_same_clusters_are_drawn_in_every_language():
    # Four perfectly correlated languages (identical data, same clusters) carry the information of one
    # language: the average's interval must be exactly as wide. Resampling each language on its own would
    # shrink it by about half (√4), which is what disjoint labels (independent languages) show.
    rng = np.random.default_rng(3)
    languages, labels = clustered_parallel(rng, 0.1, n_langs=1)
    a, b = languages[0]
    settings = BootstrapSettings(n_resamples=1000, seed=5)
    one = compare_drops([a], [b], [labels], settings, n_permutations=1).delta
    four = compare_drops([a] * 4, [b] * 4, [labels] * 4, settings, n_permutations=1).delta
    assert (four.ci_low, four.ci_high) == pytest.approx((one.ci_low, one.ci_high))
    independent = compare_drops([a] * 4, [b] * 4, [np.char.add(f"{k}-", labels) for k in range(4)], settings,
                                n_permutations=1).delta
    ratio = (independent.ci_high - independent.ci_low) / (one.ci_high - one.ci_low)
    assert 0.35 < ratio < 0.65


def test_languages_missing_some_clusters_take_their_mean_over_their_own_clusters():
    a = ArmScores(np.array([[1.0, 1.0, 1.0]]), np.array([[0.0, 1.0, 1.0]]))
    b = ArmScores(np.array([[1.0, 1.0]]), np.array([[1.0, 1.0]]))
    boot = ClusterBootstrap([{"x": a}, {"x": b}], [np.array(["p", "q", "r"]), np.array(["q", "r"])],
                            BootstrapSettings(n_resamples=500))
    result = boot.drop("x")
    assert result.drop.estimate == pytest.approx((1 / 3 + 0) / 2)
    assert result.n_clusters == 3 and result.n_languages == 2
    # Replicates where the second language drew neither q nor r are left out, and counted.
    assert 0 < result.n_resamples_used < 500


@pytest.mark.parametrize(("seeds", "method", "mode"), [(1, "t", "hierarchical"), (3, "t", "hierarchical"),
                                                       (3, "percentile", "average")])
def test_interval_covers_true_delta_at_nominal_rate_with_independent_items(seeds, method, mode):
    # No systematic run effect: each seed's own item noise is all there is. The t method must not count it
    # twice (item part and run part) into a grossly conservative interval, nor miss it.
    rng = np.random.default_rng(123)
    truth = (0.3 - 0.15) * P_CLEAN
    hits = 0
    for replicate in range(150):
        a, b = simulate(0.3, 0.15, 200, seeds, rng)
        result = compare_drops([a], [b], [singletons(200)], BootstrapSettings(
            n_resamples=500, seed=replicate, method=method, seed_resampling=mode), 1)
        hits += result.delta.ci_low <= truth <= result.delta.ci_high
    assert 0.89 <= hits / 150 <= 0.99


# ---------------------------------------------------------------------------------------------- training runs
def runs_coverage(run_sd: float, sims: int, settings: dict, item_sd: float = 0.05, truth: float = 0.03,
                  seed: int = 0) -> tuple[float, float, float]:
    """(coverage of the true Δ, type-I rate at Δ = 0, coverage of arm A's true drop) of the project's own
    ClusterBootstrap on 3 languages × 33 clusters of 2–7 items, 3 seeds per arm, runs differing by run_sd."""
    rng = np.random.default_rng([seed, int(run_sd * 1000), int(item_sd * 1000)])
    covered = rejected = drop_covered = 0
    for sim in range(sims):
        for effect in (truth, 0.0):
            arms, labels = clustered_runs(rng, {"A": 0.1 + effect, "B": 0.1}, run_sd=run_sd, item_sd=item_sd)
            boot = ClusterBootstrap([{"A": a, "B": b} for a, b in zip(arms["A"], arms["B"])], labels,
                                    BootstrapSettings(seed=sim, **settings), n_permutations=1)
            result = boot.compare("A", "B")
            if effect:
                covered += result.delta.ci_low <= effect <= result.delta.ci_high
                drop = boot.drop("A").drop
                drop_covered += drop.ci_low <= 0.1 + effect <= drop.ci_high
                assert (result.delta.ci_low > 0 or result.delta.ci_high < 0) == (result.p_value < 0.05)
            else:
                rejected += result.p_value < 0.05
    return covered / sims, rejected / sims, drop_covered / sims


def test_intervals_hold_with_three_seeds_when_runs_differ():
    # Fast version of the slow test below: a run shifts the drop by 4 points (SD), the setting in which
    # resampling 3 seeds with replacement covered ~0.88 (checked here too, on the same data).
    coverage, type_one, drop_coverage = runs_coverage(0.04, 150, {"n_resamples": 400})
    assert coverage >= 0.9 and type_one <= 0.1 and drop_coverage >= 0.88, (coverage, type_one, drop_coverage)
    resampled, _, _ = runs_coverage(0.04, 150, {"n_resamples": 400, "method": "percentile"})
    assert resampled < coverage, (resampled, coverage)


@pytest.mark.slow
@pytest.mark.parametrize("item_sd", [0.25, 0.05])
@pytest.mark.parametrize("run_sd", [0.0, 0.02, 0.04])
def test_intervals_hold_with_three_seeds_across_run_differences(run_sd, item_sd):
    # The acceptance: seed SD 0, 2 and 4 points of drop; item×run noise as in F1 (0.25) or small (0.05).
    coverage, type_one, drop_coverage = runs_coverage(run_sd, 400, {"n_resamples": 1000}, item_sd=item_sd, seed=1)
    print(f"run_sd={run_sd} item_sd={item_sd}: coverage {coverage:.3f}, type-I {type_one:.3f}, "
          f"arm-drop coverage {drop_coverage:.3f}")
    assert coverage >= 0.93 and type_one <= 0.07, (coverage, type_one)
    assert drop_coverage >= 0.91, drop_coverage


def test_variance_split_separates_runs_from_items():
    # Seed s of an arm is the same model shifted by a constant on every item: all of the seed spread is run
    # variance (no item×run interaction), so var_runs is exactly s²/S of the per-seed drops.
    rng = np.random.default_rng(3)
    labels = np.repeat([f"c{k}" for k in range(20)], 3)
    clean = np.tile(rng.uniform(0.4, 0.9, 60), (3, 1))
    shifts = np.array([[0.0], [0.05], [0.13]])
    a = ArmScores(clean, clean - 0.2 - shifts - rng.normal(0, 0.05, 60))
    b = ArmScores(clean, clean - 0.1 - rng.normal(0, 0.05, 60) * np.ones((3, 1)))
    boot = ClusterBootstrap([{"a": a, "b": b}], [labels], BootstrapSettings(n_resamples=800), 1)
    result = boot.compare("a", "b")
    per_seed = np.array(result.per_seed_drop_a)
    assert per_seed == pytest.approx((a.clean - a.perturbed).mean(axis=1))
    assert result.seed_var_a == pytest.approx(per_seed.var(ddof=1))
    assert result.var_interaction_a == pytest.approx(0.0, abs=1e-12) and result.seed_var_b == 0.0
    assert result.delta.var_runs == pytest.approx(per_seed.var(ddof=1) / 3)
    assert result.delta.se ** 2 == pytest.approx(result.delta.var_items + result.delta.var_runs)
    k = 20
    df = result.delta.se ** 4 / (result.delta.var_items ** 2 / (k - 1) + (per_seed.var(ddof=1) / 3) ** 2 / 2)
    assert result.delta.df == pytest.approx(df)
    half = stats.t.ppf(0.975, df) * result.delta.se
    assert (result.delta.ci_low, result.delta.ci_high) == pytest.approx((result.delta.estimate - half,
                                                                         result.delta.estimate + half))
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(result.delta.estimate) / result.delta.se, df))
    # Ten runs that differ only by item×run noise (no run effect): their spread is the interaction, which the
    # item part already holds, so the run part stays near 0 instead of counting it a second time.
    many = np.tile(clean[0], (10, 1))
    noise = ArmScores(many, many - 0.2 - rng.normal(0, 0.2, (10, 60)))
    mixed = ClusterBootstrap([{"a": noise, "b": b}], [labels], BootstrapSettings(n_resamples=800), 1).compare("a", "b")
    assert mixed.var_interaction_a == pytest.approx(mixed.seed_var_a, rel=0.5)
    assert mixed.delta.var_runs < 0.3 * mixed.seed_var_a / 10


def test_t_interval_against_hand_computed_values():
    # se² = 0.0004 + (0.0009 − 0.0003)/3 + 0.0006/3 = 0.0008; df = se⁴ / (0.0004²/29 + (0.0003)²/2 + (0.0002)²/2).
    result = t_interval(0.05, 0.0004, 30, [RunPart(0.0009, 3, 0.0003), RunPart(0.0006, 3)], 0.95)
    se = math.sqrt(0.0008)
    df = 0.0008 ** 2 / (0.0004 ** 2 / 29 + 0.0003 ** 2 / 2 + 0.0002 ** 2 / 2)
    assert (result.se, result.df, result.var_runs) == pytest.approx((se, df, 0.0004))
    assert result.ci_high - 0.05 == pytest.approx(stats.t.ppf(0.975, df) * se)
    assert result.p_value == pytest.approx(2 * stats.t.sf(0.05 / se, df))
    # One seed per arm: no run part, df from the clusters alone.
    single = t_interval(0.05, 0.0004, 30, [RunPart(math.nan, 1), RunPart(math.nan, 1)], 0.95)
    assert single.var_runs == 0 and single.df == pytest.approx(29)
    # Fewer than 2 clusters: no interval, no p.
    assert math.isnan(t_interval(0.05, 0.0004, 1, [], 0.95).p_value)


def _seed_replicates(languages, arm: str, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(R, S) replicate drops of each seed of `arm`, language-averaged, by the ratio estimator written out:
    Σ_c w_c·(sum of the language's scores in c) / Σ_c w_c·(its examples in c), with w_c = counts[r, c]."""
    codes = np.unique(labels, return_inverse=True)[1]
    k = counts.shape[1]
    size = counts @ np.bincount(codes, minlength=k)

    def means(scores: np.ndarray) -> np.ndarray:
        return counts @ np.stack([np.bincount(codes, row, minlength=k) for row in scores]).T / size[:, None]

    return np.mean([means(lang[arm].clean) - means(lang[arm].perturbed) for lang in languages], axis=0)


@pytest.mark.parametrize(("n_clusters", "n_resamples", "confidence"), [(6, 300, 0.95), (2, 40, 0.95), (6, 2, 0.5)])
def test_variance_parts_follow_the_documented_formulas_on_the_same_draws(n_clusters, n_resamples, confidence):
    """Every number of the t method recomputed by the module docstring's formulas from the same cluster draws:
    two parallel languages; arms of 3 and 2 seeds whose runs differ. Catches a wrong small-sample factor
    (K/(K−1), S/(S−1)), a wrong ddof, a run part that forgets the interaction or an arm, a wrong Satterthwaite
    df or t quantile. Also the smallest legal cases: 2 clusters (the fewest with an item variance) and R = 2
    replicates (allowed at 50%)."""
    rng = np.random.default_rng(n_clusters * 1000 + n_resamples)
    labels = np.repeat([f"c{k}" for k in range(n_clusters)], 3)
    shifts = {"a": np.array([[0.0], [0.04], [0.1]]), "b": np.array([[0.0], [0.03]])}  # run effects on the drop
    languages = []
    for _ in range(2):
        lang = {}
        for arm, shift in shifts.items():
            clean = rng.uniform(0.3, 1.0, (len(shift), labels.size))
            lang[arm] = ArmScores(clean, clean - 0.1 - shift - rng.uniform(0, 0.3, clean.shape))
        languages.append(lang)
    settings = BootstrapSettings(n_resamples=n_resamples, confidence=confidence, seed=3)
    result = ClusterBootstrap(languages, [labels, labels], settings, n_permutations=1).compare("a", "b")

    counts = _cluster_counts(_digest(np.unique(labels)), n_clusters, n_resamples, 3).astype(float)
    k = n_clusters
    replicates, var_runs, df_terms = {}, 0.0, 0.0
    for arm in "ab":
        per_run = _seed_replicates(languages, arm, labels, counts)  # (R, S)
        s = per_run.shape[1]
        per_seed = np.mean([(lang[arm].clean - lang[arm].perturbed).mean(axis=1) for lang in languages], axis=0)
        seed_var = per_seed.var(ddof=1)
        deviation = per_run - per_run.mean(axis=1, keepdims=True)  # each run around the replicate's seed mean
        interaction = deviation.var(axis=0, ddof=1).mean() * s / (s - 1) * k / (k - 1)
        assert getattr(result, f"per_seed_drop_{arm}") == pytest.approx(per_seed, rel=1e-12)
        assert getattr(result, f"seed_var_{arm}") == pytest.approx(seed_var, rel=1e-9)
        assert getattr(result, f"var_interaction_{arm}") == pytest.approx(interaction, rel=1e-4)
        replicates[arm] = per_run.mean(axis=1)
        var_runs += max(0.0, seed_var - interaction) / s
        df_terms += (seed_var / s) ** 2 / (s - 1)
    var_items = (replicates["a"] - replicates["b"]).var(ddof=1) * k / (k - 1)
    delta = result.delta
    assert delta.estimate == pytest.approx(result.drop_a - result.drop_b, rel=1e-12)
    assert (delta.var_items, delta.var_runs) == pytest.approx((var_items, var_runs), rel=1e-4)
    se = math.sqrt(var_items + var_runs)
    df = se ** 4 / (var_items ** 2 / (k - 1) + df_terms)
    assert (delta.se, delta.df) == pytest.approx((se, df), rel=1e-4)
    half = stats.t.ppf(1 - (1 - confidence) / 2, df) * se
    assert (delta.ci_low, delta.ci_high) == pytest.approx((delta.estimate - half, delta.estimate + half), rel=1e-4)
    assert delta.p_value == pytest.approx(2 * stats.t.sf(abs(delta.estimate) / se, df), rel=1e-4)
    assert (delta.n_resamples_used, delta.n_resamples_nan) == (n_resamples, 0)


def test_seeds_that_differ_only_by_rounding_have_no_run_variance():
    # The same scores in another order: the per-seed means differ in the last bit only. A spread within the tie
    # tolerance is 0, not a run variance of 1e-32 that the tables would print and the df would use.
    scores = np.array([0.6, 0.3, 0.4, 0.9, 0.2, 0.6, 0.1, 0.8, 0.8])
    clean = np.stack([scores, scores[::-1]])
    assert clean[0].mean() != clean[1].mean()
    boot = ClusterBootstrap([{"a": ArmScores(clean, np.zeros_like(clean))}], [singletons(9)],
                            BootstrapSettings(n_resamples=100), 1)
    assert boot.drop("a").seed_var == 0.0


def test_t_interval_without_an_item_variance_reports_the_parts_it_has():
    # No item variance (NaN) or fewer than 2 clusters: no interval, p, se or df; the variance parts are kept.
    runs = [RunPart(0.0009, 3, 0.0003), RunPart(math.nan, 1)]
    for var_items, k in ((math.nan, 30), (0.0004, 1)):
        r = t_interval(0.05, var_items, k, runs, 0.95)
        assert r.estimate == 0.05 and all(math.isnan(x) for x in (r.ci_low, r.ci_high, r.p_value, r.se, r.df)), r
        assert r.var_runs == pytest.approx(0.0002)
        assert (math.isnan(r.var_items) and math.isnan(var_items)) or r.var_items == var_items
    two = t_interval(0.05, 0.0004, 2, [], 0.95)  # 2 clusters are enough
    assert two.df == 1 and two.ci_high - 0.05 == pytest.approx(stats.t.ppf(0.975, 1) * 0.02)


def test_t_interval_without_variance_is_a_point_or_spans_zero():
    tol = 1e-6
    parts = ("estimate", "ci_low", "ci_high", "p_value", "se", "df", "var_items", "var_runs")

    def fields(r: Interval) -> tuple:
        return tuple(getattr(r, name) for name in parts)

    # Nothing varies and θ̂ is 0 within the tolerance: p = 1, the interval reaches from θ̂ to 0.
    assert fields(t_interval(3e-7, 0.0, 10, [RunPart(0.0, 3, 0.0)], 0.95, tol)) == (
        3e-7, 0.0, 3e-7, 1.0, 0.0, math.inf, 0.0, 0.0)
    assert fields(t_interval(-tol, 0.0, 10, [], 0.95, tol)) == (-tol, -tol, 0.0, 1.0, 0.0, math.inf, 0.0, 0.0)
    # A nonzero θ̂ that no cluster or run changes: the point itself, p = 0.
    assert fields(t_interval(0.2, 0.0, 10, [], 0.95, tol)) == (0.2, 0.2, 0.2, 0.0, 0.0, math.inf, 0.0, 0.0)
    # An se within the tolerance (≤, as for replicates and per-seed values) is none; above it, a t interval.
    for within in (0.9 * tol, tol):
        assert t_interval(0.2, within ** 2, 10, [], 0.95, tol).se == 0.0
    above = t_interval(0.2, (1.1 * tol) ** 2, 10, [], 0.95, tol)
    assert above.se == pytest.approx(1.1 * tol) and above.ci_low < 0.2 < above.ci_high and above.df == 9


def test_tie_tolerance_is_relative_to_the_score_scale():
    """F1 on 0–100 or accuracy on 0–1: the same data at another scale must give the same p-values and verdicts
    and intervals scaled alike (powers of two keep every product exact). Arms a and b lose exactly the same
    (Δ is a float32 tie, p = 1); arm c loses 2–6e-4 more on every item (Δ small but certain, not a tie)."""
    rng = np.random.default_rng(8)
    labels = np.repeat([f"c{k}" for k in range(25)], 3)
    loss = rng.uniform(0, 0.5, 75)
    clean = {arm: rng.uniform(0.5, 1, (2, 75)) for arm in "abc"}
    extra = {"a": 0.0, "b": 0.0, "c": 2e-4 + rng.uniform(0, 4e-4, 75)}

    def deltas(scale: float):
        arms = {arm: ArmScores(clean[arm] * scale, (clean[arm] - loss - extra[arm]) * scale) for arm in "abc"}
        boot = ClusterBootstrap([arms], [labels], BootstrapSettings(n_resamples=400), 400)
        return boot.compare("a", "b"), boot.compare("c", "b")

    tie, small = deltas(1.0)
    assert tie.p_value == 1.0 and tie.verdict == "no evidence"
    assert small.verdict == "degrades" and small.delta.ci_low > 0
    for scale in (64.0, 1 / 128):
        for base, scaled in zip((tie, small), deltas(scale)):
            assert (scaled.p_value, scaled.p_permutation, scaled.verdict) == (base.p_value, base.p_permutation,
                                                                             base.verdict), scale
            assert (scaled.delta.ci_low, scaled.delta.ci_high, scaled.delta.se) == pytest.approx(
                (base.delta.ci_low * scale, base.delta.ci_high * scale, base.delta.se * scale), rel=1e-12)


# ---------------------------------------------------------------------------------------------- decisions
def test_interval_excludes_zero_exactly_when_p_is_below_alpha():
    rng = np.random.default_rng(11)
    checked = 0
    # t intervals, including estimates on the boundary |θ̂| = t·se itself (to the last ulps).
    for _ in range(3000):
        confidence = float(rng.choice([0.8, 0.9, 0.95, 0.99]))
        var_items, k = float(rng.uniform(1e-5, 1e-2)), int(rng.integers(2, 60))
        runs = [RunPart(float(rng.uniform(0, 1e-2)), int(rng.integers(1, 5)), float(rng.uniform(0, 1e-3)))
                for _ in range(2)]
        probe = t_interval(1.0, var_items, k, runs, confidence)
        boundary = probe.ci_high - 1.0
        estimate = float(rng.choice([-1, 1])) * boundary * float(1 + rng.choice([0, 1e-16, -1e-16, 1e-12,
                                                                                rng.normal(0, 0.2)]))
        result = t_interval(estimate, var_items, k, runs, confidence)
        excludes = result.ci_low > 0 or result.ci_high < 0
        assert excludes == (result.p_value < round(1 - confidence, 12))
        assert (decide(result.p_value, estimate, round(1 - confidence, 12)) != "no evidence") == excludes
        checked += 1
    # Discrete replicates with many ties at and around 0, every resample count and several levels.
    for _ in range(3000):
        confidence = float(rng.choice([0.8, 0.9, 0.95, 0.99]))
        n = int(rng.integers(math.ceil(1 / (1 - confidence)), 400))
        replicates = rng.integers(-3, 12, size=n) / 10 * rng.choice([1, -1])
        interval = percentile_interval(0.0, replicates, confidence)
        p = bootstrap_p_value(replicates)
        assert (interval.ci_low > 0 or interval.ci_high < 0) == (p < 1 - confidence), (n, confidence)
        checked += 1
    # And through the whole pipeline on small random cells.
    for trial in range(150):
        confidence = float(rng.choice([0.9, 0.95]))
        n = int(rng.integers(5, 30))
        a, b = simulate(rng.uniform(0, 0.5), rng.uniform(0, 0.5), n, int(rng.integers(1, 4)), rng)
        result = compare_drops([a], [b], [rng.integers(0, 6, n).astype(str)],
                               BootstrapSettings(n_resamples=int(rng.integers(50, 300)), confidence=confidence,
                                                 seed=trial, method=str(rng.choice(["t", "percentile"]))), 1)
        excludes = result.delta.ci_low > 0 or result.delta.ci_high < 0
        assert excludes == (result.p_value < round(1 - confidence, 12))
        assert (result.verdict != "no evidence") == excludes
        checked += 1
    assert checked == 6150


def test_p_value_floor_and_ties():
    assert bootstrap_p_value(np.ones(99)) == pytest.approx(1 / 100)
    assert bootstrap_p_value(np.zeros(50)) == 1.0
    assert bootstrap_p_value(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(0.5)
    # Float noise on what should be ties: without snapping, 40 "+1e-9" zeros would be a one-sided tail.
    noisy = np.concatenate([np.full(40, 1e-9), np.full(60, 0.3)])
    assert bootstrap_p_value(noisy) == pytest.approx(1 / 101)
    assert bootstrap_p_value(snap_zero(noisy, 1e-6)) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="at least 20"):
        BootstrapSettings(n_resamples=10, confidence=0.95)


def test_nan_replicates_are_left_out_of_the_percentile_ends_and_the_p_value():
    one = percentile_interval(0.2, np.array([np.nan, 0.4, np.nan]), 0.95)
    assert (one.estimate, one.ci_low, one.ci_high) == (0.2, 0.4, 0.4)
    none = percentile_interval(0.2, np.full(5, np.nan), 0.95)
    assert none.estimate == 0.2 and math.isnan(none.ci_low) and math.isnan(none.ci_high)
    assert bootstrap_p_value(np.array([np.nan, 0.4, np.nan])) == 0.5  # R counts finite replicates: floor 1/(1+1)
    assert math.isnan(bootstrap_p_value(np.full(5, np.nan)))


def test_within_the_tolerance_includes_the_tolerance():
    assert snap_zero(np.array([1e-5, -1e-5, 1.5e-5, -2e-5]), 1e-5).tolist() == [0.0, 0.0, 1.5e-5, -2e-5]


def test_float32_noise_on_identical_drops_gives_no_one_sided_tail():
    # Both arms lose exactly the same on every example but from different clean levels: every replicate of Δ
    # is 0 up to float32 rounding of the cluster sums. Δ̂ = 0, no variance, p = 1 under both methods.
    rng = np.random.default_rng(0)
    labels = np.repeat([f"c{k}" for k in range(30)], 4)
    loss = rng.uniform(0, 0.5, 120)
    clean_a, clean_b = rng.uniform(0.5, 1, (2, 120)), rng.uniform(0.5, 1, (2, 120))
    a, b = ArmScores(clean_a, clean_a - loss), ArmScores(clean_b, clean_b - loss)
    for method in ("t", "percentile"):
        result = compare_drops([a], [b], [labels], BootstrapSettings(n_resamples=500, method=method), 1)
        assert result.delta.estimate == pytest.approx(0, abs=1e-12)
        assert result.p_value == 1.0 and result.verdict == "no evidence", method
        assert result.delta.var_items == 0.0


def test_a_float_residue_of_a_zero_delta_is_a_tie_not_an_effect():
    # One seed, the same loss from different clean levels: Δ̂ comes out as ~1e-17 in float64, and nothing varies.
    # Within the tie tolerance it is 0: p = 1 and no verdict, not p = 0 for a "certain" effect of 1e-17.
    rng = np.random.default_rng(0)
    labels = np.repeat([f"c{k}" for k in range(30)], 4)
    loss = rng.uniform(0, 0.5, 120)
    clean_a, clean_b = rng.uniform(0.5, 1, (2, 1, 120))
    result = compare_drops([ArmScores(clean_a, clean_a - loss)], [ArmScores(clean_b, clean_b - loss)], [labels],
                           BootstrapSettings(n_resamples=200), 1)
    assert result.delta.estimate != 0 and abs(result.delta.estimate) < 1e-15  # the residue this test is about
    assert (result.p_value, result.verdict, result.delta.se) == (1.0, "no evidence", 0.0)


def test_a_delta_every_item_shows_alike_has_no_item_variance():
    # Arm a loses exactly 0.1 more than b on every example: every replicate's Δ is 0.1 up to float32 rounding
    # (~1e-8), which is no item variance; with one seed per arm nothing varies, so the interval is the point.
    rng = np.random.default_rng(1)
    clean = rng.uniform(0.5, 1, (1, 60))
    loss = rng.uniform(0, 0.3, 60)
    result = compare_drops([ArmScores(clean, clean - loss - 0.1)], [ArmScores(clean, clean - loss)],
                           [np.repeat([f"c{k}" for k in range(20)], 3)], BootstrapSettings(n_resamples=200), 1)
    assert result.delta.var_items == 0.0 and result.delta.var_runs == 0.0
    assert (result.delta.ci_low, result.delta.ci_high) == pytest.approx((0.1, 0.1))
    assert result.p_value == 0.0 and result.verdict == "degrades"


def test_nan_replicates_are_counted_not_dropped_silently():
    # Arm "a" scores 0 on clean input in cluster z: a replicate that draws only z has no relative drop.
    a = ArmScores(np.array([[1.0, 1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0, 0.0]]))
    b = ArmScores(np.array([[1.0, 1.0, 1.0, 1.0]]), np.array([[1.0, 1.0, 1.0, 0.0]]))
    boot = ClusterBootstrap([{"a": a, "b": b}], [np.array(["x", "y", "z", "z"])], BootstrapSettings(n_resamples=400))
    relative = boot.compare("a", "b").relative_delta
    assert relative.n_resamples_nan > 0 and relative.n_resamples_used + relative.n_resamples_nan == 400
    drop = boot.drop("a")
    assert drop.n_resamples_nan == 0 and drop.relative_drop.n_resamples_nan == relative.n_resamples_nan


def test_alpha_is_exact_and_p_equal_to_alpha_is_not_significant():
    assert 1 - 0.95 != 0.05 and BootstrapSettings(confidence=0.95).alpha == 0.05
    assert BootstrapSettings(confidence=0.995, n_resamples=2000).alpha == 0.005
    assert decide(0.05, 0.1, BootstrapSettings().alpha) == "no evidence"
    assert decide(0.0499, 0.1, BootstrapSettings().alpha) == "degrades"


def test_verdict_rules():
    assert decide(0.01, 0.2, 0.05) == "degrades"
    assert decide(0.01, -0.2, 0.05) == "improves"
    assert decide(0.06, 0.2, 0.05) == "no evidence"  # adjusted p above alpha
    assert decide(math.nan, 0.2, 0.05) == "no evidence"
    assert decide(0.01, math.nan, 0.05) == "no evidence"
    assert decide(0.01, 0.0, 0.05) == "no evidence"  # significant yet no direction: never "improves"
    assert decide(0.01, 1.0, 0.05) == "degrades"
    assert confidence_label(0.95) == "95%" and confidence_label(0.9) == "90%" and confidence_label(0.995) == "99.5%"


@pytest.mark.parametrize("method", ["t", "percentile"])
def test_one_cluster_gives_no_p_and_no_item_variance_two_clusters_do(method):
    a, b = simulate(0.5, 0.1, 12, 3, np.random.default_rng(2))
    settings = BootstrapSettings(n_resamples=200, method=method)
    result = compare_drops([a], [b], [np.array(["only"] * 12)], settings, 50)
    assert np.isfinite(result.delta.estimate) and math.isnan(result.p_value) and result.verdict == "no evidence"
    assert math.isnan(result.delta.ci_low) and math.isnan(result.delta.ci_high)  # no interval, either method
    # Unknown, not 0: every replicate redraws the one cluster, which says nothing about item variance.
    assert math.isnan(result.delta.var_items)
    two = compare_drops([a], [b], [np.array(["x", "y"] * 6)], settings, 50)
    assert 0 < two.p_value <= 1 and two.delta.var_items > 0 and two.delta.ci_low < two.delta.ci_high


def test_verdicts_on_clear_effects():
    rng = np.random.default_rng(5)
    a, b = simulate(0.5, 0.1, 800, 2, rng)
    labels = [singletons(800)]
    degrades = compare_drops([a], [b], labels)
    assert degrades.verdict == "degrades" and degrades.delta.ci_low > 0 and degrades.p_value < 0.01
    assert degrades.p_permutation < 0.01
    improves = compare_drops([b], [a], labels)
    assert improves.verdict == "improves" and improves.delta.ci_high < 0
    same_a, same_b = simulate(0.2, 0.2, 100, 1, np.random.default_rng(6))
    assert compare_drops([same_a], [same_b], [singletons(100)]).verdict == "no evidence"


def test_cluster_permutation_test_controls_type_one_error_and_flips_whole_clusters():
    rng = np.random.default_rng(11)
    rejections = 0
    for sim in range(200):
        languages, labels = clustered_parallel(rng, 0.0, n_clusters=30)
        result = compare_drops([a for a, _ in languages], [b for _, b in languages], [labels] * 4,
                               BootstrapSettings(n_resamples=40, seed=sim), n_permutations=400)
        rejections += result.p_permutation < 0.05
    assert 0.01 <= rejections / 200 <= 0.09
    a = ArmScores(np.zeros((1, 10)), np.zeros((1, 10)))
    assert compare_drops([a], [a], [singletons(10)], BootstrapSettings(n_resamples=100), 100).p_permutation == 1.0


def test_deterministic_given_seed():
    a, b = simulate(0.3, 0.1, 100, 2, np.random.default_rng(0))
    for method in ("t", "percentile"):
        settings = BootstrapSettings(n_resamples=300, seed=4, method=method)
        first, second = (compare_drops([a], [b], [singletons(100)], settings) for _ in range(2))
        assert repr(first) == repr(second)


# ---------------------------------------------------------------------------------------------- multiplicity
def test_holm_and_benjamini_hochberg_against_hand_computed_values():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # Holm: sorted 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> running max 0.06.
    assert adjust_p_values(p, "holm")[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04, 0.04·4/4 = 0.04 -> running min from the top.
    assert adjust_p_values(p, "bh")[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert math.isnan(adjust_p_values(p, "holm")[4]) and math.isnan(adjust_p_values(p, "bh")[4])
    assert adjust_p_values([0.5, 0.6], "holm") == pytest.approx([1.0, 1.0])
    assert adjust_p_values([0.6, 0.7]).tolist() == [1.0, 1.0]  # Holm by default (BH: 0.7, 0.7); capped at 1, not 1.2
    assert adjust_p_values([0.2], "bh") == pytest.approx([0.2])
    with pytest.raises(ValueError, match="holm"):
        adjust_p_values([0.1], "bonferroni")


def test_interval_scope_says_what_is_covered():
    assert interval_scope({"a": 1, "b": 1}) == (
        "example (cluster) sampling only, not training-run variance (one training run per arm)")
    assert interval_scope({"a": 3, "b": 3}).startswith("clusters (cluster bootstrap of seed-averaged scores) and "
                                                       "training runs")
    assert "not covered" in interval_scope({"a": 3, "b": 1}) and "b had one training run" in interval_scope(
        {"a": 3, "b": 1})
    percentile = BootstrapSettings(method="percentile")
    assert interval_scope({"a": 3, "b": 3}, percentile) == "clusters and training runs (seeds resampled hierarchically)"
    assert "not covered" in interval_scope({"a": 3, "b": 3}, BootstrapSettings(method="percentile",
                                                                               seed_resampling="average"))
    assert BootstrapSettings().method_name == "cluster bootstrap (items) + between-run variance with Satterthwaite t"
    # The sentences the report prints, in full.
    t_covered = ("clusters (cluster bootstrap of seed-averaged scores) and training runs (the variance of each arm's "
                 "per-seed estimates; Satterthwaite t)")
    assert interval_scope({"a": 3, "b": 3}) == t_covered
    assert interval_scope({"a": 3, "b": 1, "c": 1}) == (
        f"{t_covered}; b, c had one training run each, whose run-to-run variance is not covered")
    assert interval_scope({"a": 3, "b": 2}, BootstrapSettings(method="percentile", seed_resampling="average")) == (
        "example (cluster) sampling only: scores were averaged over each arm's seeds (2, 3) first, so training-run "
        "variance is not covered")


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same non-empty example ids"):
        ArmScores(np.zeros((1, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        ArmScores(np.array([[np.nan]]), np.array([[0.0]]))
    a, _ = simulate(0.3, 0.1, 10, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="cluster labels"):
        bootstrap_drop([a], [singletons(9)])
    with pytest.raises(ValueError, match="n_resamples"):
        BootstrapSettings(n_resamples=0)
    with pytest.raises(ValueError, match="itself"):
        ClusterBootstrap([{"x": a}], [singletons(10)], BootstrapSettings(n_resamples=100)).compare("x", "x")
    with pytest.raises(ValueError, match="method"):
        BootstrapSettings(method="bca")


def message(error: type[Exception], call, *args, **kwargs) -> str:
    with pytest.raises(error) as raised:
        call(*args, **kwargs)
    return str(raised.value)


def test_settings_accept_exactly_the_valid_range_and_name_the_fix():
    assert BootstrapSettings(n_resamples=20, confidence=0.95).min_resamples == 20  # the minimum itself is allowed
    assert message(ValueError, BootstrapSettings, n_resamples=19) == (
        "n_resamples=19 is too few for 0.95 intervals: the smallest p-value 1/(R+1) must be below 0.05, so use at "
        "least 20 (e.g. 2000)")
    assert "too few for 0.95 intervals" in message(ValueError, BootstrapSettings, n_resamples=1)
    assert message(ValueError, BootstrapSettings, n_resamples=0) == "n_resamples=0 must be >= 1 (use e.g. 2000)"
    for confidence in (0.0, 1.0, 1.5):
        assert message(ValueError, BootstrapSettings, confidence=confidence) == (
            f"confidence={confidence} must be in (0, 1), e.g. 0.95")
    assert message(ValueError, BootstrapSettings, seed_resampling="runs") == (
        "seed_resampling='runs' must be 'hierarchical' or 'average'")


def test_arm_scores_take_one_seed_as_a_row_and_reject_what_is_not_seeds_by_examples():
    one = ArmScores([1, 0, 1], [0, 0, 1])  # one seed given as a flat list of ints
    assert one.clean.shape == (1, 3) and one.clean.dtype == float and one.perturbed.tolist() == [[0.0, 0.0, 1.0]]
    assert one.n_seeds == 1 and one.n_examples == 3
    assert message(ValueError, ArmScores, np.zeros((1, 3)), np.zeros((1, 4))) == (
        "clean (1, 3) and perturbed (1, 4) scores must both be (seeds, examples) over the same non-empty example "
        "ids: align them by id before calling")
    for shape in ((1, 0), (2, 3, 4)):  # no examples; a stray extra axis
        assert "same non-empty example ids" in message(ValueError, ArmScores, np.zeros(shape), np.zeros(shape))
    assert message(ValueError, ArmScores, [[np.inf]], [[0.0]]) == (
        "scores contain NaN/inf: drop or fix the missing predictions before scoring")


def test_cell_errors_name_the_fix():
    a = ArmScores(np.zeros((2, 3)), np.zeros((2, 3)))
    labels = singletons(3)
    no_cell = "give one {arm: ArmScores} mapping and one cluster-label array per language"
    assert message(ValueError, ClusterBootstrap, [], []) == no_cell
    assert message(ValueError, ClusterBootstrap, [{"x": a}, {"x": a}], [labels]) == no_cell
    assert message(ValueError, ClusterBootstrap, [{"x": a}, {"y": a}], [labels, labels]) == (
        "every language needs the same arms; got [['x'], ['y']]")
    assert message(ValueError, ClusterBootstrap, [{"x": a}], [singletons(4)]) == (
        "language 0: arms cover {'x': 3} examples but 4 cluster labels were given: align every arm on the same "
        "example ids")
    one_seed = ArmScores(np.zeros((1, 3)), np.zeros((1, 3)))
    assert message(ValueError, ClusterBootstrap, [{"x": a}, {"x": one_seed}], [labels, labels]) == (
        "arm 'x' has different seed counts across languages: every seed must be evaluated on every language")
    boot = ClusterBootstrap([{"x": a, "y": a}], [labels], BootstrapSettings(n_resamples=100))
    assert message(ValueError, boot.compare, "x", "z") == "arm 'z' is not in this cell; it has ['x', 'y']"

"""Paired bootstrap for Δ drop: hand-computed values, coverage of a known Δ, verdicts, permutation test."""

import numpy as np
import pytest

from stages.xlt.scoring.statistics import (
    ArmScores,
    BootstrapSettings,
    bootstrap_drop,
    compare_drops,
    permutation_test,
    verdict,
)

P_CLEAN = 0.6


def simulate(rate_a: float, rate_b: float, n: int, seeds: int, rng: np.random.Generator) -> tuple[ArmScores, ArmScores]:
    """Shared per-example difficulty; a perturbation kills a correct answer with probability rate_arm.

    True drop(arm) = rate_arm × E[clean] = rate_arm × P_CLEAN, so true Δ = (rate_a − rate_b) × P_CLEAN.
    """
    p = P_CLEAN + rng.uniform(-0.3, 0.3, size=n)

    def arm(rate: float) -> ArmScores:
        clean = (rng.random((seeds, n)) < p).astype(float)
        return ArmScores(clean, clean * (rng.random((seeds, n)) >= rate))

    return arm(rate_a), arm(rate_b)


def test_hand_computed_drop_and_delta():
    a = ArmScores(np.array([[1.0, 1.0, 0.0, 1.0]]), np.array([[0.0, 1.0, 0.0, 0.0]]))  # drop 0.5 of clean 0.75
    b = ArmScores(np.array([[1.0, 0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0, 0.5]]))  # drop 0.125 of clean 0.5
    drop = bootstrap_drop([a], BootstrapSettings(n_resamples=200))
    assert drop.drop.estimate == pytest.approx(0.5)
    assert drop.relative_drop.estimate == pytest.approx(0.5 / 0.75)
    result = compare_drops([a], [b], BootstrapSettings(n_resamples=200))
    assert result.delta.estimate == pytest.approx(0.375)
    assert result.relative_delta.estimate == pytest.approx(0.5 / 0.75 - 0.125 / 0.5)
    assert result.delta.ci_low <= result.delta.estimate <= result.delta.ci_high


def test_stratified_average_is_the_unweighted_mean_of_languages():
    rng = np.random.default_rng(1)
    small = simulate(0.5, 0.1, 50, 1, rng)
    large = simulate(0.1, 0.1, 500, 1, rng)
    pooled = compare_drops([small[0], large[0]], [small[1], large[1]], BootstrapSettings(n_resamples=200))
    per_lang = [compare_drops([x[0]], [x[1]], BootstrapSettings(n_resamples=200)).delta.estimate for x in (small, large)]
    assert pooled.delta.estimate == pytest.approx(np.mean(per_lang))


@pytest.mark.parametrize(("seeds", "mode"), [(1, "hierarchical"), (3, "average")])
def test_interval_covers_true_delta_at_nominal_rate(seeds, mode):
    rng = np.random.default_rng(123)
    truth = (0.3 - 0.15) * P_CLEAN
    hits = 0
    for replicate in range(200):
        a, b = simulate(0.3, 0.15, 200, seeds, rng)
        result = compare_drops([a], [b], BootstrapSettings(n_resamples=1000, seed=replicate, seed_resampling=mode))
        hits += result.delta.ci_low <= truth <= result.delta.ci_high
    assert 0.90 <= hits / 200 <= 0.99


def test_hierarchical_seed_resampling_is_conservative_without_a_seed_effect():
    # With no systematic seed effect, resampling seeds as well as examples counts the noise twice: the
    # interval is wider than nominal (documented trade-off), never narrower.
    rng = np.random.default_rng(7)
    truth = (0.3 - 0.15) * P_CLEAN
    hits = 0
    for replicate in range(60):
        a, b = simulate(0.3, 0.15, 200, 3, rng)
        result = compare_drops([a], [b], BootstrapSettings(n_resamples=500, seed=replicate))
        hits += result.delta.ci_low <= truth <= result.delta.ci_high
    assert hits / 60 >= 0.93


def test_verdicts_on_clear_effects():
    rng = np.random.default_rng(5)
    a, b = simulate(0.5, 0.1, 800, 2, rng)
    degrades = compare_drops([a], [b])
    assert degrades.verdict == "degrades" and degrades.delta.ci_low > 0 and degrades.p_value < 0.01
    improves = compare_drops([b], [a])
    assert improves.verdict == "improves" and improves.delta.ci_high < 0
    same_a, same_b = simulate(0.2, 0.2, 100, 1, np.random.default_rng(6))
    assert compare_drops([same_a], [same_b]).verdict == "no evidence"


def test_verdict_rule():
    assert verdict(0.01, 0.2) == "degrades"
    assert verdict(-0.2, -0.01) == "improves"
    assert verdict(-0.1, 0.1) == "no evidence"


def test_permutation_test_controls_type_one_error():
    rng = np.random.default_rng(11)
    rejections = sum(permutation_test([rng.normal(0, 1, 100)], n_resamples=400, seed=i) < 0.05 for i in range(300))
    assert 0.01 <= rejections / 300 <= 0.10
    assert permutation_test([rng.normal(0.5, 1, 200)], n_resamples=1000) < 0.01
    assert permutation_test([np.zeros(10)], n_resamples=100) == 1.0


def test_deterministic_given_seed():
    a, b = simulate(0.3, 0.1, 100, 2, np.random.default_rng(0))
    assert compare_drops([a], [b], BootstrapSettings(seed=4)) == compare_drops([a], [b], BootstrapSettings(seed=4))


def test_thousands_of_resamples_over_a_thousand_examples_runs():
    # Speed is measured by the benchmarks, never asserted against the wall clock here.
    a, b = simulate(0.3, 0.1, 1000, 3, np.random.default_rng(0))
    settings = BootstrapSettings(n_resamples=5000, seed=99)
    compare_drops([a], [b], settings)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="same non-empty example ids"):
        ArmScores(np.zeros((1, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        ArmScores(np.array([[np.nan]]), np.array([[0.0]]))
    a, b = simulate(0.3, 0.1, 10, 1, np.random.default_rng(0))
    c, _ = simulate(0.3, 0.1, 11, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="same example ids"):
        compare_drops([a], [c])
    with pytest.raises(ValueError, match="n_resamples"):
        BootstrapSettings(n_resamples=0)

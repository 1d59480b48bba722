"""Paired bootstrap and permutation test for the difference in robustness drop between two arms.

Quantity: for an arm, drop = mean(clean score) − mean(perturbed score) over the same example ids;
Δ = drop(A) − drop(B). Δ > 0 means arm A loses more under perturbation than arm B (A is less robust).

Design choices (and why):
* Pairing. Both arms and both conditions are scored on the same example ids, so every bootstrap resample
  draws one vector of example indices and applies it to all four score columns. That cancels
  per-example difficulty, which is most of the variance.
* Seeds: hierarchical resampling (default). Each resample first draws each arm's seeds with replacement
  (independently per arm: seed 1 of arm A and seed 1 of arm B are different models, so nothing pairs them),
  averages each example over the drawn seeds, then resamples examples. The same drawn seeds are used for the
  clean and the perturbed condition (they are the same models) and for every language stratum (a model
  is evaluated on all languages). With one seed this reduces to the plain example bootstrap. With 2–3 seeds
  the seed level is only crudely estimated. This is conservative: without a systematic seed effect the
  per-example noise is counted twice (simulated coverage of a 95% interval with 3 seeds: ~1.0).
  `seed_resampling="average"` (average over seeds first, then bootstrap examples; simulated coverage ~0.95)
  is the alternative; it ignores seed-to-seed variance, so it is anti-conservative when seeds differ
  systematically, which fine-tuning runs usually do. We default to the conservative choice.
* Computation: every statistic is a mean, so a resample's mean is (bootstrap counts) @ scores / N, one matrix
  product for all arms, seeds and conditions; ~2000–5000 resamples × ~1000 examples take ~0.1–0.4 s.
* Pooling across languages: stratified by language — examples are resampled within each language and the
  statistic is the unweighted mean of per-language values (XTREME's macro average), so a language with more
  examples does not dominate.
* Intervals: percentile intervals at `confidence` (0.95). Verdict from the Δ interval: "degrades" if it lies
  entirely above 0, "improves" if entirely below, else "no evidence".
* Permutation test: under H0 (the arm label does not matter) swapping A and B for an example flips the sign
  of its Δ contribution (clean_A − pert_A) − (clean_B − pert_B), with scores averaged over seeds. Random sign
  flips per example give the null distribution of the (stratified) mean; two-sided p = (1 + #{|T*| ≥ |T|}) /
  (1 + n), which is never 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from threadpoolctl import threadpool_limits  # installed with scikit-learn

SeedResampling = Literal["hierarchical", "average"]
VERDICTS = ("degrades", "improves", "no evidence")


@dataclass(frozen=True)
class ArmScores:
    """One arm on one stratum (language): per-example scores, rows = seeds, columns = the shared example ids."""

    clean: np.ndarray  # (n_seeds, n_examples)
    perturbed: np.ndarray  # (n_seeds, n_examples)

    def __post_init__(self) -> None:
        clean, perturbed = np.atleast_2d(self.clean), np.atleast_2d(self.perturbed)
        if clean.shape != perturbed.shape or clean.ndim != 2 or clean.shape[1] == 0:
            raise ValueError(
                f"clean {clean.shape} and perturbed {perturbed.shape} scores must both be (seeds, examples) "
                "over the same non-empty example ids: align them by id before calling"
            )
        if not (np.isfinite(clean).all() and np.isfinite(perturbed).all()):
            raise ValueError("scores contain NaN/inf: drop or fix the missing predictions before scoring")
        object.__setattr__(self, "clean", clean.astype(float))
        object.__setattr__(self, "perturbed", perturbed.astype(float))

    @property
    def n_seeds(self) -> int:
        return self.clean.shape[0]

    @property
    def n_examples(self) -> int:
        return self.clean.shape[1]


@dataclass(frozen=True)
class BootstrapSettings:
    n_resamples: int = 2000
    confidence: float = 0.95
    seed: int = 0
    seed_resampling: SeedResampling = "hierarchical"

    def __post_init__(self) -> None:
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples={self.n_resamples} must be >= 1 (use e.g. 2000)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence} must be in (0, 1), e.g. 0.95")
        if self.seed_resampling not in ("hierarchical", "average"):
            raise ValueError(f"seed_resampling={self.seed_resampling!r} must be 'hierarchical' or 'average'")


@dataclass(frozen=True)
class Interval:
    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class DropResult:
    """One arm: clean and perturbed means, the absolute and the relative drop, with intervals."""

    clean: Interval
    perturbed: Interval
    drop: Interval
    relative_drop: Interval
    n_examples: int
    n_seeds: int


@dataclass(frozen=True)
class DeltaResult:
    """Arm A vs arm B: Δ = drop(A) − drop(B) (and the same on relative drops), p-value, verdict."""

    delta: Interval
    relative_delta: Interval
    p_value: float
    verdict: str
    drop_a: float
    drop_b: float
    n_examples: int
    n_seeds_a: int
    n_seeds_b: int


def verdict(ci_low: float, ci_high: float) -> str:
    if ci_low > 0:
        return "degrades"
    if ci_high < 0:
        return "improves"
    return "no evidence"


def _single_threaded_blas(function):
    """Run with one BLAS thread: the products here are thin and memory-bound, and OpenBLAS's thread pool
    made them ~10× slower on a shared 2-core machine (measured), never faster."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


def _check_strata(strata: Sequence[ArmScores]) -> None:
    if len(strata) == 0:
        raise ValueError("no strata given: pass at least one ArmScores (one per language)")
    if len({s.n_seeds for s in strata}) != 1:
        raise ValueError(
            f"an arm has different seed counts across languages {[s.n_seeds for s in strata]}: "
            "every seed must be evaluated on every language"
        )


def _seed_weights(n_seeds: int, settings: BootstrapSettings, arm_position: int) -> np.ndarray:
    """(R, n_seeds) weights summing to 1 per row: the share of each seed in one resample's seed average.

    Arm A (position 0) and arm B (position 1) get independent draws: their seeds are unrelated models.
    """
    if settings.seed_resampling == "average" or n_seeds == 1:
        return np.full((settings.n_resamples, n_seeds), 1.0 / n_seeds)
    rng = np.random.default_rng([settings.seed, 1, arm_position])
    draws = rng.integers(0, n_seeds, size=(settings.n_resamples, n_seeds))
    return (draws[:, :, None] == np.arange(n_seeds)).sum(axis=1) / n_seeds


@functools.lru_cache(maxsize=16)
def _example_counts(n_examples: int, n_resamples: int, seed: int, stratum: int) -> np.ndarray:
    """(R, N) bootstrap counts: how often each example is drawn in each resample (rows sum to N).

    Every statistic here is a mean, so a resample's mean is counts @ values / N: one BLAS product instead of
    an (R, N) gather per quantity. The draw depends only on (N, R, seed, stratum), so every arm, comparison
    and condition on the same examples reuses the same resamples (common random numbers; also cached).
    Rows are filled in blocks because one huge bincount is slow (cache misses).
    """
    rng = np.random.default_rng([seed, 0, stratum, n_examples])
    # float32: exact for counts, and halves the cache (12 languages × 2000 × 1190 ≈ 115 MB).
    counts = np.empty((n_resamples, n_examples), dtype=np.float32)
    block = 256
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        draws = rng.integers(0, n_examples, size=(rows, n_examples)) + (np.arange(rows) * n_examples)[:, None]
        counts[start:start + rows] = np.bincount(draws.ravel(), minlength=rows * n_examples).reshape(rows, -1)
    counts.setflags(write=False)
    return counts


def _resampled_seed_means(arms: Sequence[ArmScores], example_counts: np.ndarray) -> list[np.ndarray]:
    """Per resample and seed, the mean over resampled examples of each arm's clean and perturbed scores.

    Returns, per arm, an (R, 2, S) array ([:, 0] clean, [:, 1] perturbed). All arms and conditions share one
    matrix product: it is memory-bound on the (R, N) counts, so one wide product costs the same as one thin one.
    """
    stacked = np.vstack([np.vstack([arm.clean, arm.perturbed]) for arm in arms])  # (Σ 2·S_arm, N)
    # float32 product (~1e-7 relative error on means of scores in [0, 1]), accumulated back in float64.
    means = (example_counts @ stacked.T.astype(np.float32)).astype(float) / stacked.shape[1]
    out, start = [], 0
    for arm in arms:
        width = 2 * arm.n_seeds
        out.append(means[:, start:start + width].reshape(-1, 2, arm.n_seeds))
        start += width
    return out


def _interval(estimate: float, resamples: np.ndarray, confidence: float) -> Interval:
    alpha = (1 - confidence) / 2
    finite = resamples[np.isfinite(resamples)]
    if finite.size == 0:
        return Interval(float(estimate), float("nan"), float("nan"))
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return Interval(float(estimate), float(low), float(high))


def _relative(drop: np.ndarray, clean: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(clean != 0, drop / np.where(clean != 0, clean, 1.0), np.nan)


def _stratified_means(
    strata_per_arm: Sequence[Sequence[ArmScores]], example_counts: list[np.ndarray], seed_weights: list[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per arm, the stratified (macro over strata) resampled clean and perturbed means, each (R,).

    `strata_per_arm[j][k]` is arm j on stratum k; all arms on stratum k share the example resamples.
    """
    totals = [np.zeros((len(example_counts[0]), 2)) for _ in strata_per_arm]
    for k, counts in enumerate(example_counts):
        per_arm = _resampled_seed_means([strata[k] for strata in strata_per_arm], counts)
        for j, seed_means in enumerate(per_arm):
            totals[j] += np.einsum("rcs,rs->rc", seed_means, seed_weights[j])
    n_strata = len(example_counts)
    return [(total[:, 0] / n_strata, total[:, 1] / n_strata) for total in totals]


def _point_means(strata: Sequence[ArmScores]) -> tuple[float, float]:
    return (
        float(np.mean([s.clean.mean() for s in strata])),
        float(np.mean([s.perturbed.mean() for s in strata])),
    )


def _example_count_matrices(sizes: Sequence[int], settings: BootstrapSettings) -> list[np.ndarray]:
    return [_example_counts(n, settings.n_resamples, settings.seed, k) for k, n in enumerate(sizes)]


@_single_threaded_blas
def bootstrap_drop(strata: Sequence[ArmScores], settings: BootstrapSettings = BootstrapSettings()) -> DropResult:
    """Clean/perturbed means and drop of one arm, stratified over `strata` (languages), with intervals."""
    _check_strata(strata)
    counts = _example_count_matrices([s.n_examples for s in strata], settings)
    weights = _seed_weights(strata[0].n_seeds, settings, arm_position=0)
    [(clean_r, perturbed_r)] = _stratified_means([strata], counts, [weights])
    clean, perturbed = _point_means(strata)
    drop = clean - perturbed
    relative = float(_relative(np.array(drop), np.array(clean)))
    c = settings.confidence
    return DropResult(
        clean=_interval(clean, clean_r, c),
        perturbed=_interval(perturbed, perturbed_r, c),
        drop=_interval(drop, clean_r - perturbed_r, c),
        relative_drop=_interval(relative, _relative(clean_r - perturbed_r, clean_r), c),
        n_examples=sum(s.n_examples for s in strata),
        n_seeds=strata[0].n_seeds,
    )


def _delta_contributions(a: ArmScores, b: ArmScores) -> np.ndarray:
    """Per-example (seed-averaged) contribution to Δ: (clean_A − pert_A) − (clean_B − pert_B)."""
    return (a.clean.mean(0) - a.perturbed.mean(0)) - (b.clean.mean(0) - b.perturbed.mean(0))


_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(float)  # (256, 8)


def _sign_flip_means(contributions: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Means of contributions × random signs, one per resample, 8 examples per random byte.

    Each random byte decides the signs of 8 consecutive examples; a (256,) lookup table per group of 8 holds
    the signed sum for every byte value, so a resample costs N/8 table look-ups instead of N multiplications.
    """
    n = len(contributions)
    padded = np.zeros(-(-n // 8) * 8)
    padded[:n] = contributions
    groups = padded.reshape(-1, 8)  # (G, 8)
    tables = (2 * _BYTE_BITS - 1) @ groups.T  # (256, G): signed sum of each group for each byte value
    # Padding entries are 0, so their sign does not matter.
    choices = rng.integers(0, 256, size=(n_resamples, groups.shape[0]), dtype=np.uint8)
    sums = np.take_along_axis(tables.T, choices.T.astype(np.intp), axis=1).sum(axis=0)  # (R,)
    return sums / n


def permutation_test(
    contributions: Sequence[np.ndarray], n_resamples: int = 2000, seed: int = 0
) -> float:
    """Two-sided sign-flip p-value for H0: mean contribution 0 (stratified mean over the given strata)."""
    if len(contributions) == 0 or any(len(c) == 0 for c in contributions):
        raise ValueError("permutation_test needs at least one non-empty stratum of per-example contributions")
    rng = np.random.default_rng(seed)
    observed = np.mean([c.mean() for c in contributions])
    null = np.zeros(n_resamples)
    for c in contributions:
        null += _sign_flip_means(c, n_resamples, rng)
    null /= len(contributions)
    # A tiny tolerance so that exact ties (e.g. all-zero contributions) count as "as extreme".
    extreme = np.abs(null) >= np.abs(observed) - 1e-12
    return float((1 + extreme.sum()) / (1 + n_resamples))


@_single_threaded_blas
def compare_drops(
    strata_a: Sequence[ArmScores],
    strata_b: Sequence[ArmScores],
    settings: BootstrapSettings = BootstrapSettings(),
) -> DeltaResult:
    """Δ = drop(A) − drop(B) with a paired (stratified, optionally hierarchical) bootstrap interval.

    `strata_a[k]` and `strata_b[k]` must cover the same example ids in the same order (language k).
    """
    _check_strata(strata_a)
    _check_strata(strata_b)
    if len(strata_a) != len(strata_b) or any(a.n_examples != b.n_examples for a, b in zip(strata_a, strata_b)):
        raise ValueError(
            "arms A and B must have the same strata and the same example ids per stratum: align them by id first"
        )
    counts = _example_count_matrices([s.n_examples for s in strata_a], settings)  # shared by both arms
    weights = [_seed_weights(strata_a[0].n_seeds, settings, 0), _seed_weights(strata_b[0].n_seeds, settings, 1)]
    (clean_a_r, pert_a_r), (clean_b_r, pert_b_r) = _stratified_means([strata_a, strata_b], counts, weights)
    clean_a, pert_a = _point_means(strata_a)
    clean_b, pert_b = _point_means(strata_b)
    drop_a, drop_b = clean_a - pert_a, clean_b - pert_b
    delta = drop_a - drop_b
    relative_a = _relative(np.array(drop_a), np.array(clean_a))
    relative_delta = float(relative_a - _relative(np.array(drop_b), np.array(clean_b)))
    delta_r = (clean_a_r - pert_a_r) - (clean_b_r - pert_b_r)
    relative_delta_r = _relative(clean_a_r - pert_a_r, clean_a_r) - _relative(clean_b_r - pert_b_r, clean_b_r)
    delta_interval = _interval(delta, delta_r, settings.confidence)
    p_value = permutation_test(
        [_delta_contributions(a, b) for a, b in zip(strata_a, strata_b)], settings.n_resamples, settings.seed + 1
    )
    return DeltaResult(
        delta=delta_interval,
        relative_delta=_interval(relative_delta, relative_delta_r, settings.confidence),
        p_value=p_value,
        verdict=verdict(delta_interval.ci_low, delta_interval.ci_high),
        drop_a=drop_a,
        drop_b=drop_b,
        n_examples=sum(s.n_examples for s in strata_a),
        n_seeds_a=strata_a[0].n_seeds,
        n_seeds_b=strata_b[0].n_seeds,
    )

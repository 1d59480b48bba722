"""Cluster bootstrap for robustness drops and Δ between arms; multiplicity; Wilson intervals; McNemar tests.

Quantities. For an arm on one language: drop = mean(clean score) − mean(perturbed score) over the same examples
(the examples the perturbation changed: see summary.py); relative drop = drop / mean(clean score).
Δ = drop(A) − drop(B); Δ > 0 means arm A loses more under perturbation than arm B (A is less robust).
Relative Δ = relative drop(A) − relative drop(B). A language average is the unweighted mean of the per-language
values (XTREME's macro average); its relative drop is (average drop) / (average clean score).

Design choices (and why):
* Unit of resampling: the cluster. Examples are not independent: XQuAD questions share a paragraph, XNLI
  hypotheses share a premise, PAWS-X pairs share sentences. The caller gives each example a cluster label
  (the unit of independence; a singleton cluster where examples are independent). A replicate draws clusters
  with replacement and keeps every example of a drawn cluster as many times as the cluster was drawn.
* Languages are parallel: the same source item, translated, appears in every language under the same cluster
  label. Resampling each language independently would treat six translations of one paragraph as six
  independent draws and make a language average look ~√6 times more precise than it is. So one replicate
  draws ONE multiset of clusters from the union of the clusters of the averaged languages, and every language
  uses that same multiset. A language's replicate mean is the ratio estimator Σ w_c·(sum of its examples in c)
  / Σ w_c·(number of its examples in c) with w_c the draw count of cluster c (a language that lacks some
  clusters simply gets no weight from them); the average is the unweighted mean of the per-language means.
  A replicate in which some language received no cluster at all has no value for that language; such
  replicates are left out (they are rare unless a language has only one or two changed clusters; their count
  is reported as `n_resamples_used`). A per-language cell is the same scheme on that language alone. Non-
  parallel data (e.g. Tatoeba, whose pairs differ by language) just has disjoint labels, and the scheme
  reduces to a cluster bootstrap with random per-language sample sizes.
* Pairing: all arms and both conditions of a replicate use the same clusters, which cancels per-item
  difficulty, most of the variance.
* Seeds (training runs): hierarchical by default. Each replicate draws each arm's seeds with replacement,
  independently per arm (seed 1 of arm A and seed 1 of arm B are unrelated models), keyed by the arm's name so
  that an arm gets the same seed draw in every language, condition and comparison (it is the same models
  everywhere), and averages the drawn seeds' scores. With one seed per arm this is the plain cluster bootstrap
  and the intervals cover example sampling only, NOT training-run variance; `interval_scope` says which in
  words. With 2–3 seeds the seed level is crudely estimated and, without a systematic seed effect, counts the
  example noise twice (conservative). `seed_resampling="average"` averages seeds per example first (no
  training-run variance, anti-conservative when runs differ systematically, which fine-tuning runs do).
* Computation: every mean is a matrix product. Per language, example scores are summed per cluster
  (K × columns); a replicate's cluster counts (R × K) times that matrix gives all arms, seeds, conditions
  and languages of a cell at once. The counts depend only on the set of cluster labels, R and the bootstrap
  seed, so cells on the same clusters reuse them (common random numbers; cached).
* One scheme for the interval and the p-value. The interval is the percentile interval of the replicates of
  Δ; the two-sided p-value comes from the same replicates: p = min(1, 2·min(P*(Δ* ≤ 0), P*(Δ* ≥ 0))),
  floored at 1/(R+1). The interval's ends are order statistics chosen with the same inequality that decides
  p < α (α = 1 − confidence), so the interval excludes 0 exactly when p < α: a report can never show an
  interval excluding 0 beside p ≥ α, or the reverse. (This needs R ≥ 1/α, which BootstrapSettings enforces.)
* The bootstrap p-value decides; a cluster-level sign-flip permutation test is reported beside it
  (`p_permutation`). Under H0 "the arm label does not matter" swapping A and B within a cluster flips the sign
  of that cluster's (seed-averaged) contribution to Δ; the same flip applies to the cluster in every language.
  It tests a sharper null (exchangeability of the two arms' drops, conditional on the trained models), so it
  ignores training-run variance and has no matching interval; the bootstrap p covers the same sources of
  variation as the interval shown beside it, which is why it is the one used for verdicts.
* Multiplicity: `adjust_p_values` (Holm's step-down, which controls the family-wise error rate under any
  dependence, or Benjamini–Hochberg, which controls the false discovery rate under positive dependence).
  summary.py defines the families. Intervals stay marginal (unadjusted).
* Verdicts: "degrades" (A less robust: Δ > 0 at the decision level), "improves", "no evidence" (the data
  cannot tell; not evidence of no effect), and "not applicable" for cells where the perturbation changed no
  example. The direction of a significant result is the side of 0 on which the interval lies.
* Attack tables: Wilson intervals for success rates (good coverage at small n and near 0 or 1, unlike the
  Wald interval) and McNemar's exact test on the discordant pairs for the paired difference between two arms
  attacked on the same items. Where several pairs share a cluster (e.g. the same source item attacked in
  several languages) the pairs are not independent: the Wilson interval then uses a design-effect-adjusted
  effective sample size, and the paired test is Durkalski et al.'s clustered McNemar test (2003, asymptotic).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from threadpoolctl import ThreadpoolController

SeedResampling = Literal["hierarchical", "average"]
Multiplicity = Literal["holm", "bh"]
DEGRADES, IMPROVES, NO_EVIDENCE, NOT_APPLICABLE = "degrades", "improves", "no evidence", "not applicable"
VERDICTS = (DEGRADES, IMPROVES, NO_EVIDENCE, NOT_APPLICABLE)


@dataclass(frozen=True)
class ArmScores:
    """One arm on one language: per-example scores, rows = seeds, columns = the shared example ids."""

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
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence} must be in (0, 1), e.g. 0.95")
        if self.n_resamples < 1:
            raise ValueError(f"n_resamples={self.n_resamples} must be >= 1 (use e.g. 2000)")
        if self.n_resamples < self.min_resamples:
            raise ValueError(
                f"n_resamples={self.n_resamples} is too few for {self.confidence} intervals: the smallest p-value "
                f"1/(R+1) must be below {self.alpha:g}, so use at least {self.min_resamples} (e.g. 2000)"
            )
        if self.seed_resampling not in ("hierarchical", "average"):
            raise ValueError(f"seed_resampling={self.seed_resampling!r} must be 'hierarchical' or 'average'")

    @property
    def alpha(self) -> float:
        return 1 - self.confidence

    @property
    def min_resamples(self) -> int:
        return math.ceil(1 / self.alpha - 1e-9)


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
    n_clusters: int
    n_seeds: int
    n_languages: int
    n_resamples_used: int


@dataclass(frozen=True)
class DeltaResult:
    """Arm A vs arm B: Δ = drop(A) − drop(B) (and on relative drops), bootstrap and permutation p-values."""

    delta: Interval
    relative_delta: Interval
    p_value: float  # bootstrap, same replicates as the interval: this one decides
    p_permutation: float  # cluster-level sign flips (reported beside it)
    verdict: str  # from the unadjusted p (summary.py re-decides with the adjusted p)
    clean_a: float
    clean_b: float
    drop_a: float
    drop_b: float
    relative_drop_a: float
    relative_drop_b: float
    n_examples: int
    n_clusters: int
    n_seeds_a: int
    n_seeds_b: int
    n_languages: int
    n_resamples_used: int


# ---------------------------------------------------------------------------------------------- decisions
def confidence_label(confidence: float) -> str:
    """'95%' for 0.95, '99.5%' for 0.995: every printed level comes from here, never hard-coded."""
    return f"{100 * confidence:.10g}%"


def verdict(ci_low: float, ci_high: float) -> str:
    """From an interval: above 0 = 'degrades' (A less robust), below 0 = 'improves', else 'no evidence'."""
    if ci_low > 0:
        return DEGRADES
    if ci_high < 0:
        return IMPROVES
    return NO_EVIDENCE


def decide(p: float, ci_low: float, ci_high: float, alpha: float) -> str:
    """Verdict from a (possibly adjusted) p-value; the direction is the side of 0 the interval is on."""
    if not np.isfinite(p):
        return NO_EVIDENCE
    if p < alpha:
        side = verdict(ci_low, ci_high)
        if side != NO_EVIDENCE:
            return side
    return NO_EVIDENCE


def _tail_count(n: int, alpha: float) -> int:
    """Smallest k >= 1 with 2·k/n >= alpha: an interval end is the k-th order statistic, so it lies on one
    side of 0 exactly when fewer than k replicates are on the other side, i.e. when p = 2·m/n < alpha,
    evaluated with the same floating-point expression as the p-value."""
    k = max(1, math.ceil(alpha * n / 2) - 1)
    while 2 * k / n < alpha:
        k += 1
    while k > 1 and 2 * (k - 1) / n >= alpha:
        k -= 1
    return k


def percentile_interval(estimate: float, replicates: np.ndarray, confidence: float) -> Interval:
    """Percentile interval; ends are the k-th smallest and k-th largest replicate (see `_tail_count`)."""
    values = np.sort(np.asarray(replicates, dtype=float)[np.isfinite(replicates)])
    if values.size == 0:
        return Interval(float(estimate), math.nan, math.nan)
    k = min(_tail_count(values.size, 1 - confidence), values.size)
    return Interval(float(estimate), float(values[k - 1]), float(values[values.size - k]))


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p = min(1, 2·min(P*(x ≤ 0), P*(x ≥ 0))), floored at 1/(R+1); NaN replicates left out."""
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return math.nan
    tail = int(min((values <= 0).sum(), (values >= 0).sum()))
    return float(max(min(1.0, 2 * tail / n), 1 / (n + 1)))


def adjust_p_values(p_values: Sequence[float], method: Multiplicity = "holm") -> np.ndarray:
    """Holm (family-wise error) or Benjamini–Hochberg (false discovery rate) adjusted p-values.

    NaN entries (cells that were not tested) stay NaN and do not count towards the family size.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    if m == 0:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ranked))
    elif method == "bh":
        adjusted = np.minimum.accumulate(np.minimum(1.0, m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise ValueError(f"multiplicity={method!r} must be 'holm' or 'bh'")
    out[order] = adjusted
    return out


# ---------------------------------------------------------------------------------------------- resampling
def _single_threaded_blas(function):
    """Run with one BLAS thread: the products here are thin and memory-bound, and OpenBLAS's thread pool
    made them ~10× slower on a shared 2-core machine (measured), never faster."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with _blas_controller().limit(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


@functools.lru_cache(maxsize=1)
def _blas_controller() -> ThreadpoolController:
    """Found once: looking up the loaded BLAS libraries on every call cost more than the products."""
    return ThreadpoolController()


def _digest(labels: np.ndarray) -> str:
    return hashlib.blake2b("\x1f".join(map(str, labels)).encode("utf-8"), digest_size=16).hexdigest()


class _BoundedCache:
    """Least-recently-used arrays up to a total size: draws for 10 000 replicates × 1 000 clusters take 40 MB."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self._items = max_bytes, collections.OrderedDict()

    def get(self, key, make):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = make()
        value.setflags(write=False)
        self._items[key] = value
        while sum(v.nbytes for v in self._items.values()) > self.max_bytes and len(self._items) > 1:
            self._items.popitem(last=False)
        return value


_DRAWS = _BoundedCache(256 * 2**20)


def _cluster_counts(digest: str, n_clusters: int, n_resamples: int, seed: int) -> np.ndarray:
    """(R, K) float32 draw counts of each cluster in each replicate (rows sum to K), cached per cluster set.

    Rows are filled in blocks because one huge bincount is slow (cache misses).
    """
    def make() -> np.ndarray:
        rng = np.random.default_rng([seed, 0, int(digest, 16) % (2**63), n_clusters])
        counts = np.empty((n_resamples, n_clusters), dtype=np.float32)
        block = 256
        for start in range(0, n_resamples, block):
            rows = min(block, n_resamples - start)
            draws = rng.integers(0, n_clusters, size=(rows, n_clusters)) + (np.arange(rows) * n_clusters)[:, None]
            counts[start:start + rows] = np.bincount(draws.ravel(), minlength=rows * n_clusters).reshape(rows, -1)
        return counts

    return _DRAWS.get(("counts", digest, n_clusters, n_resamples, seed), make)


def _cluster_signs(digest: str, n_clusters: int, n_permutations: int, seed: int) -> np.ndarray:
    """(P, K) random ±1 per cluster and permutation, cached per cluster set."""
    def make() -> np.ndarray:
        rng = np.random.default_rng([seed, 2, int(digest, 16) % (2**63), n_clusters])
        return (2.0 * rng.integers(0, 2, size=(n_permutations, n_clusters)) - 1.0).astype(np.float32)

    return _DRAWS.get(("signs", digest, n_clusters, n_permutations, seed), make)


def _seed_weights(arm: str, n_seeds: int, settings: BootstrapSettings) -> np.ndarray:
    """(R, S) weights summing to 1 per row: the share of each seed in one replicate's seed average.

    Keyed by the arm's name: the same models get the same draw everywhere; different arms, independent draws.
    """
    if settings.seed_resampling == "average" or n_seeds == 1:
        return np.full((settings.n_resamples, n_seeds), 1.0 / n_seeds)
    rng = np.random.default_rng([settings.seed, 1, zlib.crc32(arm.encode("utf-8")), n_seeds])
    draws = rng.integers(0, n_seeds, size=(settings.n_resamples, n_seeds))
    return (draws[:, :, None] == np.arange(n_seeds)).sum(axis=1) / n_seeds


def _relative(drop, clean):
    drop, clean = np.asarray(drop, dtype=float), np.asarray(clean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(clean != 0, drop / np.where(clean != 0, clean, 1.0), np.nan)


class ClusterBootstrap:
    """All arms of one cell (one language, or several averaged) resampled with shared clusters.

    `languages[k][arm]` is `arm` on language k (same example ids for every arm of language k, in the order of
    `clusters[k]`, the examples' cluster labels); every arm must appear in every language. Items with the same
    label in different languages are the same source item and are drawn together.
    """

    def __init__(self, languages: Sequence[Mapping[str, ArmScores]], clusters: Sequence[Sequence],
                 settings: BootstrapSettings = BootstrapSettings(), n_permutations: int = 2000) -> None:
        if len(languages) == 0 or len(languages) != len(clusters):
            raise ValueError("give one {arm: ArmScores} mapping and one cluster-label array per language")
        arms = sorted(languages[0])
        if not arms or any(sorted(lang) != arms for lang in languages):
            raise ValueError(f"every language needs the same arms; got {[sorted(lang) for lang in languages]}")
        labels = [np.asarray(c).astype(str) for c in clusters]
        for k, lang in enumerate(languages):
            sizes = {arm: s.n_examples for arm, s in lang.items()}
            if set(sizes.values()) != {len(labels[k])}:
                raise ValueError(f"language {k}: arms cover {sizes} examples but {len(labels[k])} cluster labels "
                                 "were given: align every arm on the same example ids")
        for arm in arms:
            if len({lang[arm].n_seeds for lang in languages}) != 1:
                raise ValueError(f"arm {arm!r} has different seed counts across languages: every seed must be "
                                 "evaluated on every language")
        self.settings, self.n_permutations, self.arms = settings, n_permutations, arms
        self.n_seeds = {arm: languages[0][arm].n_seeds for arm in arms}
        universe, inverse = np.unique(np.concatenate(labels), return_inverse=True)
        bounds = np.cumsum([0] + [len(c) for c in labels])
        self._codes = [inverse[bounds[k]:bounds[k + 1]] for k in range(len(labels))]
        self._languages = languages
        self._digest = _digest(universe)
        self.n_clusters = len(universe)
        self.n_examples = int(bounds[-1])
        self.n_languages = len(languages)
        self._resample()

    @_single_threaded_blas
    def _resample(self) -> None:
        K, L, settings = self.n_clusters, self.n_languages, self.settings
        blocks, layout = [], []  # per language: cluster sums of every arm's clean/perturbed seeds, then sizes
        for k, lang in enumerate(self._languages):
            incidence = np.zeros((K, len(self._codes[k])))
            incidence[self._codes[k], np.arange(len(self._codes[k]))] = 1.0
            rows = np.vstack([np.vstack([lang[arm].clean, lang[arm].perturbed]) for arm in self.arms])
            blocks += [incidence @ rows.T, incidence.sum(axis=1, keepdims=True)]
            layout.append(rows.shape[0])
        stacked = np.hstack(blocks)
        counts = _cluster_counts(self._digest, K, settings.n_resamples, settings.seed)
        # float32 product (~1e-7 relative error on means of scores in [0, 1]), then float64.
        sums = (counts @ stacked.astype(np.float32)).astype(float)
        self._clean_r = {arm: np.empty((settings.n_resamples, L)) for arm in self.arms}
        self._pert_r = {arm: np.empty((settings.n_resamples, L)) for arm in self.arms}
        self._clean = {arm: np.empty(L) for arm in self.arms}
        self._pert = {arm: np.empty(L) for arm in self.arms}
        weights = {arm: _seed_weights(arm, self.n_seeds[arm], settings) for arm in self.arms}
        valid = np.ones(settings.n_resamples, dtype=bool)
        start = 0
        for k, lang in enumerate(self._languages):
            width = layout[k]
            denominator = sums[:, start + width]
            valid &= denominator > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                means = sums[:, start:start + width] / denominator[:, None]
            offset = 0
            for arm in self.arms:
                s = self.n_seeds[arm]
                self._clean_r[arm][:, k] = np.einsum("rs,rs->r", means[:, offset:offset + s], weights[arm])
                self._pert_r[arm][:, k] = np.einsum("rs,rs->r", means[:, offset + s:offset + 2 * s], weights[arm])
                self._clean[arm][k] = lang[arm].clean.mean()
                self._pert[arm][k] = lang[arm].perturbed.mean()
                offset += 2 * s
            start += width + 1
        self.valid = valid
        self.n_resamples_used = int(valid.sum())

    def _check(self, arm: str) -> None:
        if arm not in self.arms:
            raise ValueError(f"arm {arm!r} is not in this cell; it has {self.arms}")

    def _averages(self, arm: str) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Point clean and perturbed language averages and their valid replicates."""
        clean_r = self._clean_r[arm][self.valid].mean(axis=1)
        pert_r = self._pert_r[arm][self.valid].mean(axis=1)
        return float(self._clean[arm].mean()), float(self._pert[arm].mean()), clean_r, pert_r

    def drop(self, arm: str) -> DropResult:
        self._check(arm)
        clean, pert, clean_r, pert_r = self._averages(arm)
        c = self.settings.confidence
        return DropResult(
            clean=percentile_interval(clean, clean_r, c),
            perturbed=percentile_interval(pert, pert_r, c),
            drop=percentile_interval(clean - pert, clean_r - pert_r, c),
            relative_drop=percentile_interval(float(_relative(clean - pert, clean)),
                                              _relative(clean_r - pert_r, clean_r), c),
            n_examples=self.n_examples, n_clusters=self.n_clusters, n_seeds=self.n_seeds[arm],
            n_languages=self.n_languages, n_resamples_used=self.n_resamples_used,
        )

    def compare(self, arm_a: str, arm_b: str) -> DeltaResult:
        self._check(arm_a)
        self._check(arm_b)
        if arm_a == arm_b:
            raise ValueError(f"cannot compare arm {arm_a!r} with itself")
        clean_a, pert_a, clean_a_r, pert_a_r = self._averages(arm_a)
        clean_b, pert_b, clean_b_r, pert_b_r = self._averages(arm_b)
        drop_a, drop_b = clean_a - pert_a, clean_b - pert_b
        delta_r = (clean_a_r - pert_a_r) - (clean_b_r - pert_b_r)
        relative_a, relative_b = float(_relative(drop_a, clean_a)), float(_relative(drop_b, clean_b))
        relative_r = _relative(clean_a_r - pert_a_r, clean_a_r) - _relative(clean_b_r - pert_b_r, clean_b_r)
        c = self.settings.confidence
        delta = percentile_interval(drop_a - drop_b, delta_r, c)
        p_value = bootstrap_p_value(delta_r)
        return DeltaResult(
            delta=delta,
            relative_delta=percentile_interval(relative_a - relative_b, relative_r, c),
            p_value=p_value,
            p_permutation=self.permutation_p(arm_a, arm_b),
            verdict=decide(p_value, delta.ci_low, delta.ci_high, self.settings.alpha),
            clean_a=clean_a, clean_b=clean_b, drop_a=drop_a, drop_b=drop_b,
            relative_drop_a=relative_a, relative_drop_b=relative_b,
            n_examples=self.n_examples, n_clusters=self.n_clusters,
            n_seeds_a=self.n_seeds[arm_a], n_seeds_b=self.n_seeds[arm_b],
            n_languages=self.n_languages, n_resamples_used=self.n_resamples_used,
        )

    @_single_threaded_blas
    def permutation_p(self, arm_a: str, arm_b: str) -> float:
        """Two-sided cluster-level sign-flip p-value for H0: arms A and B are exchangeable within clusters."""
        per_cluster = np.zeros(self.n_clusters)
        for k, lang in enumerate(self._languages):
            a, b = lang[arm_a], lang[arm_b]
            contribution = (a.clean.mean(0) - a.perturbed.mean(0)) - (b.clean.mean(0) - b.perturbed.mean(0))
            per_cluster += np.bincount(self._codes[k], contribution, minlength=self.n_clusters) / (
                self.n_languages * len(contribution))
        observed = per_cluster.sum()
        signs = _cluster_signs(self._digest, self.n_clusters, self.n_permutations, self.settings.seed)
        null = signs @ per_cluster.astype(np.float32)
        # A small tolerance so that exact ties (e.g. all-zero contributions) count as "as extreme".
        extreme = np.abs(null) >= abs(observed) - 1e-6 * max(1.0, abs(observed))
        return float((1 + extreme.sum()) / (1 + self.n_permutations))


def bootstrap_drop(strata: Sequence[ArmScores], clusters: Sequence[Sequence],
                   settings: BootstrapSettings = BootstrapSettings()) -> DropResult:
    """One arm's drop averaged over languages (`strata[k]` on language k, cluster labels `clusters[k]`)."""
    return ClusterBootstrap([{"arm": s} for s in strata], clusters, settings, n_permutations=1).drop("arm")


def compare_drops(strata_a: Sequence[ArmScores], strata_b: Sequence[ArmScores], clusters: Sequence[Sequence],
                  settings: BootstrapSettings = BootstrapSettings(), n_permutations: int = 2000) -> DeltaResult:
    """Δ = drop(A) − drop(B) averaged over languages; `strata_a[k]`, `strata_b[k]` share ids and `clusters[k]`."""
    if len(strata_a) != len(strata_b):
        raise ValueError("arms A and B must cover the same languages: align them by id first")
    languages = [{"A": a, "B": b} for a, b in zip(strata_a, strata_b)]
    return ClusterBootstrap(languages, clusters, settings, n_permutations).compare("A", "B")


def interval_scope(n_seeds: Mapping[str, int], seed_resampling: SeedResampling = "hierarchical") -> str:
    """What the intervals cover, in words, given each arm's number of training seeds."""
    counts = sorted(set(n_seeds.values()))
    if not counts or counts == [1]:
        return "example (cluster) sampling only, not training-run variance (one training run per arm)"
    if seed_resampling == "average":
        return (f"example (cluster) sampling only: scores were averaged over each arm's seeds "
                f"({', '.join(map(str, counts))}) first, so training-run variance is not covered")
    single = sorted(arm for arm, n in n_seeds.items() if n == 1)
    if single:
        return ("clusters, and training runs for the arms with several seeds (seeds resampled hierarchically); "
                f"{', '.join(single)} had one training run each, whose run-to-run variance is not covered")
    return "clusters and training runs (seeds resampled hierarchically)"


# ---------------------------------------------------------------------------------------------- proportions
def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_interval(successes: float, n: float, confidence: float = 0.95,
                    design_effect: float = 1.0) -> tuple[float, float]:
    """Wilson score interval for a proportion; with `design_effect` > 1 (clustered items) the effective
    sample size n / design_effect is used. (nan, nan) when n == 0."""
    if n <= 0:
        return math.nan, math.nan
    p_hat = successes / n
    n_eff = n / max(1.0, design_effect)
    z = _z(confidence)
    denominator = 1 + z * z / n_eff
    centre = (p_hat + z * z / (2 * n_eff)) / denominator
    half = z / denominator * math.sqrt(p_hat * (1 - p_hat) / n_eff + z * z / (4 * n_eff * n_eff))
    return max(0.0, centre - half), min(1.0, centre + half)


def design_effect(outcomes: np.ndarray, clusters: Sequence) -> float:
    """Variance of a mean of 0/1 outcomes under cluster sampling relative to independent sampling (>= 1)."""
    outcomes = np.asarray(outcomes, dtype=float)
    n = outcomes.size
    _, codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    k = codes.max() + 1 if n else 0
    p = outcomes.mean() if n else math.nan
    if n == 0 or k < 2 or p in (0.0, 1.0) or k == n:
        return 1.0
    residual = np.bincount(codes, outcomes - p, minlength=k)
    clustered = k / (k - 1) * (residual ** 2).sum() / n ** 2
    return max(1.0, clustered / (p * (1 - p) / n))


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p: binomial(b + c, 1/2) tail at min(b, c), doubled, capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def mcnemar_clustered(a_only: np.ndarray, b_only: np.ndarray, clusters: Sequence) -> float:
    """Durkalski et al. (2003) clustered McNemar p (chi-square, 1 df) from per-pair discordance indicators."""
    _, codes = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    difference = np.bincount(codes, np.asarray(a_only, float) - np.asarray(b_only, float))
    denominator = (difference ** 2).sum()
    if denominator == 0:
        return 1.0
    statistic = difference.sum() ** 2 / denominator
    return float(math.erfc(math.sqrt(statistic / 2)))


def paired_success_test(success_a: np.ndarray, success_b: np.ndarray, clusters: Sequence) -> tuple[float, str]:
    """Exact McNemar when no cluster holds more than one discordant pair (pairs independent), else the
    clustered McNemar test; returns (p, test name)."""
    a, b = np.asarray(success_a, bool), np.asarray(success_b, bool)
    a_only, b_only = a & ~b, ~a & b
    labels = np.asarray(clusters).astype(str)
    discordant = labels[a_only | b_only]
    if discordant.size == np.unique(discordant).size:
        return mcnemar_exact(int(a_only.sum()), int(b_only.sum())), "exact McNemar"
    return mcnemar_clustered(a_only, b_only, labels), "clustered McNemar"

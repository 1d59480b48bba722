"""Cluster bootstrap and between-run variance for robustness drops and Δ between arms; multiplicity; verdicts.

Quantities. For an arm on one language: drop = mean(clean score) − mean(perturbed score) over the same examples
(the examples the perturbation changed: see tables.py); relative drop = drop / mean(clean score).
Δ = drop(A) − drop(B); Δ > 0 means arm A loses more under perturbation than arm B (A is less robust).
Relative Δ = relative drop(A) − relative drop(B). A language average is the unweighted mean of the per-language
values (XTREME's macro average); its relative drop is (average drop) / (average clean score).

Two sources of variation: which test items were drawn, and which training runs. The default interval method,
"cluster bootstrap (items) + between-run variance with Satterthwaite t" (`method="t"`), measures each separately:
* Items, unit of resampling: the cluster. Examples are not independent: XQuAD questions share a paragraph, XNLI
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
  Non-parallel data (e.g. Tatoeba, whose pairs differ by language) just has disjoint labels, and the scheme
  reduces to a cluster bootstrap with random per-language sample sizes.
* Pairing: all arms and both conditions of a replicate use the same clusters, which cancels per-item
  difficulty, most of the variance.
* The item part bootstraps each arm's seeds AVERAGED per example: v_items = K/(K−1)·Var*(θ*) over the replicates
  θ* of the quantity θ (a drop, Δ, a relative drop, a clean score); K = number of clusters. The factor K/(K−1)
  removes the plug-in bootstrap's downward bias (the usual small-sample factor of cluster-robust variances).
* The run part: seeds of one arm are independent training runs, seeds of different arms unrelated models. For
  each arm the quantity is computed per seed on all the cell's examples (language-averaged drop, clean score,
  relative drop; the per-seed values are reported), and s²_arm is their sample variance. s² holds the
  run-to-run variance AND each run's own item noise (the item×run interaction: a run gets different items
  wrong), which the item part already holds through the seed average (as V_E/S). Counting it twice inflated se²
  by up to half where that noise is large (per-item F1 is), and would make a planner buy seeds for what more
  items would fix. So V_E, the interaction variance of one run's value, is measured (the item-bootstrap variance
  of each seed's replicate around the replicate's seed mean, × S/(S − 1) because one of S seeds deviates by
  (1 − 1/S) of it, × K/(K − 1)) and v_runs = Σ max(0, s²_arm − V_E,arm) / S_arm over the arms with S ≥ 2 seeds.
  An arm with one seed adds nothing: its run-to-run variance is not covered, and `interval_scope` says so.
* se = √(v_items + v_runs); Welch–Satterthwaite degrees of freedom
  df = se⁴ / (v_items²/(K−1) + Σ (s²_arm/S_arm)²/(S_arm − 1)), each arm's term from its whole s² (what was
  estimated, with S − 1 df; the subtracted V_E rests on K clusters and is treated as known); interval
  θ̂ ± t_{df,1−α/2}·se; two-sided p = 2·(1 − T_df(|θ̂|/se)). With 3 seeds per arm df is small where runs
  dominate, and the wide t quantile (4.3 at df 2) is what lets the interval hold; resampling 3 seeds with
  replacement (the percentile method's hierarchical mode) captures about 2/3 of the between-run variance and
  covered ~0.88–0.91 instead of 0.95 when a run shifts the drop by 4 points. Simulated (3 languages × 33 clusters
  of 2–7 items, 3 seeds per arm, run SD 0–4 points): Δ coverage 0.95–0.97, type-I 0.03–0.05; one arm's drop
  (one arm's 3 seeds: Satterthwaite's df is optimistic when its s² happens to be small) 0.92–0.96
  (tests/test_scoring_statistics.py, the slow test).
* Clamping s² − V_E at 0 and the df term of the whole s² make the interval mildly conservative where runs do
  not differ at all (coverage ~0.97).
* Alternative, `method="percentile"`: the percentile interval and bootstrap p from the same replicates, with each
  arm's seeds resampled in every replicate (`seed_resampling="hierarchical"`, keyed by the arm's name so an arm
  gets the same draw everywhere) or averaged (`"average"`, no run variance). Its se/df/variance columns are the t
  method's (power is computed from them).
* Computation: every mean is a matrix product. Per language, example scores are summed per cluster
  (K × columns); a replicate's cluster counts (R × K) times that matrix gives all arms, seeds, conditions
  and languages of a cell at once. The counts depend only on the set of cluster labels, R and the bootstrap
  seed, so cells on the same clusters reuse them (common random numbers; cached). Per-seed point estimates are
  plain means.

Decision rules, shared by every quantity:
* Significance is p < α exactly, α = round(1 − confidence, 12) (1 − 0.95 is 0.050000000000000044 in floating
  point, which would make p = 0.05 significant). The interval excludes 0 exactly when p < α. For the t method
  both compare |θ̂| with t_{df,1−α/2}·se; in the band of a few ulps where the two floating-point computations could
  disagree, p is set to the side the interval is on. For the percentile method the ends are order statistics
  chosen with the p-value's inequality (this needs R ≥ 1/α, which BootstrapSettings enforces).
* Ties: replicates come from float32 products, so a value that should be exactly 0 comes out as ±1e-8 or so.
  Replicates and per-seed values within TIE_TOLERANCE × (the cell's largest |score|) of 0 are set to 0: a 0 counts
  in both tails of the bootstrap p (it never creates a one-sided tail), and a standard deviation within the
  tolerance is 0. With se = 0 (every cluster and run gives the same value) p is 1 and the interval
  [min(θ̂, 0), max(θ̂, 0)] if θ̂ is 0 within the tolerance, else p is 0 and the interval the point θ̂.
* NaN replicates: a replicate in which some language received no cluster has no value for the language average
  (rare unless a language has one or two changed clusters); a relative quantity over a zero clean score is NaN.
  They are left out of variances and percentiles and counted: n_resamples_used + n_resamples_nan = R.
* With fewer than 2 clusters the item variance cannot be estimated: no interval and no p (tables.py applies a
  stricter `min_clusters` guard, "too few clusters").
* A cluster-level sign-flip permutation test is reported beside the p-value (`p_permutation`). Under H0 "the arm
  label does not matter" swapping A and B within a cluster flips the sign of that cluster's (seed-averaged)
  contribution to Δ, in every language at once. It covers ITEMS ONLY, RUNS FIXED: it tests exchangeability of
  the two arms' drops given the trained models, so it ignores training-run variance and is smaller than the
  p-value that decides wherever runs differ. It has no matching interval and decides nothing.
* Multiplicity: `adjust_p_values` (Holm's step-down, which controls the family-wise error rate under any
  dependence, or Benjamini–Hochberg, which controls the false discovery rate under positive dependence).
  summary.py defines the families. Intervals stay marginal (unadjusted).
* Verdicts: "degrades" (A less robust: p < α and Δ̂ > 0), "improves" (p < α and Δ̂ < 0), "no evidence" (the
  data cannot tell; not evidence of no effect), "not applicable" for cells where the perturbation changed no
  example, and "too few clusters" (tables.py) where the item variance rests on too few clusters to decide.
* Attack tables: attack_stats.py (a cluster/seed bootstrap and an exact cluster sign-flip test).
"""

from __future__ import annotations

import collections
import functools
import hashlib
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special
from threadpoolctl import ThreadpoolController

IntervalMethod = Literal["t", "percentile"]
SeedResampling = Literal["hierarchical", "average"]
Multiplicity = Literal["holm", "bh"]
DEGRADES, IMPROVES, NO_EVIDENCE, NOT_APPLICABLE = "degrades", "improves", "no evidence", "not applicable"
TOO_FEW_CLUSTERS = "too few clusters"
VERDICTS = (DEGRADES, IMPROVES, NO_EVIDENCE, NOT_APPLICABLE, TOO_FEW_CLUSTERS)
METHOD_NAMES = {
    "t": "cluster bootstrap (items) + between-run variance with Satterthwaite t",
    "percentile": "percentile cluster bootstrap",
}
PERMUTATION_SCOPE = ("items only, runs fixed: cluster sign flips of the seed-averaged Δ; ignores training-run "
                     "variance, reported beside the p-value that decides")
# Float32 replicates carry ~1e-7 relative error; values this close to 0 (relative to the cell's largest |score|)
# are 0. 1e-5 of a 0–1 score is 0.001 points: far below any effect, far above the rounding.
TIE_TOLERANCE = 1e-5


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
    method: IntervalMethod = "t"
    seed_resampling: SeedResampling = "hierarchical"  # the percentile method's seed level only

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
        if self.method not in METHOD_NAMES:
            raise ValueError(f"method={self.method!r} must be one of {sorted(METHOD_NAMES)}")
        if self.seed_resampling not in ("hierarchical", "average"):
            raise ValueError(f"seed_resampling={self.seed_resampling!r} must be 'hierarchical' or 'average'")

    @property
    def alpha(self) -> float:
        """1 − confidence without floating-point residue (0.05 for 0.95, not 0.050000000000000044)."""
        return round(1 - self.confidence, 12)

    @property
    def min_resamples(self) -> int:
        return math.ceil(1 / self.alpha - 1e-9)

    @property
    def method_name(self) -> str:
        if self.method == "percentile":
            return f"{METHOD_NAMES['percentile']} (seeds {self.seed_resampling})"
        return METHOD_NAMES[self.method]


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval and the pieces it was built from (NaN where not computed)."""

    estimate: float
    ci_low: float
    ci_high: float
    p_value: float = math.nan  # two-sided, H0: the quantity is 0
    se: float = math.nan
    df: float = math.nan
    var_items: float = math.nan  # item-cluster part of se²
    var_runs: float = math.nan  # training-run part of se² (0 with one seed per arm)
    n_resamples_used: int = 0
    n_resamples_nan: int = 0


@dataclass(frozen=True)
class DropResult:
    """One arm: clean and perturbed means, the absolute and the relative drop, with intervals; per-seed values."""

    clean: Interval
    perturbed: Interval
    drop: Interval
    relative_drop: Interval
    per_seed_clean: tuple[float, ...]
    per_seed_drop: tuple[float, ...]
    seed_var: float  # s² of the per-seed drops (NaN with one seed): the per-run variance
    var_interaction: float  # item×run variance of one run's drop (part of seed_var that is item noise)
    n_examples: int
    n_clusters: int
    n_seeds: int
    n_languages: int
    n_resamples_used: int  # of the drop's replicates
    n_resamples_nan: int


@dataclass(frozen=True)
class DeltaResult:
    """Arm A vs arm B: Δ = drop(A) − drop(B) (and on relative drops), p-values, per-seed drops of both arms."""

    delta: Interval
    relative_delta: Interval
    p_value: float  # the delta interval's p: this one decides
    p_permutation: float  # cluster-level sign flips, items only (reported beside it)
    verdict: str  # from the unadjusted p (summary.py re-decides with the adjusted p)
    clean_a: float
    clean_b: float
    drop_a: float
    drop_b: float
    relative_drop_a: float
    relative_drop_b: float
    per_seed_clean_a: tuple[float, ...]
    per_seed_clean_b: tuple[float, ...]
    per_seed_drop_a: tuple[float, ...]
    per_seed_drop_b: tuple[float, ...]
    seed_var_a: float  # s² of arm A's per-seed drops (NaN with one seed): the per-run variance
    seed_var_b: float
    var_interaction_a: float  # item×run variance of one run's drop of arm A (in seed_var_a and in var_items)
    var_interaction_b: float
    n_examples: int
    n_clusters: int
    n_seeds_a: int
    n_seeds_b: int
    n_languages: int
    n_resamples_used: int
    n_resamples_nan: int


# ---------------------------------------------------------------------------------------------- decisions
def confidence_label(confidence: float) -> str:
    """'95%' for 0.95, '99.5%' for 0.995: every printed level comes from here, never hard-coded."""
    return f"{100 * confidence:.10g}%"


def decide(p: float, estimate: float, alpha: float) -> str:
    """Verdict from a (possibly adjusted) p-value: significant is p < alpha; the direction is the estimate's sign
    (for the t method the interval is centred on it, so this is the side of 0 the interval is on)."""
    if not (np.isfinite(p) and np.isfinite(estimate)) or not p < alpha or estimate == 0:
        return NO_EVIDENCE
    return DEGRADES if estimate > 0 else IMPROVES


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
    """Percentile interval; ends are the k-th smallest and k-th largest replicate (see `_tail_count`).
    Give replicates already snapped to 0 within the tie tolerance (`snap_zero`)."""
    values = np.sort(np.asarray(replicates, dtype=float)[np.isfinite(replicates)])
    if values.size == 0:
        return Interval(float(estimate), math.nan, math.nan)
    k = min(_tail_count(values.size, round(1 - confidence, 12)), values.size)
    return Interval(float(estimate), float(values[k - 1]), float(values[values.size - k]))


def bootstrap_p_value(replicates: np.ndarray) -> float:
    """Two-sided p = min(1, 2·min(P*(x ≤ 0), P*(x ≥ 0))), floored at 1/(R+1); NaN replicates left out.
    An exact 0 counts in both tails (ties), so snap float noise to 0 first (`snap_zero`)."""
    values = np.asarray(replicates, dtype=float)
    values = values[np.isfinite(values)]
    n = values.size
    if n == 0:
        return math.nan
    tail = int(min((values <= 0).sum(), (values >= 0).sum()))
    return float(max(min(1.0, 2 * tail / n), 1 / (n + 1)))


def snap_zero(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Values within `tolerance` of 0 become exactly 0 (float32 rounding of what should be a tie)."""
    values = np.asarray(values, dtype=float)
    return np.where(np.abs(values) <= tolerance, 0.0, values)


@dataclass(frozen=True)
class RunPart:
    """One arm's training-run evidence for a quantity: s² of its per-seed values over S seeds, and the item×run
    interaction variance of ONE run's value (the part of s² that is item noise, already in the item part)."""

    seed_var: float
    n_seeds: int
    interaction: float = 0.0

    @property
    def variance(self) -> float:
        """The run part of the seed average's variance (0 with one seed): `run_variance`."""
        if self.n_seeds < 2 or not np.isfinite(self.seed_var):
            return 0.0
        return float(run_variance(self.seed_var, self.n_seeds,
                                  self.interaction if np.isfinite(self.interaction) else 0.0))

    @property
    def df_term(self) -> float:
        """Its term in the Welch–Satterthwaite denominator (0 with one seed): `run_df_term`."""
        if self.n_seeds < 2 or not np.isfinite(self.seed_var):
            return 0.0
        return float(run_df_term(self.seed_var, self.n_seeds))


def run_variance(seed_var, n_seeds: int, interaction):
    """max(0, s² − interaction) / S; elementwise on arrays of s²."""
    return np.maximum(0.0, seed_var - interaction) / n_seeds


def run_df_term(seed_var, n_seeds: int):
    """(s²/S)²/(S − 1): the Satterthwaite term of the whole s² (what was estimated); elementwise on arrays."""
    return (seed_var / n_seeds) ** 2 / (n_seeds - 1)


def t_interval(estimate: float, var_items: float, n_clusters: float, runs: Sequence[RunPart], confidence: float,
               tolerance: float = 0.0) -> Interval:
    """θ̂ ± t_{df,1−α/2}·se, se² = var_items + Σ run parts, Welch–Satterthwaite df (items K − 1, each arm's s²
    S − 1). p and the interval agree exactly (module docstring)."""
    alpha = round(1 - confidence, 12)
    var_runs = float(sum(run.variance for run in runs))
    if not (np.isfinite(estimate) and np.isfinite(var_items)) or n_clusters < 2:
        return Interval(float(estimate), math.nan, math.nan, math.nan, math.nan, math.nan, float(var_items), var_runs)
    total = var_items + var_runs
    if total <= tolerance ** 2:
        zero = abs(estimate) <= tolerance
        low, high = (min(estimate, 0.0), max(estimate, 0.0)) if zero else (estimate, estimate)
        return Interval(float(estimate), low, high, 1.0 if zero else 0.0, 0.0, math.inf, float(var_items), var_runs)
    se = math.sqrt(total)
    denominator = var_items ** 2 / (n_clusters - 1) + sum(run.df_term for run in runs)
    df = total * total / denominator if denominator > 0 else math.inf
    half = float(special.stdtrit(df, 1 - alpha / 2)) * se  # scipy.stats.t.ppf without its per-call overhead
    excludes = abs(estimate) > half
    p = float(2 * special.stdtr(df, -abs(estimate) / se))
    if excludes and not p < alpha:  # a few ulps from the boundary: follow the interval
        p = math.nextafter(alpha, 0.0)
    elif not excludes and p < alpha:
        p = alpha
    return Interval(float(estimate), estimate - half, estimate + half, p, se, df, float(var_items), var_runs)


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
    """(R, S) weights summing to 1 per row: the share of each seed in one replicate's seed average under the
    percentile method's hierarchical seed level.

    Keyed by the arm's name: the same models get the same draw everywhere; different arms, independent draws.
    """
    rng = np.random.default_rng([settings.seed, 1, zlib.crc32(arm.encode("utf-8")), n_seeds])
    draws = rng.integers(0, n_seeds, size=(settings.n_resamples, n_seeds))
    return (draws[:, :, None] == np.arange(n_seeds)).sum(axis=1) / n_seeds


def _relative(drop, clean):
    drop, clean = np.asarray(drop, dtype=float), np.asarray(clean, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(clean != 0, drop / np.where(clean != 0, clean, 1.0), np.nan)


def _seed_variance(values: np.ndarray, tolerance: float) -> float:
    """Sample variance across seeds (NaN with one seed); a spread within the tie tolerance is 0."""
    values = np.asarray(values, dtype=float)
    if values.size < 2 or not np.isfinite(values).all():
        return math.nan
    variance = float(values.var(ddof=1))
    return 0.0 if math.sqrt(variance) <= tolerance else variance


def _values(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=float))


@dataclass(frozen=True)
class _Quantity:
    """One arm's language-averaged statistic (clean, perturbed, drop or relative drop) in every form needed."""

    estimate: float  # seed-averaged point value
    seeds: np.ndarray  # (S,) per-seed point values
    replicates: np.ndarray  # (R,) bootstrap replicates of the seed average (NaN where a language drew nothing)
    hierarchical: np.ndarray  # (R,) the percentile method's replicates (seeds resampled, or averaged)
    run: RunPart


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
        scale = max(max(float(np.abs(lang[arm].clean).max()), float(np.abs(lang[arm].perturbed).max()))
                    for lang in languages for arm in arms)
        self.tolerance = TIE_TOLERANCE * (scale if scale > 0 else 1.0)
        # Per-seed point means, (S, L) per arm: seed s of the arm on language k, over all the cell's examples.
        self._seed_clean = {arm: np.array([lang[arm].clean.mean(axis=1) for lang in languages]).T for arm in arms}
        self._seed_pert = {arm: np.array([lang[arm].perturbed.mean(axis=1) for lang in languages]).T for arm in arms}
        self._cache: dict = {}
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
        # Replicate means per seed, (R, S, L) per arm; seeds are combined later (averaged, or resampled).
        self._clean_r = {arm: np.empty((settings.n_resamples, self.n_seeds[arm], L)) for arm in self.arms}
        self._pert_r = {arm: np.empty((settings.n_resamples, self.n_seeds[arm], L)) for arm in self.arms}
        valid = np.ones(settings.n_resamples, dtype=bool)
        start = 0
        for k in range(L):
            width = layout[k]
            denominator = sums[:, start + width]
            valid &= denominator > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                means = sums[:, start:start + width] / denominator[:, None]
            offset = 0
            for arm in self.arms:
                s = self.n_seeds[arm]
                self._clean_r[arm][:, :, k] = means[:, offset:offset + s]
                self._pert_r[arm][:, :, k] = means[:, offset + s:offset + 2 * s]
                offset += 2 * s
            start += width + 1
        self.valid = valid

    def _check(self, arm: str) -> None:
        if arm not in self.arms:
            raise ValueError(f"arm {arm!r} is not in this cell; it has {self.arms}")

    def _run_part(self, seeds: np.ndarray, seed_replicates: np.ndarray) -> RunPart:
        """s² of the per-seed values, and the interaction variance of one run's value: the item-bootstrap
        variance of each seed's deviation from the seed mean, ×S/(S−1) (the deviation of one of S seeds has
        (1 − 1/S) of it), ×K/(K−1) like the item part."""
        n_seeds = len(seeds)
        if n_seeds < 2:
            return RunPart(math.nan, n_seeds)
        rows = np.isfinite(seed_replicates).all(axis=1)
        interaction = math.nan
        if rows.sum() >= 2 and self.n_clusters >= 2:
            deviation = seed_replicates[rows] - seed_replicates[rows].mean(axis=1, keepdims=True)
            K = self.n_clusters
            interaction = float(deviation.var(axis=0, ddof=1).mean()) * n_seeds / (n_seeds - 1) * K / (K - 1)
        return RunPart(_seed_variance(seeds, self.tolerance), n_seeds, interaction)

    def _quantities(self, arm: str) -> dict[str, _Quantity]:
        """The arm's language-averaged clean score, perturbed score, drop and relative drop in every form."""
        if arm in self._cache:
            return self._cache[arm]
        invalid = ~self.valid
        clean_sr, pert_sr = self._clean_r[arm].mean(axis=2), self._pert_r[arm].mean(axis=2)  # (R, S)
        clean_sr[invalid], pert_sr[invalid] = np.nan, np.nan
        seed_clean, seed_pert = self._seed_clean[arm].mean(axis=1), self._seed_pert[arm].mean(axis=1)  # (S,)
        clean_r, pert_r = clean_sr.mean(axis=1), pert_sr.mean(axis=1)
        clean_h, pert_h = clean_r, pert_r
        if self.settings.method == "percentile" and self.settings.seed_resampling == "hierarchical":
            weights = _seed_weights(arm, self.n_seeds[arm], self.settings)
            clean_h, pert_h = (clean_sr * weights).sum(axis=1), (pert_sr * weights).sum(axis=1)
        clean, pert = float(seed_clean.mean()), float(seed_pert.mean())
        forms = {
            "clean": (clean, seed_clean, clean_r, clean_sr, clean_h),
            "perturbed": (pert, seed_pert, pert_r, pert_sr, pert_h),
            "drop": (clean - pert, seed_clean - seed_pert, clean_r - pert_r, clean_sr - pert_sr, clean_h - pert_h),
            "relative_drop": (float(_relative(clean - pert, clean)), _relative(seed_clean - seed_pert, seed_clean),
                              _relative(clean_r - pert_r, clean_r), _relative(clean_sr - pert_sr, clean_sr),
                              _relative(clean_h - pert_h, clean_h)),
        }
        self._cache[arm] = {
            name: _Quantity(estimate, seeds, replicates, hierarchical, self._run_part(seeds, seed_replicates))
            for name, (estimate, seeds, replicates, seed_replicates, hierarchical) in forms.items()}
        return self._cache[arm]

    def _interval(self, estimate: float, replicates: np.ndarray, runs: Sequence[RunPart],
                  hierarchical: np.ndarray) -> Interval:
        """The quantity's interval and p (module docstring) from its seed-averaged replicates, the run parts
        of the arms in it and (percentile method) its hierarchical replicates."""
        settings, tolerance, K = self.settings, self.tolerance, self.n_clusters
        replicates = snap_zero(replicates, tolerance)
        finite = np.isfinite(replicates)
        used = int(finite.sum())
        var_items = math.nan
        if used >= 2 and K >= 2:
            sd = float(replicates[finite].std(ddof=1))
            var_items = 0.0 if sd <= tolerance else sd * sd * K / (K - 1)
        result = t_interval(float(estimate), var_items, K, runs, settings.confidence, tolerance)
        if settings.method == "percentile":
            chosen = snap_zero(hierarchical, tolerance)
            # One cluster: every replicate resamples the same cluster, so their spread is not an interval.
            interval = (percentile_interval(estimate, chosen, settings.confidence) if K >= 2
                        else Interval(float(estimate), math.nan, math.nan))
            used = int(np.isfinite(chosen).sum())
            p = bootstrap_p_value(chosen) if np.isfinite(estimate) and K >= 2 else math.nan
            result = Interval(interval.estimate, interval.ci_low, interval.ci_high, p, result.se, result.df,
                              result.var_items, result.var_runs)
        return Interval(result.estimate, result.ci_low, result.ci_high, result.p_value, result.se, result.df,
                        result.var_items, result.var_runs, used, settings.n_resamples - used)

    def _single(self, quantity: _Quantity) -> Interval:
        return self._interval(quantity.estimate, quantity.replicates, [quantity.run], quantity.hierarchical)

    def _difference(self, a: _Quantity, b: _Quantity) -> Interval:
        return self._interval(a.estimate - b.estimate, a.replicates - b.replicates, [a.run, b.run],
                              a.hierarchical - b.hierarchical)

    def drop(self, arm: str) -> DropResult:
        self._check(arm)
        q = self._quantities(arm)
        drop = self._single(q["drop"])
        return DropResult(
            clean=self._single(q["clean"]), perturbed=self._single(q["perturbed"]), drop=drop,
            relative_drop=self._single(q["relative_drop"]),
            per_seed_clean=_values(q["clean"].seeds), per_seed_drop=_values(q["drop"].seeds),
            seed_var=q["drop"].run.seed_var, var_interaction=q["drop"].run.interaction,
            n_examples=self.n_examples, n_clusters=self.n_clusters, n_seeds=self.n_seeds[arm],
            n_languages=self.n_languages, n_resamples_used=drop.n_resamples_used,
            n_resamples_nan=drop.n_resamples_nan,
        )

    def compare(self, arm_a: str, arm_b: str) -> DeltaResult:
        self._check(arm_a)
        self._check(arm_b)
        if arm_a == arm_b:
            raise ValueError(f"cannot compare arm {arm_a!r} with itself")
        a, b = self._quantities(arm_a), self._quantities(arm_b)
        delta = self._difference(a["drop"], b["drop"])
        return DeltaResult(
            delta=delta,
            relative_delta=self._difference(a["relative_drop"], b["relative_drop"]),
            p_value=delta.p_value,
            p_permutation=self.permutation_p(arm_a, arm_b),
            verdict=decide(delta.p_value, delta.estimate, self.settings.alpha),
            clean_a=a["clean"].estimate, clean_b=b["clean"].estimate,
            drop_a=a["drop"].estimate, drop_b=b["drop"].estimate,
            relative_drop_a=a["relative_drop"].estimate, relative_drop_b=b["relative_drop"].estimate,
            per_seed_clean_a=_values(a["clean"].seeds), per_seed_clean_b=_values(b["clean"].seeds),
            per_seed_drop_a=_values(a["drop"].seeds), per_seed_drop_b=_values(b["drop"].seeds),
            seed_var_a=a["drop"].run.seed_var, seed_var_b=b["drop"].run.seed_var,
            var_interaction_a=a["drop"].run.interaction, var_interaction_b=b["drop"].run.interaction,
            n_examples=self.n_examples, n_clusters=self.n_clusters,
            n_seeds_a=self.n_seeds[arm_a], n_seeds_b=self.n_seeds[arm_b],
            n_languages=self.n_languages, n_resamples_used=delta.n_resamples_used,
            n_resamples_nan=delta.n_resamples_nan,
        )

    @_single_threaded_blas
    def permutation_p(self, arm_a: str, arm_b: str) -> float:
        """Two-sided cluster-level sign-flip p-value for H0: arms A and B are exchangeable within clusters.
        Items only, runs fixed: the trained models are held fixed, so training-run variance is not in it."""
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


def interval_scope(n_seeds: Mapping[str, int], settings: BootstrapSettings = BootstrapSettings()) -> str:
    """What the intervals cover, in words, given each arm's number of training seeds."""
    counts = sorted(set(n_seeds.values()))
    if not counts or counts == [1]:
        return "example (cluster) sampling only, not training-run variance (one training run per arm)"
    if settings.method == "percentile" and settings.seed_resampling == "average":
        return (f"example (cluster) sampling only: scores were averaged over each arm's seeds "
                f"({', '.join(map(str, counts))}) first, so training-run variance is not covered")
    if settings.method == "percentile":
        covered = "clusters and training runs (seeds resampled hierarchically)"
    else:
        covered = ("clusters (cluster bootstrap of seed-averaged scores) and training runs (the variance of each "
                   "arm's per-seed estimates; Satterthwaite t)")
    single = sorted(arm for arm, n in n_seeds.items() if n == 1)
    if single:
        return (f"{covered}; {', '.join(single)} had one training run each, whose run-to-run variance is not "
                "covered")
    return covered

"""Power and planning: the minimum detectable effect (MDE) of a comparison cell, its projection to another
design (training seeds per arm, test items per language, languages), and the wall time of a design.

MDE. The smallest true Δ that the scoring's two-sided t test (statistics.py: se from the item and run parts,
Welch–Satterthwaite df) finds with probability `power` (0.80) at level alpha: the δ with
P(|T| > t_{df,1−α/2}) = power for T noncentral t with df degrees of freedom and noncentrality δ/se. The textbook
shortcut (t_{df,1−α/2} + t_{df,power})·se gives 0.74–0.79 power instead of 0.80 at df 3–6 (most under a small
family alpha), which is where runs with 3 seeds per arm are, so the noncentral t is solved instead. Under the
cell's multiplicity family of m tested cells the level is alpha/m (`family_rule` says why that is a bound).

Projection (what `stages.plan` prints). From one finished run, per cell:
* the item part var_items = V_C + Σ_arms V_E/S, split into the cluster part V_C and the item×run interaction V_E
  (one run's item noise; measured per arm from the spread of each seed's bootstrap replicates around the seed
  mean, statistics.py), and the run part σ²_R = max(0, s² − V_E) per arm (s²: variance of the per-seed values);
* items: both V_C and V_E scale as 1/(items per language): more items of the same kind are more clusters of the
  same size, K' = K·items'/items;
* languages: from the per-language cells' item variances v_l and the language average's v, the mean cross-language
  covariance c̄ = (v − v̄/L)/(1 − 1/L) (held within [0, v̄]: translations are not anti-correlated), and
  v(L') = v̄/L' + (1 − 1/L')·c̄, i.e. new languages behave like the average of the measured ones; the item part
  (both V_C and V_E) is scaled by v(L')/v(L). The run part of the language average does not change with L;
* seeds: v_items' = V_C' + Σ V_E'/S', run part Σ σ²_R/S', s²' = σ²_R + V_E' for the df; se and df as the scoring
  computes them, so the projection at the run's own design returns the run's own se and df.

Cost (`design_seconds`), from measured per-stage wall times (.notes/stage_times.json: {"stages": [{"stage":
name, "seconds": s}, ...], "total_seconds": ...}): training stages (intermediate@arm-seed, transfer@arm-seed)
scale with seeds per arm; evaluation (evaluate_clean@, evaluate_perturbed@ arm-seed) with seeds × test items
(items per language × languages, summed over the evaluated tasks); the test-input stages (perturb, prefix_clean,
prefix_perturbed) with test items; score with seeds × test items; attack@task with that task's languages (the
attack uses a fixed number of items per language and one seed); everything else (download, encoder,
training-data prefix caches) and the time between stages are fixed. Arms are fixed by the question.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from stages.xlt.scoring.statistics import RunPart, t_interval

MDE_POWER = 0.8
AVERAGE = "avg"


# ---------------------------------------------------------------------------------------------- MDE
def family_rule(multiplicity: str) -> str:
    """Why alpha/m is used for a cell in a family of m tested cells, in words."""
    if multiplicity == "bh":
        return ("alpha/m, Benjamini–Hochberg's threshold for the smallest p of the family; BH's thresholds grow "
                "with rank, so this is a conservative bound")
    return ("alpha/m (Bonferroni), Holm's threshold for the smallest p of the family; Holm's later steps are "
            "less strict, so this is a conservative bound")


@functools.lru_cache(maxsize=4096)
def _mde_factor(df: float, alpha: float, power: float) -> float:
    """δ/se at which the two-sided level-alpha t test with df degrees of freedom has the given power."""
    if df > 1e6:
        critical = stats.norm.ppf(1 - alpha / 2)

        def achieved(ncp: float) -> float:
            return float(stats.norm.sf(critical - ncp) + stats.norm.cdf(-critical - ncp))
    else:
        critical = stats.t.ppf(1 - alpha / 2, df)

        def achieved(ncp: float) -> float:
            # The far tail is negligible and nct's lower tail can return NaN there.
            return float(stats.nct.sf(critical, df, ncp) + np.nan_to_num(stats.nct.cdf(-critical, df, ncp)))
    high = critical + 4.0
    while achieved(high) < power:
        high *= 2
    return float(optimize.brentq(lambda ncp: achieved(ncp) - power, 0.0, high, xtol=1e-10))


def minimum_detectable_effect(se: float, df: float, alpha: float, power: float = MDE_POWER) -> float:
    """Smallest |Δ| found with probability `power` by the two-sided t test at `alpha` (NaN if se is unknown)."""
    if not (np.isfinite(se) and se >= 0 and df > 0 and 0 < alpha < 1):
        return math.nan
    key = math.inf if not np.isfinite(df) or df > 1e6 else float(f"{df:.5g}")
    return _mde_factor(key, float(alpha), float(power)) * se


# ---------------------------------------------------------------------------------------------- projection
@dataclass(frozen=True)
class Components:
    """What a finished run measured for one comparison cell (a language average): detailed.json's columns."""

    var_items: float
    n_clusters: float
    n_languages: int
    seed_var: tuple[float, float]  # s² of each arm's per-seed drops (A, B)
    interaction: tuple[float, float]  # item×run variance of one run's drop (A, B)
    n_seeds: tuple[int, int]
    language_var_items: tuple[float, ...] = ()  # the same comparison on each language alone
    language_clusters: tuple[float, ...] = ()
    family_size: int = 1

    def __post_init__(self) -> None:
        if self.n_languages != 1 and len(self.language_var_items) not in (0, self.n_languages):
            raise ValueError(f"{len(self.language_var_items)} per-language item variances for "
                             f"{self.n_languages} languages")


@dataclass(frozen=True)
class Projection:
    se: float
    df: float
    var_items: float
    var_runs: float
    n_clusters: float
    mde: float
    mde_family: float


def _language_factor(c: Components, languages: int) -> float:
    """v(L')/v(L) of the item part under the cross-language covariance model (module docstring)."""
    L = c.n_languages
    if languages == L:
        return 1.0
    usable = [v for v in c.language_var_items if np.isfinite(v)]
    if L < 2 or len(usable) != L:
        raise ValueError(f"cannot project from {L} to {languages} languages: the cross-language covariance needs "
                         "the per-language cells of at least two languages")
    mean = float(np.mean(usable))
    covariance = min(max((c.var_items - mean / L) / (1 - 1 / L), 0.0), mean)

    def model(n: int) -> float:
        return mean / n + (1 - 1 / n) * covariance

    return model(languages) / model(L) if model(L) > 0 else 1.0


def _clusters(c: Components, items_scale: float, languages: int) -> float:
    """K of the design: more items, proportionally more clusters; more languages add clusters only where the
    languages' clusters are disjoint (non-parallel data such as Tatoeba)."""
    disjoint = c.n_languages > 1 and len(c.language_clusters) == c.n_languages and \
        c.n_clusters >= 0.9 * sum(c.language_clusters)
    return c.n_clusters * items_scale * (languages / c.n_languages if disjoint else 1.0)


def project(c: Components, seeds: int, items_scale: float = 1.0, languages: int | None = None,
            alpha: float = 0.05, power: float = MDE_POWER) -> Projection:
    """se, df and MDEs of the cell under `seeds` per arm, `items_scale` × the test items per language and
    `languages` languages (default: the run's)."""
    languages = c.n_languages if languages is None else languages
    if seeds < 2:
        raise ValueError(f"seeds={seeds}: with one seed per arm the run-to-run variance is not estimable; plan "
                         "at least 2 seeds per arm")
    if not items_scale > 0 or languages < 1:
        raise ValueError(f"items scale {items_scale} and languages {languages} must be positive")
    interaction = [v if np.isfinite(v) else 0.0 for v in c.interaction]
    cluster_part = max(0.0, c.var_items - sum(v / s for v, s in zip(interaction, c.n_seeds)))
    scale = _language_factor(c, languages) / items_scale
    runs = []
    for seed_var, item_noise in zip(c.seed_var, interaction):
        between = max(0.0, seed_var - item_noise) if np.isfinite(seed_var) else 0.0
        runs.append(RunPart(between + item_noise * scale, seeds, item_noise * scale))
    var_items = (cluster_part + sum(v * scale for v in interaction) / seeds)
    clusters = _clusters(c, items_scale, languages)
    result = t_interval(0.0, var_items, clusters, runs, 1 - alpha)
    return Projection(result.se, result.df, var_items, result.var_runs, clusters,
                      minimum_detectable_effect(result.se, result.df, alpha, power),
                      minimum_detectable_effect(result.se, result.df, alpha / max(1, c.family_size), power))


def components(detailed: Mapping, task: str, metric: str, comparison: str, condition: str) -> Components:
    """A cell's components from metrics/detailed.json (as summary.detailed writes it)."""
    try:
        cell = detailed["comparisons"][task][metric][comparison][condition]
        average = cell[AVERAGE]
    except KeyError:
        raise ValueError(f"detailed.json has no comparison {task}/{metric}/{comparison}/{condition}/{AVERAGE}") \
            from None
    needed = ("var_items", "seed_var_a", "var_interaction_a", "n_clusters")
    if any(key not in average for key in needed):
        raise ValueError("detailed.json lacks the variance split (var_items, seed_var_a, ...): it was written by "
                         "an older scoring; re-run `dvc repro score` first")
    if average.get("var_items") is None:
        raise ValueError(f"{task}/{comparison}/{condition}: no variance estimate (not applicable or too few "
                         "clusters), nothing to project")
    languages = [lang for lang in str(average.get("languages") or "").split(",") if lang]

    def number(row: Mapping, key: str) -> float:
        value = row.get(key)
        return math.nan if value is None else float(value)

    return Components(
        var_items=number(average, "var_items"), n_clusters=number(average, "n_clusters"),
        n_languages=max(1, len(languages)),
        seed_var=(number(average, "seed_var_a"), number(average, "seed_var_b")),
        interaction=(number(average, "var_interaction_a"), number(average, "var_interaction_b")),
        n_seeds=(int(average["n_seeds_a"]), int(average["n_seeds_b"])),
        language_var_items=tuple(number(cell[lang], "var_items") for lang in languages if lang in cell),
        language_clusters=tuple(number(cell[lang], "n_clusters") for lang in languages if lang in cell),
        family_size=int(average.get("family_size") or 1),
    )


# ---------------------------------------------------------------------------------------------- cost
@dataclass(frozen=True)
class Shape:
    """Seeds per arm, test items per language and languages of every evaluated task: of the run or a design."""

    seeds: int
    items: Mapping[str, float]  # task -> test items per language
    languages: Mapping[str, int]  # task -> languages

    def test_items(self) -> float:
        return float(sum(self.items[task] * self.languages[task] for task in self.items))


TRAINING, EVALUATION, TEST_INPUTS, SCORE, ATTACK, FIXED = ("training", "evaluation", "test inputs", "score",
                                                           "attack", "fixed")


def stage_kind(name: str) -> str:
    """How a stage's time scales (module docstring), from its DVC stage name."""
    base = name.split("@")[0]
    if base in ("intermediate", "transfer"):
        return TRAINING
    if base in ("evaluate_clean", "evaluate_perturbed"):
        return EVALUATION
    if base in ("perturb", "prefix_clean", "prefix_perturbed"):
        return TEST_INPUTS
    if base == "score":
        return SCORE
    if base == "attack":
        return ATTACK
    return FIXED


def design_seconds(stage_times: Mapping, run: Shape, design: Shape) -> dict[str, float]:
    """Projected seconds per kind of stage (and "between stages", the run's total minus its stages) for
    `design`, scaled from the run's measured stage times."""
    entries = stage_times.get("stages") if isinstance(stage_times, Mapping) else None
    if not entries or any(not isinstance(e, Mapping) or "stage" not in e or "seconds" not in e for e in entries):
        raise ValueError('stage times need {"stages": [{"stage": name, "seconds": s}, ...]} '
                         "(the format of .notes/stage_times.json)")
    seeds, items = design.seeds / run.seeds, design.test_items() / run.test_items()
    out: dict[str, float] = {}
    for entry in entries:
        name, seconds = str(entry["stage"]), float(entry["seconds"])
        kind = stage_kind(name)
        factor = {TRAINING: seeds, EVALUATION: seeds * items, TEST_INPUTS: items, SCORE: seeds * items,
                  FIXED: 1.0}.get(kind)
        if kind == ATTACK:
            task = name.split("@", 1)[1] if "@" in name else ""
            factor = design.languages.get(task, 1) / run.languages.get(task, 1) if task in run.languages else 1.0
        out[kind] = out.get(kind, 0.0) + seconds * factor
    measured = sum(float(e["seconds"]) for e in entries)
    out["between stages"] = max(0.0, float(stage_times.get("total_seconds", measured)) - measured)
    return out


def relative_mde(projected: Sequence[float], measured: Sequence[float]) -> float:
    """The objective a design is chosen by: the mean over cells of projected / measured family MDE (scale-free
    across F1 and accuracy cells); cells without a measured MDE are left out."""
    ratios = [p / m for p, m in zip(projected, measured) if np.isfinite(p) and np.isfinite(m) and m > 0]
    return float(np.mean(ratios)) if ratios else math.nan

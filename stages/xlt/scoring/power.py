"""Power and planning: the minimum detectable effect (MDE) of a comparison cell, its projection to another
design (training seeds per arm, test items per language, languages), and the wall time of a design.

MDE. The smallest true Δ that the scoring's two-sided t test (statistics.py) finds with probability `power`
(0.80) at level alpha, for a cell whose variance components are those measured (or projected). The test uses an
ESTIMATED se and df: with 3 seeds per arm each arm's s² has 2 degrees of freedom, so se and the Satterthwaite df
vary from run to run, and a run with a low s² gets a small df and a large critical value. The power is therefore
computed over the sampling distribution of the estimates (Latin-hypercube draws, fixed: deterministic):
v_items ~ v·χ²_{K−1}/(K−1), each arm's s² ~ s²·χ²_{S−1}/(S−1), se and df formed from them as the scoring does,
and Δ̂ ~ N(Δ, se_true²) independent of them; MDE solves P(|Δ̂| > t_{df̂,1−α/2}·ŝe) = power. The textbook
(t_{df,1−α/2} + t_{df,power})·se (or the noncentral t at the expected df) ignores that variation and promised
0.80 where simulation of the whole procedure found 0.71–0.78 at 3 seeds (at 7 headline cells' alpha/7 the
procedure MDE is ~20% larger). With one seed per arm it is the noncentral-t MDE with K − 1 degrees of freedom.
Under the cell's multiplicity family of m tested cells the level is alpha/m (`family_rule` says why that is a
bound).

Projection (what `stages.plan` prints). From one finished run, per cell:
* the item part var_items = V_C + Σ_arms V_E/S, split into the cluster part V_C (≥ 0; a negative estimate is
  noise) and the item×run interaction V_E (one run's item noise; measured per arm from the spread of each seed's
  bootstrap replicates around the seed mean, statistics.py), and the run part σ²_R = max(0, s² − V_E) per arm
  (s²: variance of the per-seed values; the model's s² is σ²_R + V_E, so an s² below V_E counts as V_E);
* items: both V_C and V_E scale as 1/(items per language): more items of the same kind are more clusters of the
  same size, K' = K·items'/items;
* languages: from the per-language cells' item variances v_l and the language average's v, the mean cross-language
  covariance c̄ = (v − v̄/L)/(1 − 1/L) (held within [0, v̄]: translations are not anti-correlated), and
  v(L') = v̄/L' + (1 − 1/L')·c̄, i.e. new languages behave like the average of the measured ones; the item part
  (both V_C and V_E) is scaled by v(L')/v(L). The run part of the language average does not change with L;
* seeds: v_items' = V_C' + Σ V_E'/S', run part Σ σ²_R/S', s²' = σ²_R + V_E' for the df; se and df as the scoring
  computes them. The MDE that score reports for a cell is this projection at the run's own design, so the
  planner's starting point is the run's own MDE (and its se and df, unless an estimate was clamped above).

Cost (`design_seconds`), from measured per-stage wall times (.notes/stage_times.json: {"stages": [{"stage":
name, "seconds": s}, ...], "total_seconds": ...}): training stages (intermediate@arm-seed, transfer@arm-seed)
scale with seeds per arm; evaluation (evaluate_clean@, evaluate_perturbed@ arm-seed) with seeds × test items
(items per language × languages, summed over the evaluated tasks); the test-input stages (perturb, prefix_clean,
prefix_perturbed) with test items; score with seeds × test items; attack@task with that task's languages (the
attack uses a fixed number of items per language and one seed); everything else (download, encoder,
training-data prefix caches) and the time between stages are fixed. Arms are fixed by the question.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from stages.xlt.scoring.labels import AVERAGE
from stages.xlt.scoring.statistics import RunPart, run_df_term, run_variance, t_interval

MDE_POWER = 0.8


# ---------------------------------------------------------------------------------------------- MDE
def family_rule(multiplicity: str) -> str:
    """Why alpha/m is used for a cell in a family of m tested cells, in words."""
    if multiplicity == "bh":
        return ("alpha/m, Benjamini–Hochberg's threshold for the smallest p of the family; BH's thresholds grow "
                "with rank, so this is a conservative bound")
    return ("alpha/m (Bonferroni), Holm's threshold for the smallest p of the family; Holm's later steps are "
            "less strict, so this is a conservative bound")


_DRAWS = 512  # stratified draws per variance estimate: within ~1% of a 200 000-draw MDE, ~2 ms per cell


def _chi_square_draws(df: float, order: np.ndarray) -> np.ndarray:
    """χ²_df/df at stratified probabilities, in the given order (a Latin hypercube across the estimates)."""
    probabilities = (order + 0.5) / order.size
    return special.chdtri(df, 1 - probabilities) / df


def detectable_effects(var_items: float, n_clusters: float, runs: Sequence[RunPart], alphas: Sequence[float],
                       power: float = MDE_POWER) -> list[float]:
    """MDE at each level in `alphas` of the scoring's t test for a cell with these variance components (taken
    as the truth: item part, K clusters, each arm's RunPart), NaN where they are unknown (module docstring)."""
    if not (np.isfinite(var_items) and var_items >= 0 and n_clusters >= 2) or \
            any(r.n_seeds >= 2 and not (np.isfinite(r.seed_var) and np.isfinite(r.interaction)) for r in runs):
        return [math.nan] * len(alphas)
    truth = var_items + sum(r.variance for r in runs)
    if truth <= 0:
        return [0.0] * len(alphas)
    rng = np.random.default_rng(0)  # the same pairing for every cell: deterministic, smooth in the inputs
    items = var_items * _chi_square_draws(n_clusters - 1, rng.permutation(_DRAWS))
    total, denominator = items.copy(), items ** 2 / (n_clusters - 1)
    for run in runs:
        if run.n_seeds < 2:
            continue
        # The model's s² is the run variance plus one run's item noise, max(s², V_E): an s² below the item
        # noise is sampling noise around it (its run variance is estimated as 0), not a more precise run.
        drawn = max(run.seed_var, run.interaction) * _chi_square_draws(run.n_seeds - 1, rng.permutation(_DRAWS))
        total += run_variance(drawn, run.n_seeds, run.interaction)
        denominator += run_df_term(drawn, run.n_seeds)
    df = np.full(_DRAWS, np.inf)
    np.divide(total ** 2, denominator, out=df, where=denominator > 0)
    sigma = math.sqrt(truth)
    out = []
    for alpha in alphas:
        if not 0 < alpha < 1:
            out.append(math.nan)
            continue
        critical = special.stdtrit(df, 1 - alpha / 2) * np.sqrt(total)

        def shortfall(effect: float) -> float:
            return float(np.mean(special.ndtr((effect - critical) / sigma)
                                 + special.ndtr((-effect - critical) / sigma))) - power

        # Power at `high` is at least 0.95 > power; the largest critical values (df near 1) can be huge.
        high = float(np.quantile(critical, 0.95)) + 10 * sigma
        out.append(float(optimize.brentq(shortfall, 0.0, high, xtol=1e-5 * sigma, maxiter=500)))
    return out


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


def _design(c: Components, seeds: Sequence[int], items_scale: float, languages: int
            ) -> tuple[float, float, list[RunPart]]:
    """(item part, clusters, each arm's RunPart) of the cell under a design (module docstring)."""
    interaction = [v if np.isfinite(v) else 0.0 for v in c.interaction]
    cluster_part = max(0.0, c.var_items - sum(v / s for v, s in zip(interaction, c.n_seeds)))
    scale = _language_factor(c, languages) / items_scale
    runs = []
    for seed_var, item_noise, n in zip(c.seed_var, interaction, seeds):
        between = max(0.0, seed_var - item_noise) if np.isfinite(seed_var) else 0.0
        runs.append(RunPart(between + item_noise * scale, n, item_noise * scale))
    var_items = scale * (cluster_part + sum(v / n for v, n in zip(interaction, seeds)))
    return var_items, _clusters(c, items_scale, languages), runs


def measured_effects(c: Components, alphas: Sequence[float], power: float = MDE_POWER) -> list[float]:
    """MDEs of the run's own design from its components (the projection to that design, so the two agree)."""
    return detectable_effects(*_design(c, c.n_seeds, 1.0, c.n_languages), alphas, power)


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
    var_items, clusters, runs = _design(c, (seeds, seeds), items_scale, languages)
    result = t_interval(0.0, var_items, clusters, runs, 1 - alpha)
    mde, mde_family = detectable_effects(var_items, clusters, runs, [alpha, alpha / max(1, c.family_size)], power)
    return Projection(result.se, result.df, var_items, result.var_runs, clusters, mde, mde_family)


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


# ---------------------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class HeadlineCell:
    """A headline cell of a finished run: what it measured and its variance components."""

    task: str
    metric: str
    comparison: str
    condition: str
    delta: float
    se: float
    df: float
    var_items: float
    var_runs: float
    mde: float
    mde_family: float
    components: Components

    @property
    def name(self) -> str:
        return f"{self.task} {self.condition}"


def headline_cells(detailed: Mapping) -> list[HeadlineCell]:
    """The run's headline cells (settings.headline) with their measured values, from detailed.json."""
    settings = detailed.get("settings", {})
    if not settings.get("headline"):
        raise ValueError("detailed.json names no headline cells (score.headline): nothing to plan for")
    cells = []
    for task, arm_a, arm_b, condition in settings["headline"]:
        metric = settings["primary_metrics"][task]
        comparison = f"{arm_a}_vs_{arm_b}"
        c = components(detailed, task, metric, comparison, condition)
        row = detailed["comparisons"][task][metric][comparison][condition][AVERAGE]

        def number(key: str) -> float:
            return math.nan if row.get(key) is None else float(row[key])

        cells.append(HeadlineCell(task, metric, comparison, condition, number("delta"), number("se"), number("df"),
                                  number("var_items"), number("var_runs"), number("mde"), number("mde_family"), c))
    return cells


def run_shape(detailed: Mapping) -> Shape:
    """Seeds per arm, test items per language (all examples of the clean table, mean over languages) and
    languages of every task of the run."""
    settings = detailed.get("settings", {})
    seeds = sorted(set(settings.get("n_seeds", {}).values()))
    if not seeds:
        raise ValueError("detailed.json settings lack n_seeds")
    items, languages = {}, {}
    for task, metric in sorted(settings.get("primary_metrics", {}).items()):
        by_arm = detailed.get("clean", {}).get(task, {}).get(metric, {})
        if not by_arm:
            continue
        counts = [float(row["n"]) for lang, row in next(iter(by_arm.values())).items() if lang != AVERAGE]
        items[task], languages[task] = float(np.mean(counts)), len(counts)
    return Shape(seeds=max(seeds), items=items, languages=languages)


@dataclass(frozen=True)
class Evaluation:
    design: Shape
    projections: tuple[Projection | None, ...]  # per headline cell; None where it cannot be projected
    objective: float  # mean projected / measured family MDE over the cells
    seconds: float | None  # projected wall time, when stage times were given


def evaluate(cells: Sequence[HeadlineCell], run: Shape, design: Shape, alpha: float, power: float = MDE_POWER,
             stage_times: Mapping | None = None) -> Evaluation:
    """Every headline cell's projected MDEs under `design`, the objective and the projected wall time."""
    projections = []
    for cell in cells:
        scale = design.items.get(cell.task, run.items[cell.task]) / run.items[cell.task]
        # A cell may average fewer languages than its task has (a condition that applies in some only): it gains
        # or loses the languages the design adds or drops, so the run's own design is the cell's own.
        added = design.languages.get(cell.task, run.languages[cell.task]) - run.languages[cell.task]
        languages = max(1, cell.components.n_languages + added)
        try:
            projections.append(project(cell.components, design.seeds, scale, languages, alpha, power))
        except ValueError:
            projections.append(None)
    objective = relative_mde([p.mde_family if p else math.nan for p in projections],
                             [cell.mde_family for cell in cells])
    seconds = sum(design_seconds(stage_times, run, design).values()) if stage_times is not None else None
    return Evaluation(design, tuple(projections), objective, seconds)


def best_within(evaluations: Sequence[Evaluation], budget_seconds: float) -> Evaluation | None:
    """The design with the smallest objective whose projected wall time fits the budget (None if none fits)."""
    fitting = [e for e in evaluations if e.seconds is not None and e.seconds <= budget_seconds
               and np.isfinite(e.objective)]
    return min(fitting, key=lambda e: (e.objective, e.seconds)) if fitting else None


ASSUMPTIONS = (
    "Assumptions: the per-cluster variance of each cell and the per-run variance of each arm carry over from the "
    "run to the design; more test items of the same kind are proportionally more clusters of the same size, so "
    "the item part (clusters and each run's item noise) shrinks as 1/items; new languages behave like the average "
    "of the measured ones, with the item part of the language average following v̄/L + (1 − 1/L)·c̄ (v̄ the "
    "per-language item variance, c̄ the mean cross-language covariance estimated from the run, kept within "
    "[0, v̄]); the training-run part of the language average does not change with the number of languages and "
    "shrinks as 1/seeds; arms and perturbations stay the same and each design trains every arm with the same "
    "number of seeds. The family MDE uses alpha/m over the run's family of m tested headline cells (a "
    "conservative bound for Holm and BH). Variances estimated from 3 seeds are rough (2 degrees of freedom per "
    "arm), so a projection across designs is a plan, not a promise. Wall time: training stages scale with seeds, "
    "evaluation with seeds × test items, test-input stages with test items, attacks with languages, the rest is "
    "fixed; a new language or more items are assumed to be available in the data."
)

"""From the long per-example score table to the study's tables: clean scores, per-arm drops, arm-vs-arm Δ,
attack success, and score vs perturbation strength.

Input tables (pandas, long format):
* scores:  task, arm, seed, lang, condition, id, cluster, metric, value, applied[, chrf]
           condition "clean" = unperturbed; every other condition is a perturbed copy of the same ids.
           cluster = the unit of statistical independence, the same label for the translations of one item
           in every language; applied = the perturbation changed that example's input (True on clean rows).
* attacks: task, arm, seed, lang, id, cluster, status, success, words_changed, n_words, queries, ...
           (collect.attack_records; attack_stats.RECORD_COLUMNS are required)

Cells. A cell is (task, metric, language, condition). Its examples are the ids that have a clean and a
perturbed score for every arm present in the cell and every seed of those arms (a missing prediction removes
the id for everyone, so all arms and both conditions are compared on the same examples, and an arm's drop in
the arm table and in every comparison is the same number). Of those, the drop and Δ use only the examples the
perturbation changed (`applied`); unchanged examples score (nearly) the same perturbed as clean and would only
dilute the drop towards 0. Each cell reports coverage = changed / total, n (changed examples) and n_clusters.
A cell with no changed example is "not applicable" (e.g. a code-switching perturbation with no dictionary entry
for the language): it gets no estimate, no p-value, takes no part in multiplicity adjustment and is left out of
language averages (which are then over the remaining languages). The all-examples ("diluted") drop and Δ are
kept beside them in detailed.json. Statistics: statistics.py (cluster bootstrap of seed-averaged scores with
shared clusters across languages, plus the between-run variance of per-seed estimates; Satterthwaite t).
A cell whose drop rests on fewer than `min_clusters` changed clusters gets "too few clusters": its estimate and
per-seed values are kept, its interval, p-value and MDE are not computed, and it takes no part in its
multiplicity family.

Every comparison row carries the variance split (se, df, var_items, var_runs; each arm's s² of per-seed drops,
seed_var_a/b, and one run's item noise, var_interaction_a/b), each arm's per-seed drops and clean scores
(per_seed_drop_a, ...: lists, one value per seed in seed order) and the minimum detectable effects at 80% power
(mde at alpha, mde_family at alpha / family_size; power.py); arm and clean rows carry theirs likewise.

Language averages ("avg") are over `average_languages[task]` (default: every language of the task) that are
applicable, unweighted.

Multiplicity families (adjusted p-values with `multiplicity`, "holm" by default):
* per-language cells: one family per table row set task × metric × comparison × condition, i.e. the
  applicable languages of that comparison under that perturbation;
* headline cells (`headline`, the language-averaged cells named in advance as the answer): one family of
  all of them;
* other language averages: one family per task × metric × comparison (its perturbations).
family_size counts the family's tested cells (not applicable and too-few-clusters cells are out).
A verdict is decided by the adjusted p-value; intervals are marginal. Secondary metrics (EM, en→xx retrieval)
are separate tables and families and exploratory.

Confounds: a comparison whose arms' clean scores (language average, same ids) differ by more than
`confound_threshold` is flagged `confounded`: a drop is measured from a different starting level, so Δ mixes
robustness with baseline skill (the relative drop is shown beside it for that reason). The same test on the
examples the drop is computed on (the changed ones of that cell) is `confounded_changed` (`clean_gap_changed`) on
every comparison row; the confound table names the conditions where a language average is confounded that way.

Attacks (attack_stats.py): each model attacks the candidates it gets right; TextAttack's figures per arm on its
own pool, and paired success rates on the items both arms attacked, averaged over each arm's seeds, with a
cluster/seed bootstrap interval and an exact cluster sign-flip test.

Arm and condition names come from the data; the only names written here are defaults of parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stages.xlt.perturbations.knobs import CLEAN
from stages.xlt.scoring.attack_stats import AttackSettings, attack_rows, check_records
from stages.xlt.scoring.power import MDE_POWER, Components, family_rule, measured_effects
from stages.xlt.scoring.statistics import (
    NOT_APPLICABLE,
    PERMUTATION_SCOPE,
    TOO_FEW_CLUSTERS,
    ArmScores,
    BootstrapSettings,
    ClusterBootstrap,
    Interval,
    adjust_p_values,
    decide,
    interval_scope,
)

AVERAGE = "avg"
POOLED = "pooled"
SCORE_COLUMNS = ("task", "arm", "seed", "lang", "condition", "id", "cluster", "metric", "value", "applied")
DEFAULT_COMPARISONS: tuple[tuple[str, str], ...] = (("multi", "squad"), ("multi", "none"), ("squad", "none"))
DEFAULT_CHRF_BINS: tuple[float, ...] = (0, 50, 60, 70, 80, 90, 100)  # chrF on sacrebleu's 0–100 scale
METRIC_PREFERENCE = ("f1", "accuracy")

HeadlineCell = tuple[str, str, str, str]  # task, arm_a, arm_b, condition


def _normalise_headline(entry) -> HeadlineCell:
    """(task, (A, B), condition) or (task, A, B, condition) -> (task, A, B, condition)."""
    entry = tuple(entry)
    if len(entry) == 3 and len(tuple(entry[1])) == 2 and not isinstance(entry[1], str):
        task, (arm_a, arm_b), condition = entry[0], tuple(entry[1]), entry[2]
    elif len(entry) == 4:
        task, arm_a, arm_b, condition = entry
    else:
        raise ValueError(f"headline cell {entry!r} must be (task, (arm_a, arm_b), condition)")
    return str(task), str(arm_a), str(arm_b), str(condition)


@dataclass(frozen=True)
class SummarySettings:
    comparisons: tuple[tuple[str, str], ...] = DEFAULT_COMPARISONS
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    n_permutations: int = 2000
    multiplicity: str = "holm"  # "holm" (family-wise error) or "bh" (false discovery rate)
    primary_metrics: Mapping[str, str] = field(default_factory=dict)  # task -> metric; default f1, accuracy
    average_languages: Mapping[str, Sequence[str]] | None = None  # task -> languages; None/absent: all
    confound_threshold: float = 0.05  # on the 0–1 score scale: 0.05 = 5 points
    attack_threshold: float = 0.5  # an item is attack-eligible when both arms' clean score reaches this
    headline: tuple[HeadlineCell, ...] = ()  # the language-averaged cells named in advance as the answer
    chrf_bins: tuple[float, ...] = DEFAULT_CHRF_BINS
    min_clusters: int = 5  # fewer changed clusters: "too few clusters", no p, out of its family
    min_bin_items: int = 5  # strength bins are merged with their neighbours until each holds this many items
    # (task, A, B) comparisons not to make, e.g. where both arms are the same model for that task: they would repeat
    # another comparison's numbers and inflate its multiplicity family.
    skipped_comparisons: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        comparisons = tuple((str(a), str(b)) for a, b in self.comparisons)
        if any(a == b for a, b in comparisons):
            raise ValueError(f"comparisons {comparisons} pair an arm with itself")
        object.__setattr__(self, "comparisons", comparisons)
        headline = tuple(_normalise_headline(entry) for entry in self.headline)
        unknown = [cell for cell in headline if (cell[1], cell[2]) not in comparisons]
        if unknown:
            raise ValueError(f"headline cells {unknown} use comparisons not in {list(comparisons)}")
        object.__setattr__(self, "headline", headline)
        if self.multiplicity not in ("holm", "bh"):
            raise ValueError(f"multiplicity={self.multiplicity!r} must be 'holm' or 'bh'")
        if self.n_permutations < 1:
            raise ValueError(f"n_permutations={self.n_permutations} must be >= 1 (use e.g. 2000)")
        if isinstance(self.min_clusters, bool) or not isinstance(self.min_clusters, int) or self.min_clusters < 2:
            raise ValueError(f"min_clusters={self.min_clusters!r} must be an integer >= 2 (the item variance needs "
                             "two clusters; e.g. 5)")
        if not self.confound_threshold >= 0:
            raise ValueError(f"confound_threshold={self.confound_threshold} must be >= 0 (0–1 score scale)")
        if self.average_languages is not None:
            if isinstance(self.average_languages, (str, bytes)) or not isinstance(self.average_languages, Mapping):
                raise ValueError("average_languages must map task -> [languages] (or be None for all languages)")
            object.__setattr__(self, "average_languages",
                               {str(t): tuple(langs) for t, langs in self.average_languages.items()})
        object.__setattr__(self, "primary_metrics", dict(self.primary_metrics))
        object.__setattr__(self, "skipped_comparisons",
                           tuple((str(t), str(a), str(b)) for t, a, b in self.skipped_comparisons))
        if self.min_bin_items < 1:
            raise ValueError(f"min_bin_items={self.min_bin_items} must be >= 1")

    @property
    def alpha(self) -> float:
        return self.bootstrap.alpha


@dataclass(frozen=True)
class Summary:
    clean: pd.DataFrame  # task, metric, arm, lang, clean, ci_low, ci_high, n, n_clusters, n_seeds
    arms: pd.DataFrame  # task, metric, arm, lang, condition, applicable, coverage, n, drop(+ci), relative, ...
    comparisons: pd.DataFrame  # task, metric, arm_a, arm_b, lang, condition, delta(+ci), p_value, p_adjusted, ...
    confounds: pd.DataFrame  # task, metric, arm_a, arm_b, clean_a, clean_b, clean_gap, confounded
    attacks: pd.DataFrame  # task, arm_a, arm_b, lang, TextAttack's figures per arm, n, success_a/b, p_value, ...
    strength: pd.DataFrame  # task, metric, arm, condition, chrf_bin, chrf_mid, score, drop(+ci), n, ...
    settings: SummarySettings
    primary_metrics: dict[str, str]  # task -> the metric reported for it
    n_seeds: dict[str, int]  # arm -> training seeds (fewest over tasks)
    missing: tuple[str, ...] = ()  # cells without any example shared by all arms and seeds

    def scope(self, arms: Sequence[str] | None = None) -> str:
        """What the intervals cover, for the given arms (default: every arm)."""
        chosen = self.n_seeds if arms is None else {a: self.n_seeds[a] for a in arms if a in self.n_seeds}
        return interval_scope(chosen, self.settings.bootstrap)


# ---------------------------------------------------------------------------------------------- validation
def _require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}: it needs {list(columns)}")


def _prepare_scores(scores: pd.DataFrame) -> pd.DataFrame:
    _require_columns(scores, SCORE_COLUMNS, "scores")
    if scores.empty:
        raise ValueError("scores table is empty: run the evaluate stage first")
    if not (scores["condition"] == CLEAN).any():
        raise ValueError(f"scores table has no {CLEAN!r} rows: drops need the unperturbed scores")
    if scores["applied"].isna().any() or scores["cluster"].isna().any():
        raise ValueError("scores have missing 'applied' or 'cluster' values: every row needs both")
    frame = scores.assign(id=scores["id"].astype(str), cluster=scores["cluster"].astype(str),
                          lang=scores["lang"].astype(str), arm=scores["arm"].astype(str),
                          task=scores["task"].astype(str), metric=scores["metric"].astype(str),
                          condition=scores["condition"].astype(str), seed=scores["seed"].astype(int),
                          applied=scores["applied"].astype(bool), value=scores["value"].astype(float))
    if "chrf" not in frame.columns:
        frame = frame.assign(chrf=math.nan)
    return frame.assign(chrf=frame["chrf"].astype(float))


# ---------------------------------------------------------------------------------------------- alignment
@dataclass(frozen=True)
class _Cell:
    """All arms of one (task, metric, lang, condition) aligned on shared seeds and example ids."""

    ids: np.ndarray
    clusters: np.ndarray
    changed: np.ndarray  # bool per id
    chrf: np.ndarray
    clean: dict[str, np.ndarray]  # arm -> (seeds, ids)
    perturbed: dict[str, np.ndarray]

    @property
    def n_total(self) -> int:
        return len(self.ids)

    @property
    def n_changed(self) -> int:
        return int(self.changed.sum())

    @property
    def applicable(self) -> bool:
        return self.n_changed > 0

    def changed_scores(self, arm: str) -> ArmScores:
        return ArmScores(self.clean[arm][:, self.changed], self.perturbed[arm][:, self.changed])

    def diluted_drop(self, arm: str) -> float:
        return float(self.clean[arm].mean() - self.perturbed[arm].mean())


@dataclass(frozen=True)
class _Data:
    cells: dict[tuple[str, str, str, str], _Cell]  # (task, metric, lang, condition)
    clean: dict[tuple[str, str, str], tuple[np.ndarray, dict[str, np.ndarray]]]  # (task, metric, lang)
    seeds: dict[tuple[str, str], list[int]]  # (task, arm) -> seeds
    missing: tuple[str, ...]


def _first_conflict(codes: np.ndarray, keys: np.ndarray, n_keys: int) -> int | None:
    """Index of a key whose rows carry different codes, or None."""
    low = np.full(n_keys, np.iinfo(np.int64).max)
    high = np.full(n_keys, -1)
    np.minimum.at(low, keys, codes)
    np.maximum.at(high, keys, codes)
    bad = np.flatnonzero((high >= 0) & (low != high))
    return int(bad[0]) if bad.size else None


def _align(frame: pd.DataFrame) -> _Data:
    """One dense (condition, id, arm×seed) array per (task, metric, lang), filled by integer codes."""
    seeds = {key: sorted(int(s) for s in group.unique()) for key, group in frame.groupby(["task", "arm"])["seed"]}
    arm_codes, arm_names = pd.factorize(frame["arm"], sort=True)
    seed_codes, seed_values = pd.factorize(frame["seed"], sort=True)
    column_key = arm_codes.astype(np.int64) * len(seed_values) + seed_codes
    # Plain numpy columns: row selection on Arrow-backed string columns is slow.
    column = {name: frame[name].to_numpy(dtype=object if name in ("condition", "id", "cluster") else None)
              for name in ("condition", "id", "cluster", "value", "applied", "chrf")}
    cells, clean_cells, missing = {}, {}, []
    for (task, metric, lang), index in sorted(frame.groupby(["task", "metric", "lang"]).indices.items()):
        rows = {name: values[index] for name, values in column.items()}
        arms = [arm for arm in arm_names if (task, arm) in seeds]
        columns = [(arm, s) for arm in arms for s in seeds[(task, arm)]]
        position = {int(np.searchsorted(arm_names, arm)) * len(seed_values) + int(np.searchsorted(seed_values, s)): k
                    for k, (arm, s) in enumerate(columns)}
        col = np.array([position[k] for k in column_key[index]])
        cond_codes, conditions = pd.factorize(rows["condition"], sort=True)
        id_codes, ids = pd.factorize(rows["id"], sort=True)
        shape = (len(conditions), len(ids), len(columns))
        flat = (cond_codes * shape[1] + id_codes) * shape[2] + col
        counts = np.bincount(flat, minlength=int(np.prod(shape)))
        if (counts > 1).any():
            c, i, k = np.unravel_index(int(np.argmax(counts > 1)), shape)
            raise ValueError(f"scores table has duplicate rows for {task}/{metric}/{lang}/{conditions[c]}, id "
                             f"{ids[i]!r}, arm/seed {columns[k]}: each example is scored once per cell")
        values = np.full(int(np.prod(shape)), np.nan)
        values[flat] = rows["value"]
        values = values.reshape(shape)
        cluster_codes, cluster_names = pd.factorize(rows["cluster"])
        bad = _first_conflict(cluster_codes, id_codes, len(ids))
        if bad is not None:
            raise ValueError(f"{task}/{lang} example {ids[bad]!r} has several cluster labels: an id belongs to one "
                             "cluster")
        cluster_of = np.empty(len(ids), dtype=object)
        cluster_of[id_codes] = cluster_names[cluster_codes]
        key = cond_codes * len(ids) + id_codes
        applied_codes = rows["applied"].astype(np.int64)
        bad = _first_conflict(applied_codes, key, len(conditions) * len(ids))
        if bad is not None:
            c, i = divmod(bad, len(ids))
            raise ValueError(f"{task}/{lang}/{conditions[c]} example {ids[i]!r} is 'applied' for some arms, seeds or "
                             "metrics and not for others: it is a property of the perturbed input, the same for all")
        applied = np.zeros(len(conditions) * len(ids), dtype=bool)
        applied[key] = applied_codes.astype(bool)
        applied = applied.reshape(len(conditions), len(ids))
        chrf = np.full(len(conditions) * len(ids), np.nan)
        chrf[key] = rows["chrf"]
        chrf = chrf.reshape(len(conditions), len(ids))
        present_any = ~np.isnan(values).all(axis=1)  # (conditions, columns)

        def arms_in(c: int) -> list[str]:
            return [arm for arm in arms if any(present_any[c, k] for k, (a, _) in enumerate(columns) if a == arm)]

        def matrices(c: int, present: list[str], keep: np.ndarray) -> dict[str, np.ndarray]:
            return {arm: values[c][np.ix_(keep, [k for k, (a, _) in enumerate(columns) if a == arm])].T.copy()
                    for arm in present}

        def complete(c: int, present: list[str]) -> np.ndarray:
            chosen = [k for k, (a, _) in enumerate(columns) if a in present]
            return ~np.isnan(values[c][:, chosen]).any(axis=1)

        order = np.argsort(np.asarray(ids).astype(str))  # ids sorted as strings
        if CLEAN not in set(conditions):
            missing += [f"{task}/{metric}/{lang}/{c} (no clean scores)" for c in conditions]
            continue
        c_clean = int(np.flatnonzero(conditions == CLEAN)[0])
        present = arms_in(c_clean)
        keep = complete(c_clean, present)[order]
        if present and keep.any():
            chosen = order[keep]
            clean_cells[(task, metric, lang)] = (cluster_of[chosen].astype(str), matrices(c_clean, present, chosen))
        else:
            missing.append(f"{task}/{metric}/{lang}/{CLEAN}")
        for c, condition in enumerate(conditions):
            if condition == CLEAN:
                continue
            present = sorted(set(arms_in(c)) & set(arms_in(c_clean)))
            keep = (complete(c, present) & complete(c_clean, present))[order] if present else np.zeros(0, bool)
            if not keep.any():
                missing.append(f"{task}/{metric}/{lang}/{condition}")
                continue
            chosen = order[keep]
            cells[(task, metric, lang, str(condition))] = _Cell(
                ids=np.asarray(ids)[chosen].astype(str), clusters=cluster_of[chosen].astype(str),
                changed=applied[c, chosen], chrf=chrf[c, chosen],
                clean=matrices(c_clean, present, chosen), perturbed=matrices(c, present, chosen))
    return _Data(cells, clean_cells, seeds, tuple(missing))


def _average_set(task: str, langs: Sequence[str], settings: SummarySettings) -> list[str]:
    chosen = (settings.average_languages or {}).get(task)
    return sorted(lang for lang in langs if chosen is None or lang in chosen)


def _resolve_primary_metrics(frame: pd.DataFrame, settings: SummarySettings) -> dict[str, str]:
    out = {}
    for task, metrics in frame.groupby("task")["metric"].unique().items():
        available = sorted(metrics)
        for metric in [settings.primary_metrics.get(task), *METRIC_PREFERENCE, *available]:
            if metric in available:
                out[task] = metric
                break
    return out


# ---------------------------------------------------------------------------------------------- tables
def _interval_columns(prefix: str, interval: Interval, blank: bool = False) -> dict:
    """estimate and interval; `blank` (too few clusters): the estimate only."""
    low, high = (math.nan, math.nan) if blank else (interval.ci_low, interval.ci_high)
    return {prefix: interval.estimate, f"{prefix}_ci_low": low, f"{prefix}_ci_high": high}


def _spread_columns(prefix: str, interval: Interval, blank: bool = False) -> dict:
    """se, df and the variance split of an interval (NaN when `blank`: too few clusters to estimate them)."""
    values = (math.nan,) * 4 if blank else (interval.se, interval.df, interval.var_items, interval.var_runs)
    return dict(zip((f"{prefix}se", f"{prefix}df", f"{prefix}var_items", f"{prefix}var_runs"), values))


def finite_or_none(value) -> float | None:
    """JSON has no NaN: DVC and json readers choke on it, so it becomes null. Six significant digits, not six
    decimals: variances of 0–1 scores (1e-4 to 1e-7) must survive for the planner."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return float(f"{value:.6g}") if math.isfinite(value) else None


def _seed_list(values) -> list[float]:
    """Per-seed values as a JSON-friendly list (rounded like every other number in detailed.json)."""
    return [finite_or_none(v) for v in values]


class _Groups:
    """ClusterBootstrap objects of one (task, metric, condition), built once per language set and shared by
    the arm table and every comparison."""

    def __init__(self, cells: Mapping[str, _Cell], settings: SummarySettings) -> None:
        self.cells, self.settings, self._built = cells, settings, {}

    def get(self, langs: Sequence[str]) -> ClusterBootstrap:
        key = tuple(sorted(langs))
        if key not in self._built:
            arms = sorted(set.intersection(*(set(self.cells[lang].clean) for lang in key)))
            self._built[key] = ClusterBootstrap(
                [{arm: self.cells[lang].changed_scores(arm) for arm in arms} for lang in key],
                [self.cells[lang].clusters[self.cells[lang].changed] for lang in key],
                self.settings.bootstrap, self.settings.n_permutations)
        return self._built[key]


def _coverage(cells: Sequence[_Cell]) -> dict:
    changed, total = sum(c.n_changed for c in cells), sum(c.n_total for c in cells)
    return {"n": changed, "n_total": total, "coverage": changed / total if total else math.nan}


def _drop_rows(task, metric, condition, cells: Mapping[str, _Cell], groups: _Groups, settings) -> list[dict]:
    rows = []
    arms = sorted({arm for cell in cells.values() for arm in cell.clean})
    for arm in arms:
        langs = sorted(lang for lang, cell in cells.items() if arm in cell.clean)
        for lang in langs + [AVERAGE]:
            chosen = [lang] if lang != AVERAGE else _average_set(task, langs, settings)
            if not chosen:
                continue
            used = [lang for lang in chosen if cells[lang].applicable]
            row = {"task": task, "metric": metric, "arm": arm, "lang": lang, "condition": condition,
                   **_coverage([cells[lang] for lang in chosen]), "applicable": bool(used),
                   "diluted_drop": float(np.mean([cells[lang].diluted_drop(arm) for lang in chosen])),
                   "n_seeds": cells[chosen[0]].clean[arm].shape[0]}
            if lang == AVERAGE:
                row |= {"n_languages": len(used), "languages": ",".join(used),
                        "not_applicable": ",".join(lang for lang in chosen if lang not in used)}
            if used:
                result = groups.get(used).drop(arm)
                few = result.n_clusters < settings.min_clusters
                row |= {"n_clusters": result.n_clusters, "too_few_clusters": few,
                        **_interval_columns("clean", result.clean, few),
                        **_interval_columns("perturbed", result.perturbed, few),
                        **_interval_columns("drop", result.drop, few), **_spread_columns("drop_", result.drop, few),
                        **_interval_columns("relative_drop", result.relative_drop, few),
                        "seed_var": result.seed_var, "var_interaction": result.var_interaction,
                        "per_seed_drop": _seed_list(result.per_seed_drop),
                        "per_seed_clean": _seed_list(result.per_seed_clean),
                        "mean_chrf": float(np.nanmean(np.concatenate(
                            [cells[lang].chrf[cells[lang].changed] for lang in used]))),
                        "n_resamples_used": result.n_resamples_used, "n_resamples_nan": result.n_resamples_nan}
            else:
                row |= {"n_clusters": 0, "too_few_clusters": False}
            rows.append(row)
    return rows


def _delta_rows(task, metric, condition, cells: Mapping[str, _Cell], groups: _Groups, settings) -> list[dict]:
    rows = []
    for arm_a, arm_b in settings.comparisons:
        langs = sorted(lang for lang, cell in cells.items() if arm_a in cell.clean and arm_b in cell.clean)
        for lang in langs + [AVERAGE]:
            chosen = [lang] if lang != AVERAGE else _average_set(task, langs, settings)
            if not chosen:
                continue
            used = [lang for lang in chosen if cells[lang].applicable]
            diluted_a = float(np.mean([cells[lang].diluted_drop(arm_a) for lang in chosen]))
            diluted_b = float(np.mean([cells[lang].diluted_drop(arm_b) for lang in chosen]))
            row = {"task": task, "metric": metric, "arm_a": arm_a, "arm_b": arm_b,
                   "comparison": f"{arm_a}_vs_{arm_b}", "lang": lang, "condition": condition,
                   **_coverage([cells[lang] for lang in chosen]), "applicable": bool(used),
                   "diluted_drop_a": diluted_a, "diluted_drop_b": diluted_b, "diluted_delta": diluted_a - diluted_b,
                   "n_seeds_a": cells[chosen[0]].clean[arm_a].shape[0],
                   "n_seeds_b": cells[chosen[0]].clean[arm_b].shape[0]}
            if lang == AVERAGE:
                row |= {"n_languages": len(used), "languages": ",".join(used),
                        "not_applicable": ",".join(lang for lang in chosen if lang not in used)}
            if used:
                r = groups.get(used).compare(arm_a, arm_b)
                few = r.n_clusters < settings.min_clusters
                delta = _interval_columns("delta", r.delta, few)
                relative = _interval_columns("r", r.relative_delta, few)
                gap = r.clean_a - r.clean_b
                row |= {"n_clusters": r.n_clusters, "too_few_clusters": few, "delta": delta["delta"],
                        "ci_low": delta["delta_ci_low"], "ci_high": delta["delta_ci_high"],
                        "p_value": math.nan if few else r.p_value,
                        "p_permutation": math.nan if few else r.p_permutation, **_spread_columns("", r.delta, few),
                        "seed_var_a": r.seed_var_a, "seed_var_b": r.seed_var_b,
                        "var_interaction_a": r.var_interaction_a, "var_interaction_b": r.var_interaction_b,
                        "clean_a": r.clean_a, "clean_b": r.clean_b, "drop_a": r.drop_a, "drop_b": r.drop_b,
                        "per_seed_clean_a": _seed_list(r.per_seed_clean_a),
                        "per_seed_clean_b": _seed_list(r.per_seed_clean_b),
                        "per_seed_drop_a": _seed_list(r.per_seed_drop_a),
                        "per_seed_drop_b": _seed_list(r.per_seed_drop_b),
                        "clean_gap_changed": gap, "confounded_changed": bool(abs(gap) > settings.confound_threshold),
                        "relative_drop_a": r.relative_drop_a, "relative_drop_b": r.relative_drop_b,
                        "relative_delta": relative["r"], "relative_ci_low": relative["r_ci_low"],
                        "relative_ci_high": relative["r_ci_high"], "n_resamples_used": r.n_resamples_used,
                        "n_resamples_nan": r.n_resamples_nan,
                        "relative_n_resamples_nan": r.relative_delta.n_resamples_nan}
            else:
                row |= {"n_clusters": 0, "too_few_clusters": False, "p_value": math.nan, "verdict": NOT_APPLICABLE}
            rows.append(row)
    return rows


def _clean_table(data: _Data, settings: SummarySettings) -> pd.DataFrame:
    rows = []
    by_task: dict[tuple[str, str], dict[str, tuple]] = {}
    for (task, metric, lang), value in data.clean.items():
        by_task.setdefault((task, metric), {})[lang] = value
    for (task, metric), langs in sorted(by_task.items()):
        cache: dict[tuple, ClusterBootstrap] = {}

        def bootstrap(chosen):
            key = tuple(chosen)
            if key not in cache:
                arms = sorted(set.intersection(*(set(langs[lang][1]) for lang in key)))
                cache[key] = ClusterBootstrap(
                    [{arm: ArmScores(langs[lang][1][arm], langs[lang][1][arm]) for arm in arms} for lang in key],
                    [langs[lang][0] for lang in key], settings.bootstrap, 1)
            return cache[key]

        arms = sorted({arm for _, matrices in langs.values() for arm in matrices})
        for arm in arms:
            present = sorted(lang for lang, (_, matrices) in langs.items() if arm in matrices)
            for lang in present + [AVERAGE]:
                chosen = [lang] if lang != AVERAGE else _average_set(task, present, settings)
                if not chosen:
                    continue
                result = bootstrap(chosen).drop(arm)
                few = result.n_clusters < settings.min_clusters
                clean = _interval_columns("clean", result.clean, few)
                row = {"task": task, "metric": metric, "arm": arm, "lang": lang, "clean": clean["clean"],
                       "ci_low": clean["clean_ci_low"], "ci_high": clean["clean_ci_high"],
                       **_spread_columns("", result.clean, few), "per_seed_clean": _seed_list(result.per_seed_clean),
                       "n": result.n_examples, "n_clusters": result.n_clusters, "n_seeds": result.n_seeds,
                       "too_few_clusters": few, "n_resamples_used": result.clean.n_resamples_used,
                       "n_resamples_nan": result.clean.n_resamples_nan}
                if lang == AVERAGE:
                    row["n_languages"] = len(chosen)
                rows.append(row)
    return pd.DataFrame(rows)


def _confound_table(data: _Data, settings: SummarySettings) -> pd.DataFrame:
    """Clean-score gap between the arms of each comparison (language average over the languages both have), on
    all examples; `_changed_confounds` adds the conditions whose changed examples alone exceed the threshold."""
    rows = []
    for task, metric in sorted({(t, m) for t, m, _ in data.clean}):
        langs = {lang: mats for (t, m, lang), (_, mats) in data.clean.items() if (t, m) == (task, metric)}
        for arm_a, arm_b in settings.comparisons:
            both = _average_set(task, [lang for lang, mats in langs.items() if arm_a in mats and arm_b in mats],
                                settings)
            if not both:
                continue
            clean_a = float(np.mean([langs[lang][arm_a].mean() for lang in both]))
            clean_b = float(np.mean([langs[lang][arm_b].mean() for lang in both]))
            rows.append({"task": task, "metric": metric, "arm_a": arm_a, "arm_b": arm_b,
                         "comparison": f"{arm_a}_vs_{arm_b}", "clean_a": clean_a, "clean_b": clean_b,
                         "clean_gap": clean_a - clean_b,
                         "confounded": bool(abs(clean_a - clean_b) > settings.confound_threshold)})
    columns = ["task", "metric", "arm_a", "arm_b", "comparison", "clean_a", "clean_b", "clean_gap", "confounded"]
    return pd.DataFrame(rows, columns=columns)


def _changed_confounds(confounds: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
    """confounded_changed: the clean gap on the examples a drop is computed on (the changed ones, language
    average) exceeds the threshold for some condition; confounded_changed_conditions names them."""
    flagged: dict[tuple, list[str]] = {}
    if not comparisons.empty:
        rows = comparisons[(comparisons["lang"] == AVERAGE) & comparisons["applicable"].astype(bool)]
        for row in rows[rows["confounded_changed"].fillna(False).astype(bool)].itertuples():
            flagged.setdefault((row.task, row.metric, row.comparison), []).append(row.condition)
    keys = list(zip(confounds["task"], confounds["metric"], confounds["comparison"]))
    names = [",".join(sorted(flagged.get(key, []))) for key in keys]
    return confounds.assign(confounded_changed=[bool(n) for n in names], confounded_changed_conditions=names)


def _headline_mask(table: pd.DataFrame, settings: SummarySettings, primary: Mapping[str, str]) -> np.ndarray:
    if table.empty:
        return np.zeros(0, dtype=bool)
    wanted = {(task, primary.get(task), a, b, condition) for task, a, b, condition in settings.headline}
    keys = zip(table["task"], table["metric"], table["arm_a"], table["arm_b"], table["condition"])
    return np.array([key in wanted for key in keys]) & (table["lang"] == AVERAGE).to_numpy()


def _adjust(table: pd.DataFrame, settings: SummarySettings, primary: Mapping[str, str]) -> pd.DataFrame:
    """p_adjusted, the verdict and the minimum detectable effects per the families in the module docstring.
    Cells without a p (not applicable, too few clusters) are not in any family's size."""
    if table.empty:
        return table
    table = table.copy()
    table["headline"] = _headline_mask(table, settings, primary)
    average = table["lang"] == AVERAGE
    family = np.where(
        table["headline"], "headline cells",
        np.where(average, table["task"] + "/" + table["metric"] + "/" + table["comparison"] + ": language averages",
                 table["task"] + "/" + table["metric"] + "/" + table["comparison"] + "/" + table["condition"]
                 + ": languages"))
    table["family"] = family
    table["p_adjusted"] = math.nan
    for _, index in table.groupby("family").groups.items():
        table.loc[index, "p_adjusted"] = adjust_p_values(table.loc[index, "p_value"].to_numpy(),
                                                         settings.multiplicity)
    table["family_size"] = table.groupby("family")["p_value"].transform(lambda p: int(np.isfinite(p).sum()))
    verdicts, mde, mde_family = [], [], []
    alpha = settings.alpha
    for row in table.itertuples():
        if not row.applicable:
            verdicts.append(NOT_APPLICABLE)
        elif row.too_few_clusters:
            verdicts.append(TOO_FEW_CLUSTERS)
        else:
            verdicts.append(decide(row.p_adjusted, row.delta, alpha))
        effects = [math.nan, math.nan]
        if np.isfinite(row.p_value):
            measured = Components(row.var_items, row.n_clusters, 1, (row.seed_var_a, row.seed_var_b),
                                  (row.var_interaction_a, row.var_interaction_b), (row.n_seeds_a, row.n_seeds_b))
            effects = measured_effects(measured, [alpha, alpha / row.family_size])
        mde.append(effects[0])
        mde_family.append(effects[1])
    table["verdict"], table["mde"], table["mde_family"] = verdicts, mde, mde_family
    return table


def statistics_settings(settings: SummarySettings) -> dict:
    """How every interval, p-value and minimum detectable effect was computed, in words and numbers."""
    return {"interval_method": settings.bootstrap.method_name, "alpha": settings.alpha,
            "min_clusters": settings.min_clusters, "p_permutation": PERMUTATION_SCOPE,
            "mde": f"smallest true Δ found with {MDE_POWER:.0%} power by the two-sided t test with the cell's "
                   "variance components, over the sampling variation of its estimated se and df (power.py); mde "
                   f"at alpha, mde_family at alpha / family_size: {family_rule(settings.multiplicity)}"}


def attack_comparisons(attacks: pd.DataFrame | None, settings: SummarySettings = SummarySettings()) -> pd.DataFrame:
    """Per task x comparison x language (and pooled): TextAttack's figures for both arms on their own pools and
    the paired success rates on the items both attacked, over every attacked seed (attack_stats.py)."""
    if attacks is None or attacks.empty:
        return pd.DataFrame(columns=["task", "arm_a", "arm_b", "comparison", "lang"])
    check_records(attacks)
    frame = attacks.assign(id=attacks["id"].astype(str), cluster=attacks["cluster"].astype(str),
                           arm=attacks["arm"].astype(str), success=attacks["success"].astype(bool))
    attack_settings = AttackSettings(comparisons=settings.comparisons, confidence=settings.bootstrap.confidence,
                                     n_resamples=settings.bootstrap.n_resamples,
                                     n_permutations=max(settings.n_permutations, 10000),
                                     multiplicity=settings.multiplicity, seed=settings.bootstrap.seed)
    return pd.DataFrame(attack_rows(frame, attack_settings))


def _merged_bins(counts: np.ndarray, min_items: int) -> list[tuple[int, int]]:
    """Adjacent bins joined left to right until each group holds at least `min_items` items (a short last
    group joins the one before it); empty bins at either end are dropped. Returns [low, high) bin-index ranges."""
    groups, start, held = [], None, 0
    for index, count in enumerate(counts):
        if start is None:
            if count == 0:
                continue
            start = index
        held += count
        if held >= min_items:
            groups.append([start, index + 1, held])
            start, held = None, 0
    if start is not None:
        end = int(np.flatnonzero(counts)[-1]) + 1  # the tail's last non-empty bin
        if groups:
            groups[-1][1], groups[-1][2] = end, groups[-1][2] + held
        else:
            groups.append([start, end, held])
    return [(low, high) for low, high, _ in groups]


def strength_table(data: _Data, primary: Mapping[str, str], settings: SummarySettings) -> pd.DataFrame:
    """Per chrF bin (how far the input moved), pooled over languages, on changed examples of the primary
    metric: clean and perturbed score and the drop with a cluster-bootstrap interval (seeds averaged). Bins
    holding fewer than `settings.min_bin_items` items are merged with their neighbours (a one-item bin would
    show a 'drop' of a whole item)."""
    columns = ["task", "metric", "arm", "condition", "chrf_bin", "chrf_mid", "score", "clean_score", "drop",
               "ci_low", "ci_high", "n", "n_clusters"]
    edges = np.asarray(settings.chrf_bins, dtype=float)
    gathered: dict[tuple, list] = {}
    for (task, metric, lang, condition), cell in sorted(data.cells.items()):
        if primary.get(task) != metric:
            continue
        keep = cell.changed & np.isfinite(cell.chrf)
        if not keep.any():
            continue
        chrf = cell.chrf[keep]
        if chrf.min() < edges[0] or chrf.max() > edges[-1]:
            raise ValueError(f"chrF values span [{chrf.min()}, {chrf.max()}] outside the bins [{edges[0]}, "
                             f"{edges[-1]}]: chrF must be on sacrebleu's 0–100 scale, or change chrf_bins")
        for arm in cell.clean:
            gathered.setdefault((task, metric, arm, condition), []).append(
                (chrf, cell.clusters[keep], cell.clean[arm][:, keep].mean(0), cell.perturbed[arm][:, keep].mean(0)))
    rows = []
    for (task, metric, arm, condition), parts in sorted(gathered.items()):
        chrf, clusters, clean, perturbed = (np.concatenate(p) for p in zip(*parts))
        codes = np.clip(np.searchsorted(edges, chrf, side="left") - 1, 0, len(edges) - 2)
        for low, high in _merged_bins(np.bincount(codes, minlength=len(edges) - 1), settings.min_bin_items):
            inside = (codes >= low) & (codes < high)
            result = ClusterBootstrap([{arm: ArmScores(clean[inside], perturbed[inside])}], [clusters[inside]],
                                      settings.bootstrap, 1).drop(arm)
            rows.append({"task": task, "metric": metric, "arm": arm, "condition": condition,
                         "chrf_bin": f"{edges[low]:g}-{edges[high]:g}", "chrf_mid": (edges[low] + edges[high]) / 2,
                         "score": result.perturbed.estimate, "clean_score": result.clean.estimate,
                         "drop": result.drop.estimate, "ci_low": result.drop.ci_low, "ci_high": result.drop.ci_high,
                         "n": int(inside.sum()), "n_clusters": result.n_clusters})
    return pd.DataFrame(rows, columns=columns)


def summarize(
    scores: pd.DataFrame, attacks: pd.DataFrame | None = None, settings: SummarySettings = SummarySettings()
) -> Summary:
    """All of the study's tables from the per-example scores (and attack records)."""
    frame = _prepare_scores(scores)
    data = _align(frame)
    if not data.cells:
        raise ValueError("no (task, lang, perturbation) has clean and perturbed scores on shared example ids")
    primary = _resolve_primary_metrics(frame, settings)
    for task, arm_a, arm_b, condition in settings.headline:
        if not any(k[0] == task and k[3] == condition for k in data.cells):
            raise ValueError(f"headline cell ({task}, {arm_a} vs {arm_b}, {condition}) has no scores: "
                             f"the data have tasks/conditions {sorted({(k[0], k[3]) for k in data.cells})}")
    drop_rows, delta_rows = [], []
    by_group: dict[tuple[str, str, str], dict[str, _Cell]] = {}
    for (task, metric, lang, condition), cell in data.cells.items():
        by_group.setdefault((task, metric, condition), {})[lang] = cell
    # Metrics of one task and condition share example ids, hence cluster draws: keep them adjacent.
    for (task, metric, condition), cells in sorted(by_group.items(), key=lambda item: (item[0][0], item[0][2],
                                                                                        item[0][1])):
        groups = _Groups(cells, settings)
        drop_rows += _drop_rows(task, metric, condition, cells, groups, settings)
        delta_rows += _delta_rows(task, metric, condition, cells, groups, settings)
    comparisons = pd.DataFrame(delta_rows)
    if not comparisons.empty and settings.skipped_comparisons:
        keys = zip(comparisons["task"], comparisons["arm_a"], comparisons["arm_b"])
        comparisons = comparisons[[key not in set(settings.skipped_comparisons) for key in keys]]
        comparisons = comparisons.reset_index(drop=True)
    confounds = _changed_confounds(_confound_table(data, settings), comparisons)
    if not confounds.empty and settings.skipped_comparisons:
        keys = zip(confounds["task"], confounds["arm_a"], confounds["arm_b"])
        confounds = confounds[[key not in set(settings.skipped_comparisons) for key in keys]].reset_index(drop=True)
    if not comparisons.empty:
        comparisons = comparisons.merge(confounds[["task", "metric", "arm_a", "arm_b", "clean_gap", "confounded"]],
                                        on=["task", "metric", "arm_a", "arm_b"], how="left")
        comparisons["confounded"] = comparisons["confounded"].fillna(False).astype(bool)
        comparisons = _adjust(comparisons, settings, primary)
    n_seeds: dict[str, int] = {}
    for (task, arm), seeds in data.seeds.items():
        n_seeds[arm] = min(n_seeds.get(arm, len(seeds)), len(seeds))
    return Summary(
        clean=_clean_table(data, settings),
        arms=pd.DataFrame(drop_rows),
        comparisons=comparisons,
        confounds=confounds,
        attacks=attack_comparisons(attacks, settings),
        strength=strength_table(data, primary, settings),
        settings=settings,
        primary_metrics=primary,
        n_seeds=n_seeds,
        missing=data.missing,
    )


# ---------------------------------------------------------------------------------------------- outputs
def tasks(summary: Summary) -> list[str]:
    return sorted(summary.primary_metrics)


def headline_rows(summary: Summary) -> pd.DataFrame:
    """The answer: the headline cells (language averages, primary metric), in the order they were named.
    Without named cells: every language-averaged primary-metric cell (then exploratory, not an answer)."""
    table = summary.comparisons
    if table.empty:
        return table
    if summary.settings.headline:
        parts = [table[(table["task"] == t) & (table["metric"] == summary.primary_metrics.get(t))
                       & (table["arm_a"] == a) & (table["arm_b"] == b) & (table["condition"] == c)
                       & (table["lang"] == AVERAGE)] for t, a, b, c in summary.settings.headline]
        return pd.concat(parts, ignore_index=True)
    keep = [summary.primary_metrics.get(t) == m for t, m in zip(table["task"], table["metric"])]
    return table[np.array(keep) & (table["lang"] == AVERAGE).to_numpy()].reset_index(drop=True)

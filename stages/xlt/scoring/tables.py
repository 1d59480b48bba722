"""The study's tables from aligned cells (alignment.py): clean scores per arm, each arm's drop, arm-vs-arm Δ and
the clean-score confounds, one row per language and one per language average.

Of a cell's examples, the drop and Δ use only those the perturbation changed (`applied`); unchanged examples score
(nearly) the same perturbed as clean and would only dilute the drop towards 0. Each row reports coverage = changed
/ total, n (changed examples) and n_clusters. A cell with no changed example is "not applicable" (e.g. a
code-switching perturbation with no dictionary entry for the language): it gets no estimate and no p-value, and is
left out of language averages (which are then over the remaining languages). The all-examples ("diluted") drop and
Δ are kept beside them. Statistics: statistics.py (cluster bootstrap of seed-averaged scores with shared clusters
across languages, plus the between-run variance of per-seed estimates; Satterthwaite t). A row whose drop rests on
fewer than `min_clusters` changed clusters gets "too few clusters": its estimate and per-seed values are kept, its
interval and p-value are not computed.

Every comparison row carries the variance split (se, df, var_items, var_runs; each arm's s² of per-seed drops,
seed_var_a/b, and one run's item noise, var_interaction_a/b) and each arm's per-seed drops and clean scores
(per_seed_drop_a, ...: lists, one value per seed in seed order); arm and clean rows carry theirs likewise.

Language averages (AVERAGE) are over `average_languages[task]` (default: every language of the task) that are
applicable, unweighted.

Confounds: a comparison whose arms' clean scores (language average, same ids) differ by more than
`confound_threshold` is flagged `confounded`: a drop is measured from a different starting level, so Δ mixes
robustness with baseline skill (the relative drop is shown beside it for that reason). The same test on the
examples the drop is computed on (the changed ones of that cell) is `confounded_changed` (`clean_gap_changed`) on
every comparison row; the confound table names the conditions where a language average is confounded that way.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from stages.xlt.scoring.alignment import Aligned, Cell, CleanCell
from stages.xlt.scoring.finite import json_number
from stages.xlt.scoring.labels import AVERAGE
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import (
    NOT_APPLICABLE,
    ArmScores,
    ClusterBootstrap,
    DeltaResult,
    DropResult,
    Interval,
)


# ---------------------------------------------------------------------------------------------- the rows' languages
def language_sets(task: str, arms_by_lang: Mapping[str, Collection[str]], arm_sets: Iterable[tuple[str, ...]],
                  settings: SummarySettings, per_language: bool = True) -> Iterator[tuple[tuple[str, ...], str, list]]:
    """(arms, row label, languages it covers) for every set of arms (one arm, or a comparison's two): each language
    where all of them were scored (unless not `per_language`), then AVERAGE over those in the task's average set.
    An average over no language is left out."""
    for arms in arm_sets:
        langs = sorted(lang for lang, present in arms_by_lang.items() if all(arm in present for arm in arms))
        for lang in (langs if per_language else []) + [AVERAGE]:
            chosen = [lang] if lang != AVERAGE else settings.average_set(task, langs)
            if chosen:
                yield arms, lang, chosen


def _average_columns(chosen: Sequence[str], used: Sequence[str]) -> dict:
    """What a language average was over: the applicable languages, and the others left out."""
    return {"n_languages": len(used), "languages": ",".join(used),
            "not_applicable": ",".join(lang for lang in chosen if lang not in used)}


# ---------------------------------------------------------------------------------------------- columns
def _interval_columns(prefix: str, interval: Interval, blank: bool = False) -> dict:
    """estimate and interval; `blank` (too few clusters): the estimate only."""
    low, high = (math.nan, math.nan) if blank else (interval.ci_low, interval.ci_high)
    return {prefix: interval.estimate, f"{prefix}_ci_low": low, f"{prefix}_ci_high": high}


def _spread_columns(prefix: str, interval: Interval, blank: bool = False) -> dict:
    """se, df and the variance split of an interval (NaN when `blank`: too few clusters to estimate them)."""
    values = (math.nan,) * 4 if blank else (interval.se, interval.df, interval.var_items, interval.var_runs)
    return dict(zip((f"{prefix}se", f"{prefix}df", f"{prefix}var_items", f"{prefix}var_runs"), values))


def _seed_list(values) -> list[float]:
    """Per-seed values as a JSON-friendly list (rounded like every other number in detailed.json)."""
    return [json_number(v) for v in values]


def _coverage(cells: Sequence[Cell]) -> dict:
    changed, total = sum(c.n_changed for c in cells), sum(c.n_total for c in cells)
    return {"n": changed, "n_total": total, "coverage": changed / total if total else math.nan}


# ---------------------------------------------------------------------------------------------- drops and Δ
class _Groups:
    """ClusterBootstrap objects of one (task, metric, condition), built once per language set and shared by
    the arm table and every comparison."""

    def __init__(self, cells: Mapping[str, Cell], settings: SummarySettings) -> None:
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


def _drop_estimates(result: DropResult, cells: Mapping[str, Cell], used: Sequence[str],
                    settings: SummarySettings) -> dict:
    few = result.n_clusters < settings.min_clusters
    return {"n_clusters": result.n_clusters, "too_few_clusters": few,
            **_interval_columns("clean", result.clean, few),
            **_interval_columns("perturbed", result.perturbed, few),
            **_interval_columns("drop", result.drop, few), **_spread_columns("drop_", result.drop, few),
            **_interval_columns("relative_drop", result.relative_drop, few),
            "seed_var": result.seed_var, "var_interaction": result.var_interaction,
            "per_seed_drop": _seed_list(result.per_seed_drop),
            "per_seed_clean": _seed_list(result.per_seed_clean),
            "mean_chrf": float(np.nanmean(np.concatenate([cells[lang].chrf[cells[lang].changed] for lang in used]))),
            "n_resamples_used": result.n_resamples_used, "n_resamples_nan": result.n_resamples_nan}


def _drop_rows(task, metric, condition, cells: Mapping[str, Cell], groups: _Groups, settings) -> list[dict]:
    rows = []
    arms = sorted({arm for cell in cells.values() for arm in cell.clean})
    arms_by_lang = {lang: cell.clean for lang, cell in cells.items()}
    for (arm,), lang, chosen in language_sets(task, arms_by_lang, [(arm,) for arm in arms], settings):
        used = [lang for lang in chosen if cells[lang].applicable]
        row = {"task": task, "metric": metric, "arm": arm, "lang": lang, "condition": condition,
               **_coverage([cells[lang] for lang in chosen]), "applicable": bool(used),
               "diluted_drop": float(np.mean([cells[lang].diluted_drop(arm) for lang in chosen])),
               "n_seeds": cells[chosen[0]].clean[arm].shape[0]}
        if lang == AVERAGE:
            row |= _average_columns(chosen, used)
        if used:
            row |= _drop_estimates(groups.get(used).drop(arm), cells, used, settings)
        else:
            row |= {"n_clusters": 0, "too_few_clusters": False}
        rows.append(row)
    return rows


def _delta_estimates(r: DeltaResult, settings: SummarySettings) -> dict:
    few = r.n_clusters < settings.min_clusters
    delta = _interval_columns("delta", r.delta, few)
    relative = _interval_columns("r", r.relative_delta, few)
    gap = r.clean_a - r.clean_b
    return {"n_clusters": r.n_clusters, "too_few_clusters": few, "delta": delta["delta"],
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
            "n_resamples_nan": r.n_resamples_nan, "relative_n_resamples_nan": r.relative_delta.n_resamples_nan}


def _delta_rows(task, metric, condition, cells: Mapping[str, Cell], groups: _Groups, settings) -> list[dict]:
    rows = []
    arms_by_lang = {lang: cell.clean for lang, cell in cells.items()}
    for (arm_a, arm_b), lang, chosen in language_sets(task, arms_by_lang, settings.comparisons, settings):
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
            row |= _average_columns(chosen, used)
        if used:
            row |= _delta_estimates(groups.get(used).compare(arm_a, arm_b), settings)
        else:
            row |= {"n_clusters": 0, "too_few_clusters": False, "p_value": math.nan, "verdict": NOT_APPLICABLE}
        rows.append(row)
    return rows


def perturbed_rows(data: Aligned, settings: SummarySettings) -> tuple[list[dict], list[dict]]:
    """(every arm's drop rows, every comparison's Δ rows) of every (task, metric, condition)."""
    drop_rows, delta_rows = [], []
    by_group: dict[tuple[str, str, str], dict[str, Cell]] = {}
    for (task, metric, lang, condition), cell in data.cells.items():
        by_group.setdefault((task, metric, condition), {})[lang] = cell
    # Metrics of one task and condition share example ids, hence cluster draws: keep them adjacent.
    for (task, metric, condition), cells in sorted(by_group.items(), key=lambda item: (item[0][0], item[0][2],
                                                                                        item[0][1])):
        groups = _Groups(cells, settings)
        drop_rows += _drop_rows(task, metric, condition, cells, groups, settings)
        delta_rows += _delta_rows(task, metric, condition, cells, groups, settings)
    return drop_rows, delta_rows


# ---------------------------------------------------------------------------------------------- clean scores
def _clean_rows(task: str, metric: str, langs: Mapping[str, CleanCell], settings: SummarySettings) -> list[dict]:
    rows = []
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
    arms_by_lang = {lang: matrices for lang, (_, matrices) in langs.items()}
    for (arm,), lang, chosen in language_sets(task, arms_by_lang, [(arm,) for arm in arms], settings):
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
    return rows


def clean_table(data: Aligned, settings: SummarySettings) -> pd.DataFrame:
    """Each arm's clean score per language and language average, on every id all arms scored clean."""
    by_task: dict[tuple[str, str], dict[str, CleanCell]] = {}
    for (task, metric, lang), value in data.clean.items():
        by_task.setdefault((task, metric), {})[lang] = value
    return pd.DataFrame([row for (task, metric), langs in sorted(by_task.items())
                         for row in _clean_rows(task, metric, langs, settings)])


# ---------------------------------------------------------------------------------------------- confounds
def confound_table(data: Aligned, settings: SummarySettings) -> pd.DataFrame:
    """Clean-score gap between the arms of each comparison (language average over the languages both have), on
    all examples; `changed_confounds` adds the conditions whose changed examples alone exceed the threshold."""
    rows = []
    for task, metric in sorted({(t, m) for t, m, _ in data.clean}):
        langs = {lang: mats for (t, m, lang), (_, mats) in data.clean.items() if (t, m) == (task, metric)}
        for (arm_a, arm_b), _, both in language_sets(task, langs, settings.comparisons, settings, per_language=False):
            clean_a = float(np.mean([langs[lang][arm_a].mean() for lang in both]))
            clean_b = float(np.mean([langs[lang][arm_b].mean() for lang in both]))
            rows.append({"task": task, "metric": metric, "arm_a": arm_a, "arm_b": arm_b,
                         "comparison": f"{arm_a}_vs_{arm_b}", "clean_a": clean_a, "clean_b": clean_b,
                         "clean_gap": clean_a - clean_b,
                         "confounded": bool(abs(clean_a - clean_b) > settings.confound_threshold)})
    columns = ["task", "metric", "arm_a", "arm_b", "comparison", "clean_a", "clean_b", "clean_gap", "confounded"]
    return pd.DataFrame(rows, columns=columns)


def changed_confounds(confounds: pd.DataFrame, comparisons: pd.DataFrame) -> pd.DataFrame:
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

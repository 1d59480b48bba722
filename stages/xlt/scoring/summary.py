"""From the long per-example score table to the study's tables: per-arm drops, arm-vs-arm Δ, strength curves.

Input tables (pandas, long format):
* scores:  task, arm, seed, lang, condition, id, metric, value, chrf   (condition "clean" or a perturbation)
* attacks: task, arm, seed, lang, id, success, words_changed, queries  (model-aware attacks; may be empty)

Alignment: for each (task, metric, lang, perturbation) the statistics use only the example ids that have a
clean and a perturbed score for every arm and every seed, so every arm and both conditions are compared on
exactly the same examples (a perturbation that skipped an example removes it for everyone). The language
average ("avg") is a bootstrap stratified by language (see statistics.py) over `average_languages`.

Arm and condition names come from the data; the only names written here are defaults of parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from stages.xlt.io import atomic_path
from stages.xlt.scoring.statistics import (
    ArmScores,
    BootstrapSettings,
    DeltaResult,
    DropResult,
    bootstrap_drop,
    compare_drops,
)

CLEAN = "clean"
AVERAGE = "avg"
SCORE_COLUMNS = ("task", "arm", "seed", "lang", "condition", "id", "metric", "value")
ATTACK_COLUMNS = ("task", "arm", "seed", "lang", "id", "success", "words_changed", "queries")
DEFAULT_COMPARISONS: tuple[tuple[str, str], ...] = (("multi", "squad"), ("multi", "none"), ("squad", "none"))
DEFAULT_CHRF_BINS: tuple[float, ...] = (0, 50, 60, 70, 80, 90, 100)  # chrF on sacrebleu's 0–100 scale


@dataclass(frozen=True)
class SummarySettings:
    comparisons: tuple[tuple[str, str], ...] = DEFAULT_COMPARISONS
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    average_languages: tuple[str, ...] | None = None  # None: every language present
    primary_metrics: dict[str, str] = field(default_factory=lambda: {"qa": "f1"})  # headline metric per task
    chrf_bins: tuple[float, ...] = DEFAULT_CHRF_BINS


@dataclass(frozen=True)
class Summary:
    arms: pd.DataFrame  # task, metric, arm, lang, condition, clean, perturbed, drop(+ci), relative_drop(+ci), ...
    comparisons: pd.DataFrame  # task, metric, arm_a, arm_b, lang, condition, delta(+ci), p_value, verdict, ...
    attacks: pd.DataFrame  # task, arm, lang, success_rate, words_changed, queries, n_examples, n_seeds
    strength: pd.DataFrame  # task, metric, arm, condition, chrf_bin, chrf_mid, score, clean_score, n_examples
    settings: SummarySettings


# ---------------------------------------------------------------------------------------------- validation
def _require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}: it needs {list(columns)}")


def _check_scores(scores: pd.DataFrame) -> None:
    _require_columns(scores, SCORE_COLUMNS, "scores")
    if scores.empty:
        raise ValueError("scores table is empty: run the evaluate stage first")
    if not (scores["condition"] == CLEAN).any():
        raise ValueError(f"scores table has no {CLEAN!r} rows: drops need the unperturbed scores")
    keys = ["task", "arm", "seed", "lang", "condition", "id", "metric"]
    duplicated = scores.duplicated(keys)
    if duplicated.any():
        first = scores.loc[duplicated, keys].iloc[0].to_dict()
        raise ValueError(f"scores table has duplicate rows for {first}: each example is scored once per cell")


# ---------------------------------------------------------------------------------------------- alignment
def _matrices(scores: pd.DataFrame) -> dict[tuple, pd.DataFrame]:
    """(task, metric, lang, condition, arm) -> seed × id matrix of scores."""
    out = {}
    for key, group in scores.groupby(["task", "metric", "lang", "condition", "arm"], sort=True):
        out[key] = group.pivot(index="seed", columns="id", values="value").sort_index()
    return out


@dataclass(frozen=True)
class _Cell:
    """All arms of one (task, metric, lang, condition) aligned on shared seeds-per-arm and example ids."""

    arms: dict[str, ArmScores]
    ids: list[str]


def _aligned_cells(scores: pd.DataFrame) -> dict[tuple[str, str, str, str], _Cell]:
    matrices = _matrices(scores)
    cells: dict[tuple[str, str, str, str], _Cell] = {}
    perturbed_keys = sorted({k[:4] for k in matrices if k[3] != CLEAN})
    for task, metric, lang, condition in perturbed_keys:
        pairs = {}
        for arm in sorted({k[4] for k in matrices if k[:4] == (task, metric, lang, condition)}):
            clean = matrices.get((task, metric, lang, CLEAN, arm))
            if clean is None:
                continue
            perturbed = matrices[(task, metric, lang, condition, arm)]
            seeds = clean.index.intersection(perturbed.index)
            pairs[arm] = (clean.loc[seeds], perturbed.loc[seeds])
        if not pairs:
            continue
        ids = None
        for clean, perturbed in pairs.values():
            complete = clean.columns[clean.notna().all()].intersection(perturbed.columns[perturbed.notna().all()])
            ids = complete if ids is None else ids.intersection(complete)
        ids = sorted(ids)
        if not ids:
            continue
        arms = {arm: ArmScores(c[ids].to_numpy(), p[ids].to_numpy()) for arm, (c, p) in pairs.items()}
        cells[(task, metric, lang, condition)] = _Cell(arms, [str(i) for i in ids])
    return cells


def _average_languages(langs: Sequence[str], settings: SummarySettings) -> list[str]:
    if settings.average_languages is None:
        return sorted(langs)
    return [lang for lang in sorted(langs) if lang in settings.average_languages]


# ---------------------------------------------------------------------------------------------- tables
def _drop_row(result: DropResult) -> dict:
    return {
        "clean": result.clean.estimate,
        "perturbed": result.perturbed.estimate,
        "drop": result.drop.estimate,
        "drop_ci_low": result.drop.ci_low,
        "drop_ci_high": result.drop.ci_high,
        "relative_drop": result.relative_drop.estimate,
        "relative_drop_ci_low": result.relative_drop.ci_low,
        "relative_drop_ci_high": result.relative_drop.ci_high,
        "n_examples": result.n_examples,
        "n_seeds": result.n_seeds,
    }


def _delta_row(result: DeltaResult) -> dict:
    return {
        "delta": result.delta.estimate,
        "ci_low": result.delta.ci_low,
        "ci_high": result.delta.ci_high,
        "relative_delta": result.relative_delta.estimate,
        "relative_ci_low": result.relative_delta.ci_low,
        "relative_ci_high": result.relative_delta.ci_high,
        "p_value": result.p_value,
        "verdict": result.verdict,
        "drop_a": result.drop_a,
        "drop_b": result.drop_b,
        "n_examples": result.n_examples,
        "n_seeds_a": result.n_seeds_a,
        "n_seeds_b": result.n_seeds_b,
    }


def _groups_by_condition(cells: dict) -> dict[tuple[str, str, str], dict[str, _Cell]]:
    """(task, metric, condition) -> {lang: cell}."""
    grouped: dict[tuple[str, str, str], dict[str, _Cell]] = {}
    for (task, metric, lang, condition), cell in cells.items():
        grouped.setdefault((task, metric, condition), {})[lang] = cell
    return grouped


def _mean_chrf(scores: pd.DataFrame) -> pd.DataFrame:
    if "chrf" not in scores.columns:
        return pd.DataFrame(columns=["task", "metric", "arm", "lang", "condition", "mean_chrf"])
    perturbed = scores[scores["condition"] != CLEAN]
    by_lang = perturbed.groupby(["task", "metric", "arm", "lang", "condition"])["chrf"].mean().reset_index()
    by_avg = by_lang.groupby(["task", "metric", "arm", "condition"])["chrf"].mean().reset_index()
    by_avg["lang"] = AVERAGE
    return pd.concat([by_lang, by_avg], ignore_index=True).rename(columns={"chrf": "mean_chrf"})


def arm_table(scores: pd.DataFrame, cells: dict, settings: SummarySettings) -> pd.DataFrame:
    rows = []
    for (task, metric, condition), by_lang in sorted(_groups_by_condition(cells).items()):
        arms = sorted({arm for cell in by_lang.values() for arm in cell.arms})
        for arm in arms:
            langs = [lang for lang, cell in by_lang.items() if arm in cell.arms]
            for lang in sorted(langs):
                result = bootstrap_drop([by_lang[lang].arms[arm]], settings.bootstrap)
                rows.append({"task": task, "metric": metric, "arm": arm, "lang": lang, "condition": condition}
                            | _drop_row(result))
            average = _average_languages(langs, settings)
            if average:
                result = bootstrap_drop([by_lang[lang].arms[arm] for lang in average], settings.bootstrap)
                rows.append({"task": task, "metric": metric, "arm": arm, "lang": AVERAGE, "condition": condition}
                            | _drop_row(result) | {"n_languages": len(average)})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    return table.merge(_mean_chrf(scores), on=["task", "metric", "arm", "lang", "condition"], how="left")


def comparison_table(cells: dict, settings: SummarySettings) -> pd.DataFrame:
    rows = []
    for (task, metric, condition), by_lang in sorted(_groups_by_condition(cells).items()):
        for arm_a, arm_b in settings.comparisons:
            langs = sorted(lang for lang, cell in by_lang.items() if arm_a in cell.arms and arm_b in cell.arms)
            key = {"task": task, "metric": metric, "arm_a": arm_a, "arm_b": arm_b, "condition": condition}
            for lang in langs:
                cell = by_lang[lang]
                result = compare_drops([cell.arms[arm_a]], [cell.arms[arm_b]], settings.bootstrap)
                rows.append(key | {"lang": lang} | _delta_row(result))
            average = _average_languages(langs, settings)
            if average:
                result = compare_drops(
                    [by_lang[lang].arms[arm_a] for lang in average],
                    [by_lang[lang].arms[arm_b] for lang in average],
                    settings.bootstrap,
                )
                rows.append(key | {"lang": AVERAGE, "n_languages": len(average)} | _delta_row(result))
    return pd.DataFrame(rows)


def attack_table(attacks: pd.DataFrame | None) -> pd.DataFrame:
    """Attack success rate (and mean words changed / queries) per task × arm × lang, plus the 'avg' row."""
    columns = ["task", "arm", "lang", "success_rate", "words_changed", "queries", "n_examples", "n_seeds"]
    if attacks is None or attacks.empty:
        return pd.DataFrame(columns=columns)
    _require_columns(attacks, ATTACK_COLUMNS, "attacks")
    frame = attacks.assign(success=attacks["success"].astype(float))
    by_lang = (
        frame.groupby(["task", "arm", "lang"])
        .agg(success_rate=("success", "mean"), words_changed=("words_changed", "mean"),
             queries=("queries", "mean"), n_examples=("id", "nunique"), n_seeds=("seed", "nunique"))
        .reset_index()
    )
    by_avg = (
        by_lang.groupby(["task", "arm"])
        .agg(success_rate=("success_rate", "mean"), words_changed=("words_changed", "mean"),
             queries=("queries", "mean"), n_examples=("n_examples", "sum"), n_seeds=("n_seeds", "max"))
        .reset_index()
        .assign(lang=AVERAGE)
    )
    return pd.concat([by_lang, by_avg], ignore_index=True)[columns]


def strength_table(scores: pd.DataFrame, settings: SummarySettings) -> pd.DataFrame:
    """Perturbed score per chrF bin (how far the input moved) per task × metric × arm × condition, all languages."""
    columns = ["task", "metric", "arm", "condition", "chrf_bin", "chrf_mid", "score", "clean_score", "n_examples"]
    if "chrf" not in scores.columns:
        return pd.DataFrame(columns=columns)
    perturbed = scores[(scores["condition"] != CLEAN) & scores["chrf"].notna()]
    if perturbed.empty:
        return pd.DataFrame(columns=columns)
    edges = np.asarray(settings.chrf_bins, dtype=float)
    if perturbed["chrf"].min() < edges[0] or perturbed["chrf"].max() > edges[-1]:
        raise ValueError(
            f"chrF values span [{perturbed['chrf'].min()}, {perturbed['chrf'].max()}] outside the bins "
            f"[{edges[0]}, {edges[-1]}]: chrF must be on sacrebleu's 0–100 scale, or change chrf_bins"
        )
    clean = scores[scores["condition"] == CLEAN][["task", "metric", "arm", "seed", "lang", "id", "value"]]
    joined = perturbed.merge(clean.rename(columns={"value": "clean_value"}),
                             on=["task", "metric", "arm", "seed", "lang", "id"], how="left")
    codes = pd.cut(joined["chrf"], edges, include_lowest=True, labels=False).to_numpy(dtype=int)
    labels = np.array([f"{low:g}-{high:g}" for low, high in zip(edges[:-1], edges[1:])])
    joined = joined.assign(chrf_bin=labels[codes], chrf_mid=((edges[:-1] + edges[1:]) / 2)[codes])
    table = (
        joined.groupby(["task", "metric", "arm", "condition", "chrf_bin", "chrf_mid"], observed=True)
        .agg(score=("value", "mean"), clean_score=("clean_value", "mean"), n_examples=("id", "size"))
        .reset_index()
        .sort_values(["task", "metric", "arm", "condition", "chrf_mid"], ignore_index=True)
    )
    return table[columns]


def summarize(
    scores: pd.DataFrame, attacks: pd.DataFrame | None = None, settings: SummarySettings = SummarySettings()
) -> Summary:
    """All of the study's tables from the per-example scores (and attack records)."""
    _check_scores(scores)
    cells = _aligned_cells(scores)
    if not cells:
        raise ValueError("no (task, lang, perturbation) has clean and perturbed scores on shared example ids")
    return Summary(
        arms=arm_table(scores, cells, settings),
        comparisons=comparison_table(cells, settings),
        attacks=attack_table(attacks),
        strength=strength_table(scores, settings),
        settings=settings,
    )


# ---------------------------------------------------------------------------------------------- outputs
def primary_metric(summary: Summary, task: str) -> str:
    """The metric reported for a task: settings.primary_metrics, else f1, else accuracy, else the first one."""
    available = sorted(summary.arms.loc[summary.arms["task"] == task, "metric"].unique())
    preferred = summary.settings.primary_metrics.get(task)
    for metric in [preferred, "f1", "accuracy", *available]:
        if metric in available:
            return metric
    raise ValueError(f"task {task!r} has no scores in the summary")


def _finite(value: float) -> float | None:
    """JSON has no NaN: DVC and json readers choke on it, so it becomes null."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def headline(summary: Summary) -> dict[str, float | str | None]:
    """Small flat dict for `dvc metrics diff`, language-averaged, primary metric per task only.

    Keys: {task}.{metric}.{A}_vs_{B}.{condition}.{delta|ci_low|ci_high|p_value|verdict}
          {task}.{metric}.{arm}.clean                 (mean clean score over languages)
          {task}.{metric}.{arm}.{condition}           (mean perturbed score over languages)
          {task}.{metric}.{arm}.{condition}.drop      (absolute drop)
          {task}.{arm}.attack_success_rate            (when attacks were run)
    """
    out: dict[str, float | str | None] = {}
    for task in sorted(summary.arms["task"].unique()):
        metric = primary_metric(summary, task)
        comparisons = summary.comparisons
        rows = comparisons[(comparisons["task"] == task) & (comparisons["metric"] == metric)
                           & (comparisons["lang"] == AVERAGE)] if not comparisons.empty else comparisons
        for row in rows.itertuples():
            prefix = f"{task}.{metric}.{row.arm_a}_vs_{row.arm_b}.{row.condition}"
            for name in ("delta", "ci_low", "ci_high", "p_value"):
                out[f"{prefix}.{name}"] = _finite(getattr(row, name))
            out[f"{prefix}.verdict"] = row.verdict
        arms = summary.arms
        arms = arms[(arms["task"] == task) & (arms["metric"] == metric) & (arms["lang"] == AVERAGE)]
        for arm, group in arms.groupby("arm"):
            # Clean scores are on slightly different id sets per condition (alignment); report their mean.
            out[f"{task}.{metric}.{arm}.clean"] = _finite(group["clean"].mean())
            for row in group.itertuples():
                out[f"{task}.{metric}.{arm}.{row.condition}"] = _finite(row.perturbed)
                out[f"{task}.{metric}.{arm}.{row.condition}.drop"] = _finite(row.drop)
    attacks = summary.attacks
    for row in attacks[attacks["lang"] == AVERAGE].itertuples():
        out[f"{row.task}.{row.arm}.attack_success_rate"] = _finite(row.success_rate)
    return dict(sorted(out.items()))


def _json_value(value):
    if isinstance(value, (float, np.floating)):
        return _finite(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _nest(table: pd.DataFrame, keys: list[str]) -> dict:
    """Rows -> nested dict keyed by `keys` (in order); leaves hold the remaining columns, NaN as null."""
    out: dict = {}
    if table.empty:
        return out
    values = [c for c in table.columns if c not in keys]
    for record in table.to_dict(orient="records"):
        node = out
        for key in keys[:-1]:
            node = node.setdefault(str(record[key]), {})
        node[str(record[keys[-1]])] = {c: _json_value(record[c]) for c in values
                                       if not (isinstance(record[c], float) and math.isnan(record[c]))}
    return out


def detailed(summary: Summary) -> dict:
    """Every per-language and 'avg' number, nested for a second DVC metrics file (DVC flattens with dots):
    arms.{task}.{metric}.{arm}.{condition}.{lang}.{clean|perturbed|drop|drop_ci_low|...|mean_chrf|n_examples}
    comparisons.{task}.{metric}.{A}_vs_{B}.{condition}.{lang}.{delta|ci_low|ci_high|p_value|verdict|...}
    attacks.{task}.{arm}.{lang}.{success_rate|words_changed|queries|n_examples|n_seeds}
    """
    comparisons = summary.comparisons
    if not comparisons.empty:
        comparisons = comparisons.assign(comparison=comparisons["arm_a"] + "_vs_" + comparisons["arm_b"]).drop(
            columns=["arm_a", "arm_b"])
    return {
        "arms": _nest(summary.arms, ["task", "metric", "arm", "condition", "lang"]),
        "comparisons": _nest(comparisons, ["task", "metric", "comparison", "condition", "lang"]),
        "attacks": _nest(summary.attacks, ["task", "arm", "lang"]),
    }


def plot_tables(summary: Summary) -> dict[str, pd.DataFrame]:
    """Flat tables for `dvc plots` (CSV): drop.csv, delta.csv, strength.csv (primary metric per task)."""
    def primary(table: pd.DataFrame) -> pd.DataFrame:
        if table.empty:
            return table
        keep = [primary_metric(summary, task) == metric for task, metric in zip(table["task"], table["metric"])]
        return table[keep]

    drop = primary(summary.arms)[["task", "metric", "arm", "lang", "condition", "drop", "drop_ci_low",
                                  "drop_ci_high", "clean", "perturbed"]].rename(
        columns={"drop_ci_low": "ci_low", "drop_ci_high": "ci_high"})
    comparisons = primary(summary.comparisons)
    delta = comparisons.assign(comparison=comparisons["arm_a"] + "_vs_" + comparisons["arm_b"])[
        ["task", "metric", "comparison", "arm_a", "arm_b", "lang", "condition", "delta", "ci_low", "ci_high",
         "p_value", "verdict"]] if not comparisons.empty else comparisons
    strength = primary(summary.strength)
    # One self-describing label per row, so `dvc plots diff` can draw every row as its own bar or point
    # (DVC's templates colour by revision, not by a data column).
    drop = drop.assign(cell=drop["task"] + " " + drop["condition"] + " " + drop["lang"] + " | " + drop["arm"])
    if not delta.empty:
        delta = delta.assign(cell=delta["task"] + " " + delta["condition"] + " " + delta["lang"] + " | "
                             + delta["comparison"])
    if not strength.empty:
        strength = strength.assign(cell=strength["task"] + " " + strength["condition"] + " | " + strength["arm"])
    return {"drop": drop, "delta": delta, "strength": strength}


def write_plot_tables(summary: Summary, directory: str | Path) -> list[Path]:
    """Write drop.csv, delta.csv, strength.csv atomically into `directory`; returns the paths."""
    paths = []
    for name, table in plot_tables(summary).items():
        path = Path(directory) / f"{name}.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        paths.append(path)
    return paths

"""The study's small machine-readable outputs, shaped from a Summary: what `metrics diff` and `plots diff` read.

* headline rows: one small flat dict per row of the answer, so that a table of them (one row per file, a column
  per key) stays narrow: one per cell named in advance (Δ, interval, adjusted p, minimum detectable effect, in
  points) and one per target with each arm's clean language average (points);
* detailed: every cell, nested (task → metric → arm/comparison → condition → language → columns);
* plot tables: flat CSVs (headline cells with intervals, clean averages per arm, and the full drop / Δ /
  strength tables for anyone who wants every row).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from stages.xlt.io import atomic_path
from stages.xlt.scoring.finite import json_number
from stages.xlt.scoring.labels import AVERAGE
from stages.xlt.scoring.power import MDE_POWER, family_rule
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import PERMUTATION_SCOPE
from stages.xlt.scoring.summary import Summary, headline_rows, tasks

POINTS = 100.0


def _in_points(value) -> float | None:
    value = json_number(value)
    return None if value is None else round(POINTS * value, 2)


def _file_name(*parts: str) -> str:
    return ".".join(re.sub(r"[^A-Za-z0-9_-]", "_", str(part)) for part in parts) + ".json"


def headline_files(summary: Summary) -> dict[str, dict]:
    """File name -> flat dict, all in points (score × 100):
    {task}.{condition}.{A}-{B}.json: delta, ci_low, ci_high, p_adj, mde   (the cells named in advance; mde is the
                                      minimum detectable effect at 80% power under the headline family)
    clean.{task}.json:                {arm}: clean language average of the task's primary metric
    """
    out: dict[str, dict] = {}
    for row in headline_rows(summary).to_dict(orient="records"):
        out[_file_name(row["task"], row["condition"], f"{row['arm_a']}-{row['arm_b']}")] = {
            "delta": _in_points(row.get("delta")), "ci_low": _in_points(row.get("ci_low")),
            "ci_high": _in_points(row.get("ci_high")), "p_adj": json_number(row.get("p_adjusted")),
            "mde": _in_points(row.get("mde_family"))}
    clean = summary.clean
    for task in tasks(summary):
        averages = clean[(clean["task"] == task) & (clean["metric"] == summary.primary_metrics[task])
                         & (clean["lang"] == AVERAGE)]
        out[_file_name("clean", task)] = {row["arm"]: _in_points(row["clean"])
                                          for row in averages.to_dict(orient="records")}
    return out


def _json_value(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (float, np.floating)):
        return json_number(value)
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
        node[str(record[keys[-1]])] = {c: _json_value(record[c]) for c in values}
    return out


def statistics_settings(settings: SummarySettings) -> dict:
    """How every interval, p-value and minimum detectable effect was computed, in words and numbers."""
    return {"interval_method": settings.bootstrap.method_name, "alpha": settings.alpha,
            "min_clusters": settings.min_clusters, "p_permutation": PERMUTATION_SCOPE,
            "mde": f"smallest true Δ found with {MDE_POWER:.0%} power by the two-sided t test with the cell's "
                   "variance components, over the sampling variation of its estimated se and df (power.py); mde "
                   f"at alpha, mde_family at alpha / family_size: {family_rule(settings.multiplicity)}"}


def detailed(summary: Summary) -> dict:
    """Every cell, nested (0–1 scale):
    settings.{confidence|n_resamples|multiplicity|interval_scope|...}
    clean.{task}.{metric}.{arm}.{lang}.{clean|ci_low|ci_high|n|n_clusters|n_seeds}
    arms.{task}.{metric}.{arm}.{condition}.{lang}.{clean|perturbed|drop(+ci)|relative_drop(+ci)|coverage|n|...}
    comparisons.{task}.{metric}.{A}_vs_{B}.{condition}.{lang}.{delta|ci_low|ci_high|p_value|p_adjusted|family|
        verdict|coverage|n|n_clusters|diluted_delta|relative_delta(+ci)|confounded|...}
    confounds.{task}.{metric}.{A}_vs_{B}.{clean_a|clean_b|clean_gap|confounded}
    attacks.{task}.{A}_vs_{B}.{lang|pooled}.{n|success_a(+ci)|success_b(+ci)|p_value|p_adjusted|...}
    """
    settings = summary.settings
    return {
        "settings": {
            "confidence": settings.bootstrap.confidence, "n_resamples": settings.bootstrap.n_resamples,
            "bootstrap_seed": settings.bootstrap.seed, "seed_resampling": settings.bootstrap.seed_resampling,
            "n_permutations": settings.n_permutations, "multiplicity": settings.multiplicity,
            "confound_threshold": settings.confound_threshold, "attack_threshold": settings.attack_threshold,
            "interval_scope": summary.scope(), "n_seeds": dict(sorted(summary.n_seeds.items())),
            "primary_metrics": dict(sorted(summary.primary_metrics.items())),
            "headline": [list(cell) for cell in settings.headline], "missing_cells": list(summary.missing),
            "skipped_comparisons": [list(cell) for cell in settings.skipped_comparisons],
            **statistics_settings(settings),
        },
        "clean": _nest(summary.clean, ["task", "metric", "arm", "lang"]),
        "arms": _nest(summary.arms, ["task", "metric", "arm", "condition", "lang"]),
        "comparisons": _nest(summary.comparisons.drop(columns=["arm_a", "arm_b"], errors="ignore"),
                             ["task", "metric", "comparison", "condition", "lang"]),
        "confounds": _nest(summary.confounds.drop(columns=["arm_a", "arm_b"], errors="ignore"),
                           ["task", "metric", "comparison"]),
        "attacks": _nest(summary.attacks.drop(columns=["arm_a", "arm_b"], errors="ignore"),
                         ["task", "comparison", "lang"]),
    }


def _primary(summary: Summary, table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    keep = [summary.primary_metrics.get(task) == metric for task, metric in zip(table["task"], table["metric"])]
    return table[np.array(keep, dtype=bool)]


def plot_tables(summary: Summary) -> dict[str, pd.DataFrame]:
    """Flat tables (primary metric per task, 0–1 scale): headline.csv and clean.csv (the curated plots),
    drop.csv, delta.csv, strength.csv (every row, with its interval, coverage and n).

    Not-applicable cells are kept with empty estimates so the CSV shows what is missing.
    """
    drop = _primary(summary, summary.arms).rename(columns={"drop_ci_low": "ci_low", "drop_ci_high": "ci_high"})
    drop = drop.reindex(columns=["task", "metric", "arm", "lang", "condition", "drop", "ci_low", "ci_high",
                                 "relative_drop", "clean", "perturbed", "coverage", "n", "n_total", "n_clusters",
                                 "applicable"])
    delta = _primary(summary, summary.comparisons).reindex(
        columns=["task", "metric", "comparison", "arm_a", "arm_b", "lang", "condition", "delta", "ci_low",
                 "ci_high", "p_value", "p_adjusted", "verdict", "mde", "mde_family", "relative_delta",
                 "relative_ci_low", "relative_ci_high", "coverage", "n", "n_total", "n_clusters", "confounded",
                 "applicable"])
    headline = headline_rows(summary).reindex(
        columns=["task", "metric", "condition", "arm_a", "arm_b", "delta", "ci_low", "ci_high", "p_adjusted",
                 "verdict", "mde_family", "n", "n_total", "n_clusters"])
    headline = headline.assign(cell=headline["task"] + " · " + headline["condition"] + " · " + headline["arm_a"]
                               + " − " + headline["arm_b"])
    clean = _primary(summary, summary.clean)
    clean = clean[clean["lang"] == AVERAGE].reindex(columns=["task", "metric", "arm", "clean", "ci_low", "ci_high",
                                                             "n", "n_seeds"])
    return {"headline": headline, "clean": clean, "drop": drop, "delta": delta, "strength": summary.strength}


def write_plot_tables(summary: Summary, directory: str | Path) -> list[Path]:
    """Write every plot table as <name>.csv atomically into `directory`; returns the paths."""
    paths = []
    for name, table in plot_tables(summary).items():
        path = Path(directory) / f"{name}.csv"
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        paths.append(path)
    return paths

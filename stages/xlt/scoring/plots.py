"""Static figures (PNG) for the report: forest plots of Δ, per-arm drops, drop vs perturbation strength.

Inputs are the tables of summary.plot_tables(); every function writes one PNG atomically and returns its path.
Every figure shows uncertainty: a point with its interval at the confidence level passed in (never a
hard-coded level), and how many examples stand behind it. Palette: Okabe–Ito (colour-blind safe).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the stage runs without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from stages.xlt.io import atomic_path  # noqa: E402
from stages.xlt.scoring.labels import AVERAGE  # noqa: E402
from stages.xlt.scoring.statistics import DEGRADES, IMPROVES, confidence_label  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
VERDICT_COLOURS = {DEGRADES: "#D55E00", IMPROVES: "#0072B2"}
NEUTRAL = "#555555"
DPI = 150


def _save(figure: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(figure)
    return path


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        raise ValueError(f"{name} table is empty or lacks columns {missing}: pass summary.plot_tables()[{name!r}]")


def _language_order(langs) -> list[str]:
    """Languages alphabetically, the cross-language average last."""
    return sorted(lang for lang in set(langs) if lang != AVERAGE) + ([AVERAGE] if AVERAGE in set(langs) else [])


def _arm_colours(arms) -> dict[str, str]:
    return {arm: OKABE_ITO[i % len(OKABE_ITO)] for i, arm in enumerate(sorted(arms))}


def coverage_text(row, clusters: bool = False) -> str:
    """'48/50 changed' (', 12 clusters') or 'n/a (0/50 changed)'."""
    n, total = int(row["n"]), int(row["n_total"])
    if n == 0:
        return f"n/a (0/{total} changed)"
    text = f"{n}/{total} changed"
    if clusters and "n_clusters" in row and np.isfinite(row["n_clusters"]):
        text += f", {int(row['n_clusters'])} clusters"
    return text


def _verdict_legend(axes) -> None:
    """Say what the colours mean (adjusted p decides the verdict)."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", color=colour, label=label) for label, colour in
               ((f"{DEGRADES} (A less robust)", VERDICT_COLOURS[DEGRADES]),
                (f"{IMPROVES} (A more robust)", VERDICT_COLOURS[IMPROVES]), ("no evidence / other", NEUTRAL))]
    axes.legend(handles=handles, title="verdict (adjusted p)", fontsize=7, title_fontsize=7, loc="lower left",
                bbox_to_anchor=(0.0, 1.02), ncol=3, frameon=False)


def forest_plot(delta: pd.DataFrame, path: str | Path, arm_a: str, arm_b: str, confidence: float,
                metric_label: str = "F1", scope: str | None = None) -> Path:
    """Δ = drop(A) − drop(B) per language and the average, one panel per perturbation stacked vertically (so
    the text stays readable at report width): point, interval, a line at 0, coverage and clusters beside each
    row (not-applicable rows say so instead of a point), colour = verdict with a legend."""
    _require(delta, ["arm_a", "arm_b", "lang", "condition", "delta", "ci_low", "ci_high", "n", "n_total",
                     "verdict"], "delta")
    rows = delta[(delta["arm_a"] == arm_a) & (delta["arm_b"] == arm_b)]
    if rows.empty:
        raise ValueError(f"no Δ rows for {arm_a} vs {arm_b}: check the comparisons parameter")
    conditions = sorted(rows["condition"].unique())
    langs = _language_order(rows["lang"])
    level = confidence_label(confidence)
    finite = rows[["ci_low", "ci_high", "delta"]].to_numpy(dtype=float)
    limit = max(float(np.nanmax(np.abs(finite))) if np.isfinite(finite).any() else 0.0, 1e-6) * 100
    figure, axes_column = plt.subplots(len(conditions), 1, figsize=(6.4, 0.9 + (0.6 + 0.28 * len(langs))
                                                                    * len(conditions)),
                                       squeeze=False, sharex=True)
    for axes, condition in zip(axes_column[:, 0], conditions):
        data = rows[rows["condition"] == condition].set_index("lang")
        for y, lang in enumerate(langs):
            if lang not in data.index:
                continue
            r = data.loc[lang]
            if int(r["n"]) > 0 and np.isfinite(r["delta"]):
                colour = VERDICT_COLOURS.get(r["verdict"], NEUTRAL)
                axes.errorbar(100 * r["delta"], y, xerr=_bar_lengths(r["delta"], r["ci_low"], r["ci_high"]),
                              fmt="D" if lang == AVERAGE else "o", color=colour, capsize=3,
                              markersize=6 if lang == AVERAGE else 4)
            axes.annotate(coverage_text(r, clusters=True), xy=(1.02, y), xycoords=("axes fraction", "data"),
                          fontsize=7, va="center", color="black" if int(r["n"]) > 0 else NEUTRAL)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlim(-1.1 * limit, 1.1 * limit)
        axes.set_yticks(range(len(langs)), langs, fontsize=8)
        axes.set_ylim(len(langs) - 0.5, -0.5)
        axes.set_ylabel(condition, fontsize=8, rotation=0, ha="right", va="center")
        axes.grid(axis="x", alpha=0.3)
    axes_column[-1, 0].set_xlabel(f"Δ drop ({metric_label} points); right of 0: {arm_a} less robust")
    _verdict_legend(axes_column[0, 0])
    subtitle = f"points and {level} intervals; avg = mean of the applicable languages"
    if scope:
        subtitle += f"\nintervals cover {scope}"
    figure.suptitle(f"Δ drop = drop({arm_a}) − drop({arm_b})\n{subtitle}", fontsize=9, y=1.0)
    figure.tight_layout()
    return _save(figure, path)


def headline_forest(headline: pd.DataFrame, path: str | Path, confidence: float, scope: str | None = None) -> Path:
    """The cells named in advance, one row each: Δ with its interval, coloured by verdict, with n and MDE."""
    _require(headline, ["task", "condition", "arm_a", "arm_b", "delta", "ci_low", "ci_high", "verdict", "n",
                        "n_total"], "headline")
    figure, axes = plt.subplots(figsize=(6.4, 1.4 + 0.35 * len(headline)))
    labels = []
    for y, r in enumerate(headline.to_dict(orient="records")):
        labels.append(f"{r['task']} · {r['condition']}\n{r['arm_a']} − {r['arm_b']}")
        if int(r["n"]) > 0 and np.isfinite(r["delta"]):
            axes.errorbar(100 * r["delta"], y, xerr=_bar_lengths(r["delta"], r["ci_low"], r["ci_high"]), fmt="o",
                          color=VERDICT_COLOURS.get(r["verdict"], NEUTRAL), capsize=3, markersize=5)
        mde = r.get("mde_family")
        text = coverage_text(r, clusters=True) + (f", MDE {100 * mde:.1f}" if mde is not None and np.isfinite(mde)
                                                  else "")
        axes.annotate(text, xy=(1.02, y), xycoords=("axes fraction", "data"), fontsize=7, va="center")
    axes.axvline(0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(labels)), labels, fontsize=7)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.grid(axis="x", alpha=0.3)
    axes.set_xlabel("Δ drop (points); right of 0: arm A less robust")
    _verdict_legend(axes)
    title = f"The cells named in advance ({confidence_label(confidence)} intervals)"
    if scope:
        title += f"\nintervals cover {scope}"
    figure.suptitle(title, fontsize=9, y=1.0)
    figure.tight_layout()
    return _save(figure, path)


def drop_bars(drop: pd.DataFrame, path: str | Path, condition: str, confidence: float,
              metric_label: str = "F1") -> Path:
    """Grouped bars: drop on the changed examples per arm per language for one perturbation, with intervals;
    not-applicable languages are labelled instead of drawn."""
    _require(drop, ["arm", "lang", "condition", "drop", "ci_low", "ci_high", "n", "n_total"], "drop")
    rows = drop[drop["condition"] == condition]
    if rows.empty:
        choices = sorted(drop["condition"].unique())
        raise ValueError(f"no drop rows for condition {condition!r}: choose one of {choices}")
    langs = _language_order(rows["lang"])
    arms = sorted(rows["arm"].unique())
    colours = _arm_colours(arms)
    width = 0.8 / len(arms)
    figure, axes = plt.subplots(figsize=(max(5.0, 0.9 * len(langs) * max(1, len(arms)) / 2), 3.6))
    x = np.arange(len(langs))
    for k, arm in enumerate(arms):
        data = rows[rows["arm"] == arm].set_index("lang").reindex(langs)
        centre = 100 * data["drop"].to_numpy(dtype=float)
        errors = _bar_lengths(data["drop"], data["ci_low"], data["ci_high"])
        axes.bar(x + (k - (len(arms) - 1) / 2) * width, np.nan_to_num(centre), width,
                 yerr=np.nan_to_num(errors), capsize=2, color=colours[arm], label=arm, edgecolor="black",
                 linewidth=0.4)
    labels = []
    for lang in langs:
        first = rows[rows["lang"] == lang].iloc[0]
        n, total = int(first["n"]), int(first["n_total"])
        labels.append(f"{lang}\n{n}/{total}" if n > 0 else f"{lang}\nn/a (0/{total})")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xticks(x, labels, fontsize=7)
    axes.set_xlabel("language (avg = mean of applicable ones); changed / all examples")
    axes.set_ylabel(f"drop (clean − perturbed, {metric_label} points)")
    axes.set_title(f"Drop under '{condition}' on changed examples, per arm "
                   f"(error bars: {confidence_label(confidence)} cluster-bootstrap intervals)", fontsize=9)
    axes.legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def _bar_lengths(centre, low, high) -> np.ndarray:
    """Error-bar lengths (below, above) in points. A percentile interval need not contain its point estimate (with
    few clusters the bootstrap distribution can sit to one side of it): the bar then ends at the point."""
    centre, low, high = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (centre, low, high))
    return 100 * np.nan_to_num(np.clip(np.vstack([centre - low, high - centre]), 0.0, None))


def strength_curves(strength: pd.DataFrame, path: str | Path, confidence: float, metric_label: str = "F1") -> Path:
    """Drop vs chrF to the clean input (lower chrF = stronger perturbation): per bin (bins merged until each
    holds at least a handful of items, see strength.strength_table) each arm's drop with its interval, and n."""
    _require(strength, ["arm", "condition", "chrf_mid", "drop", "ci_low", "ci_high", "n"], "strength")
    conditions = sorted(strength["condition"].unique())
    arms = sorted(strength["arm"].unique())
    colours = _arm_colours(arms)
    n_columns = min(2, len(conditions))
    n_rows = -(-len(conditions) // n_columns)
    figure, grid = plt.subplots(n_rows, n_columns, figsize=(3.4 * n_columns, 2.9 * n_rows), squeeze=False,
                                sharey=True)
    for extra in grid.flat[len(conditions):]:
        extra.set_visible(False)
    panels = list(grid.flat[:len(conditions)])
    offsets = {arm: (k - (len(arms) - 1) / 2) * 0.8 for k, arm in enumerate(arms)}
    for axes, condition in zip(panels, conditions):
        rows = strength[strength["condition"] == condition]
        for arm, data in rows.groupby("arm"):
            data = data.sort_values("chrf_mid")
            centre = 100 * data["drop"].to_numpy(dtype=float)
            errors = _bar_lengths(data["drop"], data["ci_low"], data["ci_high"])
            axes.errorbar(data["chrf_mid"] + offsets[arm], centre, yerr=errors, marker="o", markersize=4,
                          linestyle="none", capsize=2, color=colours[arm], label=arm)
        for _, r in rows.drop_duplicates("chrf_bin").iterrows():
            axes.annotate(f"n={int(r['n'])}", xy=(r["chrf_mid"], 0.0), xycoords=("data", "axes fraction"),
                          fontsize=6, ha="center", va="bottom", color=NEUTRAL)
        axes.axhline(0, color="black", linewidth=0.6)
        axes.set_title(condition, fontsize=10)
        axes.invert_xaxis()  # stronger perturbations (lower chrF) to the right
        axes.grid(alpha=0.3)
    figure.supxlabel("chrF of the perturbed vs the clean input (bin centre, 0–100; lower = stronger)", fontsize=9)
    for axes in grid[:, 0]:
        axes.set_ylabel(f"drop ({metric_label} points)")
    panels[-1].legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(f"Drop vs perturbation strength, changed examples of all languages pooled "
                    f"({confidence_label(confidence)} intervals)", fontsize=10, y=1.04)
    return _save(figure, path)

"""Static figures (PNG) for the report: Δ heatmap, per-arm drops with CIs, score vs perturbation strength.

Inputs are the tables of summary.plot_tables(); every function writes one PNG atomically and returns its path.
Palette: Okabe–Ito (colour-blind safe) for arms; a diverging map centred at 0 (blue = A more robust,
red = A less robust) for Δ.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: the stage runs without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from stages.xlt.io import atomic_path  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
DPI = 150
AVERAGE = "avg"


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


def delta_heatmap(delta: pd.DataFrame, path: str | Path, arm_a: str, arm_b: str, metric_label: str = "F1") -> Path:
    """Language × perturbation heatmap of Δ = drop(A) − drop(B); '*' where the 95% CI excludes 0."""
    _require(delta, ["arm_a", "arm_b", "lang", "condition", "delta", "ci_low", "ci_high"], "delta")
    rows = delta[(delta["arm_a"] == arm_a) & (delta["arm_b"] == arm_b)]
    if rows.empty:
        raise ValueError(f"no Δ rows for {arm_a} vs {arm_b}: check the comparisons parameter")
    langs = _language_order(rows["lang"])
    conditions = sorted(rows["condition"].unique())
    grid = rows.pivot_table(index="lang", columns="condition", values="delta").reindex(index=langs, columns=conditions)
    low = rows.pivot_table(index="lang", columns="condition", values="ci_low").reindex_like(grid)
    high = rows.pivot_table(index="lang", columns="condition", values="ci_high").reindex_like(grid)
    values = 100 * grid.to_numpy(dtype=float)  # F1 points
    limit = max(float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0, 1e-6)
    figure, axes = plt.subplots(figsize=(1.6 + 1.3 * len(conditions), 0.9 + 0.45 * len(langs)))
    image = axes.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit), aspect="auto")
    for i in range(len(langs)):
        for j in range(len(conditions)):
            if not np.isfinite(values[i, j]):
                continue
            excludes_zero = low.iat[i, j] > 0 or high.iat[i, j] < 0
            label = f"{values[i, j]:+.1f}{'*' if excludes_zero else ''}"
            colour = "white" if abs(values[i, j]) > 0.6 * limit else "black"
            axes.text(j, i, label, ha="center", va="center", fontsize=8, color=colour,
                      fontweight="bold" if excludes_zero else "normal")
    axes.set_xticks(range(len(conditions)), conditions, rotation=30, ha="right")
    axes.set_yticks(range(len(langs)), langs)
    axes.set_xlabel("perturbation")
    axes.set_ylabel("target language (avg = mean over languages)")
    axes.set_title(f"Δ drop ({arm_a} − {arm_b}), {metric_label} points\n* 95% CI excludes 0; red = {arm_a} less robust",
                   fontsize=10)
    figure.colorbar(image, ax=axes, label=f"Δ drop ({metric_label} points)")
    return _save(figure, path)


def drop_bars(drop: pd.DataFrame, path: str | Path, condition: str, metric_label: str = "F1") -> Path:
    """Grouped bars: absolute drop per arm per language for one perturbation, with 95% CI error bars."""
    _require(drop, ["arm", "lang", "condition", "drop", "ci_low", "ci_high"], "drop")
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
        errors = 100 * np.vstack([data["drop"] - data["ci_low"], data["ci_high"] - data["drop"]]).astype(float)
        axes.bar(x + (k - (len(arms) - 1) / 2) * width, centre, width, yerr=errors, capsize=2,
                 color=colours[arm], label=arm, edgecolor="black", linewidth=0.4)
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_xticks(x, langs)
    axes.set_xlabel("target language (avg = mean over languages)")
    axes.set_ylabel(f"drop (clean − perturbed, {metric_label} points)")
    axes.set_title(f"Robustness drop under '{condition}' per arm (error bars: 95% bootstrap CI)", fontsize=10)
    axes.legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def strength_curves(strength: pd.DataFrame, path: str | Path, metric_label: str = "F1") -> Path:
    """Perturbed score vs chrF to the clean input (lower chrF = stronger perturbation), one line per arm."""
    _require(strength, ["arm", "condition", "chrf_mid", "score"], "strength")
    conditions = sorted(strength["condition"].unique())
    colours = _arm_colours(strength["arm"].unique())
    figure, axes_row = plt.subplots(1, len(conditions), figsize=(3.6 * len(conditions), 3.4), squeeze=False,
                                    sharey=True)
    for axes, condition in zip(axes_row[0], conditions):
        rows = strength[strength["condition"] == condition]
        for arm, data in rows.groupby("arm"):
            data = data.sort_values("chrf_mid")
            axes.plot(data["chrf_mid"], 100 * data["score"], marker="o", color=colours[arm], label=arm)
        axes.set_title(condition, fontsize=10)
        axes.invert_xaxis()  # stronger perturbations (lower chrF) to the right
        axes.grid(alpha=0.3)
    figure.supxlabel("chrF of the perturbed vs the clean input (bin centre, 0–100; lower = stronger)", fontsize=9)
    axes_row[0][0].set_ylabel(f"perturbed score ({metric_label} points)")
    axes_row[0][-1].legend(title="arm", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle("Score vs perturbation strength (all languages pooled)", fontsize=11)
    return _save(figure, path)

"""Write every scoring output (metrics JSON, plot CSVs, PNGs, the Markdown report) from one Summary.

The score stage only has to build the tables and call `publish`; file names depend on the data
(task, arm and condition names), never on hard-coded arms.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stages.xlt.io import write_json, write_text
from stages.xlt.scoring.attack_report import attack_samples
from stages.xlt.scoring.plots import drop_bars, forest_plot, strength_curves
from stages.xlt.scoring.report import render_report
from stages.xlt.scoring.summary import Summary, detailed, headline, plot_tables, tasks, write_plot_tables


def _safe(name: str) -> str:
    """File-name-safe version of a data-derived name (arm/condition names come from params)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name))


def write_figures(summary: Summary, plots_dir: str | Path) -> dict[str, Path]:
    """All PNGs (primary metric per task); returns caption -> path."""
    plots_dir = Path(plots_dir)
    tables = plot_tables(summary)
    confidence = summary.settings.bootstrap.confidence
    figures: dict[str, Path] = {}
    for task in tasks(summary):
        label = summary.primary_metrics[task].upper()
        delta = tables["delta"][tables["delta"]["task"] == task]
        for arm_a, arm_b in summary.settings.comparisons:
            if not ((delta["arm_a"] == arm_a) & (delta["arm_b"] == arm_b)).any():
                continue
            path = plots_dir / f"forest_{_safe(task)}_{_safe(arm_a)}_vs_{_safe(arm_b)}.png"
            caption = f"{task}: Δ drop ({arm_a} − {arm_b}) per language and perturbation, with intervals"
            figures[caption] = forest_plot(delta, path, arm_a, arm_b, confidence, label,
                                           summary.scope([arm_a, arm_b]))
        drop = tables["drop"][tables["drop"]["task"] == task]
        for condition in sorted(drop["condition"].unique()):
            path = plots_dir / f"drop_{_safe(task)}_{_safe(condition)}.png"
            figures[f"{task}: drop per arm and language under {condition}"] = drop_bars(
                drop, path, condition, confidence, label)
        strength = tables["strength"][tables["strength"]["task"] == task]
        if not strength.empty:
            path = plots_dir / f"strength_{_safe(task)}.png"
            figures[f"{task}: drop vs perturbation strength (chrF)"] = strength_curves(strength, path, confidence,
                                                                                       label)
    return figures


def publish(
    summary: Summary,
    setup: Mapping[str, Any],
    *,
    metrics_dir: str | Path,
    plots_dir: str | Path,
    report_path: str | Path,
    figures_dir: str | Path | None = None,
    headline_name: str = "headline.json",
    detailed_name: str = "detailed.json",
    attacks: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write headline + detailed metrics, plot CSVs, PNGs (in ``figures_dir``, default ``plots_dir``) and the
    report; with the attack records (``collect.attack_records``), also the reviewable sample of successful attacks
    in ``<report folder>/report/attack_samples.md``. Returns what was written."""
    metrics_dir, plots_dir, report_path = Path(metrics_dir), Path(plots_dir), Path(report_path)
    written = {"headline": metrics_dir / headline_name, "detailed": metrics_dir / detailed_name}
    write_json(written["headline"], headline(summary))
    write_json(written["detailed"], detailed(summary))
    for path in write_plot_tables(summary, plots_dir):
        written[path.stem] = path
    figures = write_figures(summary, figures_dir or plots_dir)
    links = {caption: Path(os.path.relpath(path, report_path.parent)).as_posix() for caption, path in figures.items()}
    write_text(report_path, render_report(summary, setup, links))
    written["report"] = report_path
    if attacks is not None:
        written["attack_samples"] = report_path.parent / "report" / "attack_samples.md"
        write_text(written["attack_samples"], attack_samples(attacks))
    written.update({f"figure:{path.stem}": path for path in figures.values()})
    return written

"""Write every scoring output from one Summary: the headline metrics, every cell, plot tables, PNGs, the report
and its per-target pages, and the training curves gathered for plotting.

The score stage only has to build the tables and call `publish`; file names depend on the data (task, arm and
condition names), never on hard-coded arms.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from stages.xlt.io import atomic_path, write_json, write_text
from stages.xlt.scoring.metrics_files import detailed, headline_files, plot_tables, write_plot_tables
from stages.xlt.scoring.plots import drop_bars, forest_plot, headline_forest, strength_curves
from stages.xlt.scoring.attack_report import attack_samples
from stages.xlt.scoring.report import render_report
from stages.xlt.scoring.report_detail import render_target_page
from stages.xlt.scoring.summary import Summary, headline_rows, tasks


def _safe(name: str) -> str:
    """File-name-safe version of a data-derived name (arm/condition names come from params)."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name))


def _main_comparisons(summary: Summary, task: str) -> list[tuple[str, str]]:
    """The comparisons a target's figure in the main report shows: those named in its headline cells, else the
    first comparison made on it."""
    named = [(a, b) for t, a, b, _ in summary.settings.headline if t == task]
    made = [(a, b) for a, b in summary.settings.comparisons
            if ((summary.comparisons["task"] == task) & (summary.comparisons["arm_a"] == a)
                & (summary.comparisons["arm_b"] == b)).any()] if not summary.comparisons.empty else []
    chosen = [c for c in dict.fromkeys(named) if c in made]
    return chosen or made[:1]


def write_figures(summary: Summary, figures_dir: str | Path, task_order: list[str] | None = None
                  ) -> tuple[dict[str, Path], dict[str, dict[str, Path]]]:
    """All PNGs (primary metric per task). Returns (the main report's figures: the headline forest and one per
    target, caption -> path; each target's own figures, task -> caption -> path)."""
    figures_dir = Path(figures_dir)
    tables = plot_tables(summary)
    confidence = summary.settings.bootstrap.confidence
    main: dict[str, Path] = {}
    per_task: dict[str, dict[str, Path]] = {}
    headline = headline_rows(summary)
    if not headline.empty:
        main["The cells named in advance: Δ with its interval"] = headline_forest(
            headline, figures_dir / "headline.png", confidence, summary.scope())
    order = [t for t in task_order or [] if t in tasks(summary)]
    for task in order + [t for t in tasks(summary) if t not in order]:
        label = summary.primary_metrics[task].upper()
        delta = tables["delta"][tables["delta"]["task"] == task]
        own: dict[str, Path] = {}
        for arm_a, arm_b in summary.settings.comparisons:
            if not ((delta["arm_a"] == arm_a) & (delta["arm_b"] == arm_b)).any():
                continue
            path = figures_dir / f"forest_{_safe(task)}_{_safe(arm_a)}_vs_{_safe(arm_b)}.png"
            caption = f"{task}: Δ drop ({arm_a} − {arm_b}) per language and perturbation, with intervals"
            own[caption] = forest_plot(delta, path, arm_a, arm_b, confidence, label, summary.scope([arm_a, arm_b]))
            if (arm_a, arm_b) in _main_comparisons(summary, task):
                main[caption] = path
        drop = tables["drop"][tables["drop"]["task"] == task]
        for condition in sorted(drop["condition"].unique()):
            path = figures_dir / f"drop_{_safe(task)}_{_safe(condition)}.png"
            own[f"{task}: drop per arm and language under {condition}"] = drop_bars(drop, path, condition,
                                                                                   confidence, label)
        strength = tables["strength"][tables["strength"]["task"] == task]
        if not strength.empty:
            path = figures_dir / f"strength_{_safe(task)}.png"
            own[f"{task}: drop vs perturbation strength (chrF)"] = strength_curves(strength, path, confidence, label)
        per_task[task] = own
    return main, per_task


def training_curves(folders: Mapping[str, Path]) -> dict[str, pd.DataFrame]:
    """Every model's loss curve of a training phase in one long table (model, step, loss), so that one plot per
    phase shows every arm and seed. `folders`: phase -> folder holding one sub-folder per model, whose training
    log keeps `plots/metrics/loss.tsv`, either directly (one task) or under one folder per task, which then gives
    one table per task ("<phase>_<task>")."""
    out: dict[str, list[pd.DataFrame]] = {}
    for phase, folder in folders.items():
        for path in sorted(Path(folder).glob("**/plots/metrics/loss.tsv")):
            model, *task = path.relative_to(folder).parts[:-3]
            name = "_".join([phase, *task])
            out.setdefault(name, []).append(pd.read_csv(path, sep="\t").assign(model=model)[["model", "step", "loss"]])
    return {name: pd.concat(frames, ignore_index=True) for name, frames in out.items()}


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    return path


def publish(
    summary: Summary,
    setup: Mapping[str, Any],
    *,
    headline_dir: str | Path,
    detailed_path: str | Path,
    plots_dir: str | Path,
    report_path: str | Path,
    figures_dir: str | Path,
    curves: Mapping[str, Path] | None = None,
    curves_dir: str | Path | None = None,
    attacks: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the headline files (``headline_dir``, replaced whole), every cell (``detailed_path``), plot tables
    (``plots_dir``), the training curves of the phases in ``curves`` (one CSV per phase in ``curves_dir``), PNGs
    (``figures_dir``), the report and its per-target pages (a folder named after the report, beside it), and with
    the attack records (``collect.attack_records``) the reviewable sample of successful attacks in that folder;
    returns what was written."""
    headline_dir, plots_dir, report_path = Path(headline_dir), Path(plots_dir), Path(report_path)
    written: dict[str, Path] = {}
    with atomic_path(headline_dir, is_dir=True) as tmp:
        for name, values in headline_files(summary).items():
            write_json(Path(tmp) / name, values)
    written["headline"] = headline_dir
    write_json(Path(detailed_path), detailed(summary))
    written["detailed"] = Path(detailed_path)
    for path in write_plot_tables(summary, plots_dir):
        written[f"plot:{path.stem}"] = path
    if curves_dir is not None:
        with atomic_path(curves_dir, is_dir=True) as tmp:
            for phase, table in training_curves(curves or {}).items():
                _write_csv(table, Path(tmp) / f"{phase}.csv")
        written["training_curves"] = Path(curves_dir)
    main, per_task = write_figures(summary, figures_dir, list(setup.get("targets", [])))
    pages_dir = report_path.with_suffix("")
    with atomic_path(pages_dir, is_dir=True) as tmp:
        for task, own in per_task.items():
            links = {caption: Path(os.path.relpath(path, pages_dir)).as_posix() for caption, path in own.items()}
            page = render_target_page(summary, task, links, (setup.get("target_notes") or {}).get(task),
                                      back_link=f"../{report_path.name}")
            write_text(Path(tmp) / f"{_safe(task)}.md", page)
            written[f"page:{task}"] = pages_dir / f"{_safe(task)}.md"
        if attacks is not None:
            write_text(Path(tmp) / "attack_samples.md", attack_samples(attacks))
            written["attack_samples"] = pages_dir / "attack_samples.md"
    details = {task: f"{pages_dir.name}/{_safe(task)}.md" for task in per_task}
    links = {caption: Path(os.path.relpath(path, report_path.parent)).as_posix() for caption, path in main.items()}
    write_text(report_path, render_report(summary, setup, links, details))
    written["report"] = report_path
    written.update({f"figure:{path.stem}": path for own in per_task.values() for path in own.values()})
    return written


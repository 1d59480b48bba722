"""The study's Markdown report: question, setup, the answer with numbers, tables, figures, limitations.

Every number comes from the Summary (summary.py) or from `setup`, a dict the caller builds from params:
  model: str                      e.g. "multilingual-e5-small"
  arms: {arm: [intermediate tasks]}
  target_tasks: [str]             optional
  data_sizes: {split: {lang: n}}  any nesting of split -> language -> count
  seeds: [int]
  perturbations: {name: {param: value}}   their strengths
  profile: str                    optional
Scores are reported ×100 ("points").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from stages.xlt.scoring.summary import AVERAGE, Summary, primary_metric

POINTS = 100.0


def _points(value: float, signed: bool = False) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{POINTS * value:+.1f}" if signed else f"{POINTS * value:.1f}"


def _p(value: float) -> str:
    """'p = 0.042' or 'p < 0.001' (the permutation test's resolution makes smaller values meaningless)."""
    if value is None or not np.isfinite(value):
        return "p = n/a"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _ci(low: float, high: float) -> str:
    return f"[{_points(low, True)}, {_points(high, True)}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _section_question(summary: Summary) -> str:
    comparisons = ", ".join(f"`{a}` vs `{b}`" for a, b in summary.settings.comparisons)
    return (
        "## Question\n\n"
        "Does multi-task English intermediate-task training make zero-shot cross-lingual transfer *less robust* "
        "to perturbations of the test inputs than single-task or no intermediate training? We measure the "
        "robustness **drop** of each arm (clean score − perturbed score on the same examples) and compare arms "
        f"by **Δ = drop(A) − drop(B)** ({comparisons}). Δ > 0 means arm A loses more under perturbation "
        "(is less robust) than arm B."
    )


def _format_sizes(sizes: Any) -> list[str]:
    if not isinstance(sizes, Mapping):
        return [f"- data: {sizes}"]
    lines = []
    for split, by_lang in sizes.items():
        if isinstance(by_lang, Mapping):
            detail = ", ".join(f"{lang} {n}" for lang, n in sorted(by_lang.items()))
            lines.append(f"- {split}: {detail}")
        else:
            lines.append(f"- {split}: {by_lang}")
    return lines


def _section_setup(summary: Summary, setup: Mapping[str, Any]) -> str:
    lines = ["## Setup", ""]
    if "profile" in setup:
        lines.append(f"- profile: `{setup['profile']}`")
    lines.append(f"- model: {setup.get('model', 'not given')}")
    arms = setup.get("arms", {})
    for arm, tasks in arms.items():
        tasks_text = ", ".join(tasks) if tasks else "none (target fine-tuning only)"
        lines.append(f"- arm `{arm}`: intermediate tasks {tasks_text}")
    if "target_tasks" in setup:
        lines.append(f"- target tasks (English training, zero-shot evaluation): {', '.join(setup['target_tasks'])}")
    seeds = setup.get("seeds", [])
    lines.append(f"- seeds: {', '.join(map(str, seeds)) if seeds else 'not given'} ({len(seeds)} per arm)")
    lines.append("- data sizes (examples):")
    lines += ["  " + line for line in _format_sizes(setup.get("data_sizes", "not given"))]
    lines.append("- perturbations and their strengths:")
    for name, params in setup.get("perturbations", {}).items():
        detail = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, Mapping) else str(params)
        lines.append(f"  - `{name}`: {detail}")
    bootstrap = summary.settings.bootstrap
    languages = summary.settings.average_languages
    seed_text = ("hierarchically (seeds, then examples)" if bootstrap.seed_resampling == "hierarchical"
                 else "not (averaged per example first)")
    lines.append(
        f"- statistics: paired bootstrap over examples ({bootstrap.n_resamples} resamples, seed {bootstrap.seed}, "
        f"{int(100 * bootstrap.confidence)}% percentile intervals; seeds resampled "
        f"{seed_text}); "
        "language averages stratified by language (unweighted mean over "
        f"{'all languages' if languages is None else ', '.join(languages)}); two-sided paired sign-flip "
        "permutation test for p-values. Scores are ×100 (points)."
    )
    return "\n".join(lines)


def _average_rows(table: pd.DataFrame, task: str, metric: str) -> pd.DataFrame:
    if table.empty:
        return table
    return table[(table["task"] == task) & (table["metric"] == metric) & (table["lang"] == AVERAGE)]


def _answer_sentence(row) -> str:
    return (f"`{row.condition}`: Δ = {_points(row.delta, True)} {_ci(row.ci_low, row.ci_high)}, "
            f"{_p(row.p_value)} ({row.verdict})")


def _section_answer(summary: Summary) -> str:
    lines = ["## Answer", ""]
    for task in sorted(summary.arms["task"].unique()):
        metric = primary_metric(summary, task)
        rows = _average_rows(summary.comparisons, task, metric)
        if rows.empty:
            lines.append(f"No arm comparison could be made for `{task}` (missing arms).")
            continue
        paragraph = []
        for arm_a, arm_b in summary.settings.comparisons:
            pair = rows[(rows["arm_a"] == arm_a) & (rows["arm_b"] == arm_b)]
            if pair.empty:
                continue
            verdicts = pair["verdict"].value_counts()
            n = len(pair)
            sentences = "; ".join(_answer_sentence(row) for row in pair.itertuples())
            paragraph.append(
                f"**{arm_a} vs {arm_b}** — averaged over languages, Δ drop in {metric.upper()} points "
                "per perturbation: "
                f"{sentences}. `{arm_a}` is less robust than `{arm_b}` (95% CI of Δ above 0) under "
                f"{verdicts.get('degrades', 0)} of {n} perturbations, more robust under "
                f"{verdicts.get('improves', 0)}, and the data are inconclusive under {verdicts.get('no evidence', 0)}."
            )
        lines.append(f"Task `{task}` ({metric.upper()}): " + " ".join(paragraph))
        lines.append("")
    return "\n".join(lines).rstrip()


def _arm_condition_table(summary: Summary, task: str, metric: str) -> str:
    rows = _average_rows(summary.arms, task, metric)
    conditions = sorted(rows["condition"].unique())
    header = ["arm", "clean"] + [f"{c} (drop, rel. drop)" for c in conditions]
    body = []
    for arm, group in rows.groupby("arm"):
        by_condition = group.set_index("condition")
        cells = [f"`{arm}`", _points(group["clean"].mean())]
        for c in conditions:
            if c in by_condition.index:
                r = by_condition.loc[c]
                cells.append(f"{_points(r['perturbed'])} ({_points(r['drop'], True)} "
                             f"{_ci(r['drop_ci_low'], r['drop_ci_high'])}, {100 * r['relative_drop']:.0f}%)")
            else:
                cells.append("n/a")
        body.append(cells)
    return _table(header, body)


def _delta_table(summary: Summary, task: str, metric: str, arm_a: str, arm_b: str) -> str | None:
    table = summary.comparisons
    rows = table[(table["task"] == task) & (table["metric"] == metric)
                 & (table["arm_a"] == arm_a) & (table["arm_b"] == arm_b)]
    if rows.empty:
        return None
    conditions = sorted(rows["condition"].unique())
    langs = sorted(lang for lang in rows["lang"].unique() if lang != AVERAGE) + [AVERAGE]
    body = []
    for lang in langs:
        cells = [f"**{lang}**" if lang == AVERAGE else lang]
        for c in conditions:
            match = rows[(rows["lang"] == lang) & (rows["condition"] == c)]
            if match.empty:
                cells.append("n/a")
                continue
            r = match.iloc[0]
            cells.append(
                f"{_points(r['delta'], True)} {_ci(r['ci_low'], r['ci_high'])}, {_p(r['p_value'])}, {r['verdict']}"
            )
        body.append(cells)
    return _table(["lang"] + conditions, body)


def _attack_table(summary: Summary) -> str | None:
    attacks = summary.attacks
    if attacks.empty:
        return None
    langs = sorted(lang for lang in attacks["lang"].unique() if lang != AVERAGE) + [AVERAGE]
    body = []
    for (task, arm), group in attacks.groupby(["task", "arm"]):
        by_lang = group.set_index("lang")["success_rate"]
        body.append([task, f"`{arm}`"] + [f"{100 * by_lang[l]:.0f}%" if l in by_lang.index else "n/a" for l in langs])
    return _table(["task", "arm"] + langs, body)


def _section_tables(summary: Summary) -> str:
    lines = ["## Results", ""]
    for task in sorted(summary.arms["task"].unique()):
        metric = primary_metric(summary, task)
        lines += [f"### `{task}`: {metric.upper()} per arm, averaged over languages", "",
                  "Clean score, and per perturbation: perturbed score (absolute drop [95% CI], relative drop).", "",
                  _arm_condition_table(summary, task, metric), ""]
        for arm_a, arm_b in summary.settings.comparisons:
            table = _delta_table(summary, task, metric, arm_a, arm_b)
            if table is not None:
                lines += [f"### `{task}`: Δ drop, `{arm_a}` − `{arm_b}` ({metric.upper()} points), per language", "",
                          "Δ [95% CI], permutation p-value, verdict from the CI.", "", table, ""]
    attacks = _attack_table(summary)
    if attacks is not None:
        lines += ["### Model-aware attacks: success rate", "", attacks, ""]
    return "\n".join(lines).rstrip()


def _section_figures(figures: Mapping[str, str]) -> str:
    lines = ["## Figures", ""]
    for caption, path in figures.items():
        lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip()


def _section_limitations(summary: Summary, setup: Mapping[str, Any]) -> str:
    n_seeds = len(setup.get("seeds", [])) or int(summary.arms["n_seeds"].max())
    smallest = int(summary.arms.loc[summary.arms["lang"] != AVERAGE, "n_examples"].min())
    model = setup.get("model", "the model")
    return "\n".join([
        "## What this does not show", "",
        f"- Scale: one small encoder ({model}); the paper-scale question (xlm-roberta-large) may behave differently.",
        f"- Seeds: {n_seeds} training seed(s) per arm. The intervals treat these as a sample of training runs, "
        "but so few seeds estimate seed-to-seed variance poorly; more seeds could widen the intervals.",
        f"- Test sets: as few as {smallest} aligned examples per language and perturbation; small effects "
        "(a few points) are below what these sizes can resolve, so 'no evidence' is not evidence of no effect.",
        *([] if setup.get("profile") == "paper" else [
            "- Intermediate tasks: offline they are derived from held-out English data, not the original English "
            "datasets of the paper, so the multi-task arm is a proxy for the paper's multi-task mixture."]),
        "- Perturbations: model-agnostic perturbations are synthetic and their strength is measured by chrF to the "
        "clean input, which does not say whether meaning was preserved; attack success is per arm and the "
        "attacked inputs differ between arms.",
        "- Many comparisons (arms × languages × perturbations) are reported; p-values are not corrected for "
        "multiplicity, so isolated per-language 'degrades' verdicts should be read with that in mind.",
    ])


def render_report(
    summary: Summary, setup: Mapping[str, Any], figures: Mapping[str, str] | None = None,
    title: str = "Robustness of zero-shot cross-lingual transfer after intermediate-task training",
) -> str:
    """The whole Markdown report. `figures` maps a caption to a PNG path relative to the report."""
    sections = [f"# {title}", _section_question(summary), _section_setup(summary, setup),
                _section_answer(summary), _section_tables(summary)]
    if figures:
        sections.append(_section_figures(figures))
    sections.append(_section_limitations(summary, setup))
    return "\n\n".join(sections) + "\n"

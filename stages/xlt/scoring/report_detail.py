"""One Markdown page per target (metrics/report/<target>.md): everything the main report summarises.

Clean scores per arm and language for every metric, the drop of every arm under every perturbation, every Δ
table (per language and averaged, with the relative Δ), the attack tables of that target, and its figures.
"""

from __future__ import annotations

from collections.abc import Mapping

from stages.xlt.scoring import formatting as fmt
from stages.xlt.scoring.attack_report import attack_section
from stages.xlt.scoring.finite import finite_or_none
from stages.xlt.scoring.labels import AVERAGE
from stages.xlt.scoring.statistics import NOT_APPLICABLE
from stages.xlt.scoring.summary import Summary


def _level(summary: Summary) -> str:
    return fmt.level(summary.settings.bootstrap.confidence)


def _with_average(langs) -> list[str]:
    return fmt.language_order(langs) + [AVERAGE]


def _header(langs) -> list[str]:
    return [f"**{lang}**" if lang == AVERAGE else lang for lang in langs]


def clean_table(summary: Summary, task: str, metric: str) -> str:
    clean = summary.clean
    rows = clean[(clean["task"] == task) & (clean["metric"] == metric)]
    langs = _with_average(rows["lang"])
    body = []
    for arm, group in rows.groupby("arm"):
        by_lang = group.set_index("lang")
        body.append([f"`{arm}`"] + [
            f"{fmt.points(by_lang.loc[lang, 'clean'])} "
            f"{fmt.interval(by_lang.loc[lang, 'ci_low'], by_lang.loc[lang, 'ci_high'], signed=False)}"
            if lang in by_lang.index else "n/a" for lang in langs])
    return fmt.table(["arm"] + _header(langs), body)


def drop_table(summary: Summary, task: str, metric: str) -> str:
    arms = summary.arms
    rows = arms[(arms["task"] == task) & (arms["metric"] == metric)]
    langs = _with_average(rows["lang"])
    body = []
    for condition in sorted(rows["condition"].unique()):
        block = rows[rows["condition"] == condition]
        coverage = block.drop_duplicates("lang").set_index("lang")
        body.append([f"`{condition}`", "*changed*"] + [fmt.changed(coverage.loc[lang]) if lang in coverage.index
                                                        else "n/a" for lang in langs])
        for arm, group in block.groupby("arm"):
            by_lang = group.set_index("lang")
            cells = ["", f"`{arm}`"]
            for lang in langs:
                if lang not in by_lang.index or not by_lang.loc[lang, "applicable"]:
                    cells.append("n/a")
                    continue
                r = by_lang.loc[lang]
                cells.append(f"{fmt.points(r['drop'], True)} {fmt.interval(r['drop_ci_low'], r['drop_ci_high'])}")
            body.append(cells)
    return fmt.table(["perturbation", "arm"] + _header(langs), body)


def delta_table(summary: Summary, task: str, metric: str, arm_a: str, arm_b: str) -> str | None:
    table = summary.comparisons
    rows = table[(table["task"] == task) & (table["metric"] == metric) & (table["arm_a"] == arm_a)
                 & (table["arm_b"] == arm_b)]
    if rows.empty:
        return None
    body = []
    for condition in sorted(rows["condition"].unique()):
        block = rows[rows["condition"] == condition].set_index("lang")
        for lang in _with_average(block.index):
            if lang not in block.index:
                continue
            r = block.loc[lang]
            name = f"**{lang}**" if lang == AVERAGE else lang
            if not r["applicable"]:
                body.append([f"`{condition}`", name, fmt.changed(r), "n/a", "n/a", "n/a", NOT_APPLICABLE, "n/a", "n/a"])
                continue
            body.append([f"`{condition}`", name, fmt.changed(r),
                         f"{fmt.points(r['delta'], True)} {fmt.interval(r['ci_low'], r['ci_high'])}",
                         fmt.p_text(r["p_value"]), fmt.p_text(r["p_adjusted"]), str(r["verdict"]),
                         fmt.points(r.get("mde_family")) if finite_or_none(r.get("mde_family")) is not None else "n/a",
                         f"{fmt.points(r['relative_delta'], True)} "
                         f"{fmt.interval(r['relative_ci_low'], r['relative_ci_high'])}"])
    return fmt.table(["perturbation", "lang", "changed", f"Δ [{_level(summary)} interval]", "p", "adjusted p",
                      "verdict", "MDE (80%)", "relative Δ (% of clean) [interval]"], body)


def render_target_page(summary: Summary, task: str, figures: Mapping[str, str] | None = None,
                       note: str | None = None, back_link: str = "../report.md") -> str:
    """The detail page of one target; `figures` maps a caption to a PNG path relative to the page."""
    level = _level(summary)
    primary = summary.primary_metrics[task]
    metrics = [primary] + sorted(set(summary.clean.loc[summary.clean["task"] == task, "metric"]) - {primary})
    lines = [f"# `{task}`: every cell", "", f"[← the report]({back_link})" + (f". {note}" if note else ""), ""]
    for metric in metrics:
        lines += [f"## Clean {metric} per arm and language [{level} interval]", "",
                  clean_table(summary, task, metric), ""]
    for metric in metrics:
        label = metric.upper()
        lines += [f"## Drops, {label} (clean − perturbed on the changed examples) [{level} interval]", "",
                  "The *changed* row gives coverage (changed / all examples).", "",
                  drop_table(summary, task, metric), ""]
        confounds = summary.confounds
        for arm_a, arm_b in summary.settings.comparisons:
            body = delta_table(summary, task, metric, arm_a, arm_b)
            if body is None:
                continue
            flag = confounds[(confounds["task"] == task) & (confounds["metric"] == metric)
                             & (confounds["arm_a"] == arm_a) & (confounds["arm_b"] == arm_b)]
            note_text = " — **confounded** (clean scores differ)" if flag["confounded"].any() else ""
            secondary = "" if metric == primary else " (secondary metric: exploratory)"
            lines += [f"### Δ drop, `{arm_a}` − `{arm_b}`, {label}{note_text}{secondary}", "", body, ""]
    lines += attack_section(summary, task=task, samples_link="attack_samples.md")
    if figures:
        lines += ["## Figures", ""]
        for caption, path in figures.items():
            lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"

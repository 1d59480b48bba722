"""The study's Markdown report: question, setup, the answer with numbers, tables, figures, limitations.

Every number comes from the Summary (summary.py) or from `setup`, a dict the caller builds from params:
  profile: str                    optional
  model: str                      e.g. "multilingual-e5-small"
  arms: {arm: [intermediate tasks]}
  intermediate_steps, transfer_steps: int or {arm: int}   optional training steps
  target_tasks: [str]             tasks and their languages, optional
  seeds: [int]
  data_sizes: {split: {name: n}}  any nesting of split -> name -> count
  perturbations: {name: {param: value}}   their strengths
  confounds: [str]                optional free-text design confounds, printed under the comparisons
  limitations: [str]              optional extra lines for "What this does not show"
Scores are reported ×100 ("points"). Every confidence level printed comes from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stages.xlt.scoring.attack_report import attack_section
from stages.xlt.scoring.statistics import DEGRADES, IMPROVES, NO_EVIDENCE, NOT_APPLICABLE, confidence_label
from stages.xlt.scoring.summary import AVERAGE, POOLED, Summary, headline_rows, tasks

POINTS = 100.0
MULTIPLICITY_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


def _finite(value) -> bool:
    try:
        return value is not None and bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _points(value: float, signed: bool = False) -> str:
    if not _finite(value):
        return "n/a"
    return f"{POINTS * value:+.1f}" if signed else f"{POINTS * value:.1f}"


def _p(value: float) -> str:
    """'0.042' or '< 0.001' (the bootstrap's resolution makes smaller values meaningless)."""
    if not _finite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _p_is(name: str, value: float) -> str:
    """'p = 0.042' or 'p < 0.001'."""
    text = _p(value)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def _ci(low: float, high: float, signed: bool = True) -> str:
    return f"[{_points(low, signed)}, {_points(high, signed)}]"


def _changed(row) -> str:
    """'48/50' or 'n/a (0/50 changed)'."""
    n, total = int(row["n"]), int(row["n_total"])
    return f"{n}/{total}" if n > 0 else f"n/a (0/{total} changed)"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _level(summary: Summary) -> str:
    return confidence_label(summary.settings.bootstrap.confidence)


def _method(summary: Summary) -> str:
    return MULTIPLICITY_NAMES[summary.settings.multiplicity]


def _lang_order(langs) -> list[str]:
    return sorted(lang for lang in set(langs) if lang not in (AVERAGE, POOLED))


def _meaning(row) -> str:
    a, b = f"`{row['arm_a']}`", f"`{row['arm_b']}`"
    return {
        DEGRADES: f"{a} is less robust than {b}",
        IMPROVES: f"{a} is more robust than {b}",
        NO_EVIDENCE: f"the data cannot tell {a} and {b} apart (this is not evidence that they are equally robust)",
        NOT_APPLICABLE: "not applicable: the perturbation changed no example",
    }[row["verdict"]]


# ---------------------------------------------------------------------------------------------- sections
def _section_question(summary: Summary) -> str:
    comparisons = ", ".join(f"`{a}` vs `{b}`" for a, b in summary.settings.comparisons)
    return (
        "## Question\n\n"
        "Does multi-task English intermediate-task training make zero-shot cross-lingual transfer *less robust* "
        "to perturbations of the test inputs than single-task or no intermediate training? We measure the "
        "robustness **drop** of each arm (clean score − perturbed score on the same examples, restricted to the "
        "examples the perturbation actually changed) and compare arms by **Δ = drop(A) − drop(B)** "
        f"({comparisons}). Δ > 0 means arm A loses more under perturbation (is less robust) than arm B."
    )


def _format_sizes(sizes: Any) -> list[str]:
    if not isinstance(sizes, Mapping):
        return [f"- {sizes}"]
    lines = []
    for split, by_name in sizes.items():
        if isinstance(by_name, Mapping):
            detail = ", ".join(f"{name} {n}" for name, n in sorted(by_name.items()))
            lines.append(f"- {split}: {detail}")
        else:
            lines.append(f"- {split}: {by_name}")
    return lines


def _steps(setup: Mapping[str, Any], key: str, arm: str):
    value = setup.get(key)
    if isinstance(value, Mapping):
        return value.get(arm)
    return value


def _seed_text(summary: Summary) -> str:
    if sorted(set(summary.n_seeds.values())) == [1]:
        return "one training run per arm, so there is no seed level to resample"
    if summary.settings.bootstrap.seed_resampling == "average":
        return "each arm's seeds averaged per example before resampling"
    return "each arm's seeds resampled with replacement within every replicate (hierarchical)"


def _section_setup(summary: Summary, setup: Mapping[str, Any]) -> str:
    lines = ["## Setup", ""]
    if "profile" in setup:
        lines.append(f"- profile: `{setup['profile']}`")
    lines.append(f"- model: {setup.get('model', 'not given')}")
    for arm, arm_tasks in setup.get("arms", {}).items():
        tasks_text = ", ".join(arm_tasks) if arm_tasks else "none"
        intermediate, transfer = _steps(setup, "intermediate_steps", arm), _steps(setup, "transfer_steps", arm)
        steps = []
        if arm_tasks and intermediate is not None:
            steps.append(f"{intermediate} intermediate steps")
        if transfer is not None:
            steps.append(f"{transfer} target fine-tuning steps")
        lines.append(f"- arm `{arm}`: intermediate tasks {tasks_text}" + (f" ({', '.join(steps)})" if steps else ""))
    if "target_tasks" in setup:
        lines.append("- target tasks (English training, zero-shot evaluation) and languages: "
                     + "; ".join(map(str, setup["target_tasks"])))
    seeds = setup.get("seeds", [])
    lines.append(f"- seeds: {', '.join(map(str, seeds)) if seeds else 'not given'}; training seeds per arm in the "
                 f"scores: {', '.join(f'{arm} {n}' for arm, n in sorted(summary.n_seeds.items()))}")
    if "data_sizes" in setup:
        lines.append("- data sizes (examples):")
        lines += ["  " + line for line in _format_sizes(setup["data_sizes"])]
    if setup.get("perturbations"):
        lines.append("- perturbations and their strengths:")
        for name, params in setup["perturbations"].items():
            detail = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, Mapping) else str(params)
            lines.append(f"  - `{name}`: {detail}")
    lines.append("- comparisons (A vs B, Δ = drop(A) − drop(B)): "
                 + ", ".join(f"`{a}` vs `{b}`" for a, b in summary.settings.comparisons))
    for confound in setup.get("confounds", []) or []:
        lines.append(f"  - design confound: {confound}")
    settings, bootstrap = summary.settings, summary.settings.bootstrap
    averages = settings.average_languages
    lines.append(
        f"- statistics: cluster bootstrap ({bootstrap.n_resamples} replicates, seed {bootstrap.seed}): clusters "
        "(paragraph, premise, connected pairs, or the item itself) are resampled, the same drawn clusters in "
        "every language, because items are translations of each other; "
        + _seed_text(summary)
        + f". {_level(summary)} percentile intervals and two-sided p-values from the same replicates (an interval "
        f"excludes 0 exactly when p < {settings.alpha:.3g}); a cluster-level sign-flip permutation test "
        f"({settings.n_permutations} permutations) is reported beside it in detailed.json. p-values are adjusted "
        f"with {_method(summary)} within families (per-language cells: the languages of one comparison under one "
        "perturbation; headline cells: together; other language averages: the perturbations of one comparison) "
        "and verdicts use the adjusted p. Language averages are unweighted means over the applicable "
        + ("languages" if averages is None else
           "languages among " + "; ".join(f"{t}: {', '.join(v)}" for t, v in sorted(averages.items())))
        + f". A comparison is flagged *confounded* when its arms' clean scores differ by more than "
        f"{_points(settings.confound_threshold)} points. Scores are ×100 (points)."
    )
    lines.append(f"- **intervals cover {summary.scope()}**.")
    return "\n".join(lines)


def _section_answer(summary: Summary) -> str:
    lines = ["## Answer", ""]
    rows = headline_rows(summary)
    level = _level(summary)
    if summary.settings.headline:
        size = int(rows["family_size"].max()) if not rows.empty and rows["family_size"].notna().any() else 0
        lines.append(f"The answer was named in advance as {len(summary.settings.headline)} language-averaged "
                     f"cell(s); their p-values are adjusted together ({_method(summary)}, {size} tested).")
    else:
        lines.append("**No headline cells were named in advance** (`score.headline`), so there is no single "
                     "answer; the language-averaged cells of each task's primary metric are listed below as "
                     "exploratory results, each adjusted within its own family.")
    lines.append("")
    for row in rows.to_dict(orient="records"):
        metric = row["metric"].upper()
        head = f"- `{row['task']}` ({metric}), `{row['arm_a']}` vs `{row['arm_b']}` under `{row['condition']}`: "
        if row["verdict"] == NOT_APPLICABLE:
            lines.append(head + f"not applicable: the perturbation changed none of the {int(row['n_total'])} "
                         "examples in the averaged languages.")
            continue
        text = (head + f"Δ = {_points(row['delta'], True)} {metric} points, {level} interval "
                f"{_ci(row['ci_low'], row['ci_high'])}, {_p_is('p', row['p_value'])}, "
                f"{_p_is('adjusted p', row['p_adjusted'])}: **{row['verdict']}** — {_meaning(row)}. Averaged over "
                f"{int(row['n_languages'])} language(s) ({row['languages'].replace(',', ', ')}) on {int(row['n'])} "
                f"changed examples "
                f"({100 * row['coverage']:.0f}% coverage, {int(row['n_clusters'])} clusters); relative Δ "
                f"{_points(row['relative_delta'], True)}% of the clean score "
                f"{_ci(row['relative_ci_low'], row['relative_ci_high'])}.")
        if row.get("not_applicable"):
            text += f" Not applicable (no changed example) and left out: {row['not_applicable']}."
        if row["confounded"]:
            text += (f" **Confounded**: the arms' clean {metric} differs by {_points(abs(row['clean_gap']))} "
                     "points, so Δ mixes robustness with baseline skill.")
        lines.append(text)
    arms = sorted(set(rows["arm_a"]) | set(rows["arm_b"])) if not rows.empty else None
    lines += ["", f"These intervals cover {summary.scope(arms)}."]
    return "\n".join(lines)


def _section_confounds(summary: Summary, setup: Mapping[str, Any]) -> str:
    lines = ["## Confounds", ""]
    threshold = _points(summary.settings.confound_threshold)
    flagged = []
    for task in tasks(summary):
        metric = summary.primary_metrics[task]
        table = summary.confounds
        for row in table[(table["task"] == task) & (table["metric"] == metric)].to_dict(orient="records"):
            if row["confounded"]:
                flagged.append(
                    f"- **`{row['arm_a']}` vs `{row['arm_b']}` on `{task}` is confounded**: clean {metric.upper()} "
                    f"{_points(row['clean_a'])} vs {_points(row['clean_b'])} (gap {_points(row['clean_gap'], True)} "
                    f"points, threshold {threshold}). Its Δ compares drops from different starting levels, so it "
                    "mixes robustness with baseline skill; read the relative Δ beside it, and do not read a "
                    "difference in drop as a difference in robustness alone.")
    if flagged:
        lines += flagged
    else:
        lines.append(f"No comparison's arms differ in clean score (primary metric, language average) by more than "
                     f"{threshold} points.")
    extra = setup.get("confounds", []) or []
    if extra:
        lines += ["", "Design confounds stated with the setup:"] + [f"- {c}" for c in extra]
    return "\n".join(lines)


def _clean_table(summary: Summary, task: str, metric: str) -> str:
    clean = summary.clean
    rows = clean[(clean["task"] == task) & (clean["metric"] == metric)]
    langs = _lang_order(rows["lang"]) + [AVERAGE]
    body = []
    for arm, group in rows.groupby("arm"):
        by_lang = group.set_index("lang")
        cells = [f"`{arm}`"]
        for lang in langs:
            if lang in by_lang.index:
                r = by_lang.loc[lang]
                cells.append(f"{_points(r['clean'])} {_ci(r['ci_low'], r['ci_high'], signed=False)}")
            else:
                cells.append("n/a")
        body.append(cells)
    return _table(["arm"] + [f"**{lang}**" if lang == AVERAGE else lang for lang in langs], body)


def _drop_table(summary: Summary, task: str, metric: str) -> str:
    arms = summary.arms
    rows = arms[(arms["task"] == task) & (arms["metric"] == metric)]
    langs = _lang_order(rows["lang"]) + [AVERAGE]
    body = []
    for condition in sorted(rows["condition"].unique()):
        block = rows[rows["condition"] == condition]
        coverage = block.drop_duplicates("lang").set_index("lang")
        body.append([f"`{condition}`", "*changed*"] + [_changed(coverage.loc[lang]) if lang in coverage.index else "n/a"
                                                        for lang in langs])
        for arm, group in block.groupby("arm"):
            by_lang = group.set_index("lang")
            cells = ["", f"`{arm}`"]
            for lang in langs:
                if lang not in by_lang.index:
                    cells.append("n/a")
                    continue
                r = by_lang.loc[lang]
                cells.append("n/a" if not r["applicable"] else
                             f"{_points(r['drop'], True)} {_ci(r['drop_ci_low'], r['drop_ci_high'])}")
            body.append(cells)
    return _table(["perturbation", "arm"] + [f"**{lang}**" if lang == AVERAGE else lang for lang in langs], body)


def _delta_table(summary: Summary, task: str, metric: str, arm_a: str, arm_b: str) -> str | None:
    table = summary.comparisons
    rows = table[(table["task"] == task) & (table["metric"] == metric) & (table["arm_a"] == arm_a)
                 & (table["arm_b"] == arm_b)]
    if rows.empty:
        return None
    body = []
    for condition in sorted(rows["condition"].unique()):
        block = rows[rows["condition"] == condition].set_index("lang")
        for lang in _lang_order(block.index) + [AVERAGE]:
            if lang not in block.index:
                continue
            r = block.loc[lang]
            name = f"**{lang}**" if lang == AVERAGE else lang
            if not r["applicable"]:
                body.append([f"`{condition}`", name, _changed(r), "n/a", "n/a", "n/a", NOT_APPLICABLE, "n/a"])
                continue
            body.append([f"`{condition}`", name, _changed(r),
                         f"{_points(r['delta'], True)} {_ci(r['ci_low'], r['ci_high'])}", _p(r["p_value"]),
                         _p(r["p_adjusted"]), r["verdict"],
                         f"{_points(r['relative_delta'], True)} {_ci(r['relative_ci_low'], r['relative_ci_high'])}"])
    level = _level(summary)
    return _table(["perturbation", "lang", "changed", f"Δ [{level} interval]", "p", "adjusted p", "verdict",
                   "relative Δ (% of clean) [interval]"], body)


def _section_tables(summary: Summary) -> str:
    level = _level(summary)
    lines = ["## Results", ""]
    for task in tasks(summary):
        metric = summary.primary_metrics[task]
        label = metric.upper()
        lines += [f"### `{task}` ({label})", "",
                  f"Clean {label} per arm and language (all examples shared by the arms) [{level} interval]:", "",
                  _clean_table(summary, task, metric), "",
                  f"Drop (clean − perturbed) on the examples each perturbation changed [{level} interval]; the "
                  "*changed* row gives coverage (changed / all examples):", "",
                  _drop_table(summary, task, metric), ""]
        confounds = summary.confounds
        for arm_a, arm_b in summary.settings.comparisons:
            table = _delta_table(summary, task, metric, arm_a, arm_b)
            if table is None:
                continue
            flag = confounds[(confounds["task"] == task) & (confounds["metric"] == metric)
                             & (confounds["arm_a"] == arm_a) & (confounds["arm_b"] == arm_b)]
            note = " — **confounded** (clean scores differ; see Confounds)" if flag["confounded"].any() else ""
            lines += [f"Δ drop, `{arm_a}` − `{arm_b}` ({label} points){note}. p from the bootstrap; adjusted p "
                      f"({_method(summary)}) decides the verdict:", "", table, ""]
        secondary = sorted(set(summary.arms.loc[summary.arms["task"] == task, "metric"]) - {metric})
        if secondary:
            lines += [f"Secondary metrics for `{task}` ({', '.join(secondary)}) are in detailed.json.", ""]
    lines += attack_section(summary)
    return "\n".join(lines).rstrip()


def _section_figures(figures: Mapping[str, str]) -> str:
    lines = ["## Figures", ""]
    for caption, path in figures.items():
        lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip()


def _section_limitations(summary: Summary, setup: Mapping[str, Any]) -> str:
    settings = summary.settings
    counts = sorted(set(summary.n_seeds.values()))
    if counts == [1]:
        seeds = ("- Training runs: each arm was trained once. The intervals cover example (cluster) sampling only, "
                 "not training-run variance; another seed could move a Δ by more than its interval suggests.")
    elif settings.bootstrap.seed_resampling == "average":
        seeds = (f"- Training runs: {', '.join(map(str, counts))} seeds per arm, averaged per example before "
                 "resampling, so the intervals do not cover training-run variance.")
    else:
        seeds = (f"- Training runs: {', '.join(map(str, counts))} seeds per arm, resampled hierarchically; so few "
                 "runs estimate run-to-run variance crudely. Intervals cover " + summary.scope() + ".")
    arms = summary.arms
    applicable = arms[(arms["lang"] != AVERAGE) & arms["applicable"]]
    smallest = int(applicable["n"].min()) if not applicable.empty else 0
    not_applicable = sorted({f"{r['task']}/{r['condition']}/{r['lang']}" for r in
                             arms[(arms["lang"] != AVERAGE) & ~arms["applicable"]].to_dict(orient="records")})
    lines = [
        "## What this does not show", "",
        f"- Scale: one encoder ({setup.get('model', 'the model')}); other models and sizes may behave differently.",
        seeds,
        f"- Sample size: as few as {smallest} changed examples in a per-language cell; small effects are below what "
        "these sizes resolve, so 'no evidence' is not evidence of no effect.",
        "- Coverage: drops are measured on the examples a perturbation changed; the all-examples (diluted) drops "
        "are in detailed.json. "
        + (f"Cells where nothing changed are not applicable and left out of averages: {', '.join(not_applicable)}."
           if not_applicable else "Every cell had changed examples."),
        f"- Multiplicity: p-values are adjusted ({_method(summary)}) within the families described in Setup, but "
        "intervals are marginal, not simultaneous: an interval that excludes 0 can sit beside an adjusted verdict "
        "of 'no evidence'. Secondary metrics and cells outside the headline are exploratory.",
        "- Perturbations are synthetic; chrF measures how much the surface changed, not whether meaning was "
        "preserved.",
    ]
    if not summary.attacks.empty:
        lines.append("- Attacks: few items per language (see each row's power); success is compared on the items both "
                     "arms answered well enough, and the adversarial inputs differ between arms and seeds.")
    flagged = summary.confounds[summary.confounds["confounded"]] if not summary.confounds.empty else summary.confounds
    if not flagged.empty:
        names = sorted({f"{r['task']} {r['arm_a']} vs {r['arm_b']}" for r in flagged.to_dict(orient="records")})
        lines.append(f"- Confounded comparisons ({'; '.join(names)}) do not isolate robustness from baseline skill.")
    if summary.missing:
        lines.append("- Cells without examples shared by all arms and seeds were skipped: "
                     f"{', '.join(summary.missing)}.")
    lines += [f"- {text}" for text in setup.get("limitations", []) or []]
    return "\n".join(lines)


def render_report(
    summary: Summary, setup: Mapping[str, Any], figures: Mapping[str, str] | None = None,
    title: str = "Robustness of zero-shot cross-lingual transfer after intermediate-task training",
) -> str:
    """The whole Markdown report. `figures` maps a caption to a PNG path relative to the report."""
    sections = [f"# {title}", _section_question(summary), _section_setup(summary, setup),
                _section_answer(summary), _section_confounds(summary, setup), _section_tables(summary)]
    if figures:
        sections.append(_section_figures(figures))
    sections.append(_section_limitations(summary, setup))
    return "\n\n".join(sections) + "\n"


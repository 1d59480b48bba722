"""The study's Markdown report: the answer first, then setup, confounds, what the run can detect, exploratory
findings, limits and one figure per target; per-target detail lives in report/<target>.md (report_detail.py).

Every number comes from the Summary (summary.py) or from `setup`, a dict the caller builds from params:
  title: str                      optional, the report's heading (the study's name)
  question: str                   optional, the research question, opening "Question and measure"
  profile: str                    optional
  model: str                      e.g. "multilingual-e5-small"
  arms: {arm: [intermediate tasks]}   in the order the study lists them
  intermediate_steps, transfer_steps: int | str or {arm: int | str}   optional training lengths ("60 steps")
  targets: [str]                  target names in the study's order (optional)
  target_tasks: [str]             tasks and their languages, optional
  target_notes: {target: str}     optional, e.g. which model scores a target
  seeds: [int]
  data_sizes: {split: {name: n}}  any nesting of split -> name -> count
  perturbations: {name: {param: value}}   their strengths
  confounds: [str]                optional free-text design confounds
  limitations: [str]              optional extra lines for "What this does not show"
Scores are reported ×100 ("points"). Every confidence level printed comes from the settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from stages.xlt.scoring import formatting as fmt
from stages.xlt.scoring.answer import first_screen
from stages.xlt.scoring.statistics import DEGRADES, IMPROVES
from stages.xlt.scoring.finite import finite_or_none
from stages.xlt.scoring.labels import AVERAGE, POOLED
from stages.xlt.scoring.summary import Summary, tasks

DEFAULT_TITLE = "Robustness report"  # without a study title in `setup`


def _level(summary: Summary) -> str:
    return fmt.level(summary.settings.bootstrap.confidence)


def _method(summary: Summary) -> str:
    return fmt.multiplicity_name(summary.settings.multiplicity)


def _ordered_tasks(summary: Summary, setup: Mapping[str, Any]) -> list[str]:
    order = list(setup.get("targets", []))
    return [t for t in order if t in tasks(summary)] + [t for t in tasks(summary) if t not in order]


# ---------------------------------------------------------------------------------------------- sections
def _section_question(summary: Summary, setup: Mapping[str, Any]) -> str:
    comparisons = ", ".join(f"`{a}` vs `{b}`" for a, b in summary.settings.comparisons)
    question = f"{setup['question']} " if setup.get("question") else ""
    return (
        "## Question and measure\n\n"
        f"{question}Each arm's **drop** is "
        "its clean score minus its perturbed score on the same examples, restricted to the examples the "
        "perturbation actually changed; arms are compared by **Δ = drop(A) − drop(B)** "
        f"({comparisons}). Δ > 0 means arm A loses more under perturbation (is less robust) than arm B."
    )


def _data_size_table(sizes: Any) -> str:
    """Data sizes as one table: rows are data sets, columns the splits."""
    if not isinstance(sizes, Mapping) or not all(isinstance(v, Mapping) for v in sizes.values()):
        return f"data sizes: {sizes}"
    splits = list(sizes)
    names = sorted({name for by_name in sizes.values() for name in by_name})
    rows = [[f"`{name}`"] + [str(sizes[split].get(name, "")) for split in splits] for name in names]
    return fmt.table(["data set (examples)"] + splits, rows)


def _steps(setup: Mapping[str, Any], key: str, arm: str):
    value = setup.get(key)
    return value.get(arm) if isinstance(value, Mapping) else value


def _statistics_text(summary: Summary) -> str:
    settings, bootstrap = summary.settings, summary.settings.bootstrap
    averages = settings.average_languages
    if bootstrap.method == "t":
        method = (f"**{bootstrap.method_name}**: test items are resampled by cluster (paragraph, premise, article "
                  f"or pair; {bootstrap.n_resamples} replicates, seed {bootstrap.seed}), the same drawn clusters in "
                  "every language because items are translations of each other, each arm's seeds averaged per "
                  "item; the spread of each arm's per-seed estimates, less each run's own item noise, adds the "
                  f"training-run part; {_level(summary)} intervals and p-values from a t distribution with "
                  "Welch–Satterthwaite degrees of freedom")
    else:
        method = (f"**{bootstrap.method_name}** ({bootstrap.n_resamples} replicates, seed {bootstrap.seed}), the "
                  f"same drawn clusters in every language; {_level(summary)} percentile intervals and p-values "
                  "from the same replicates")
    return (
        method + f"; p-values adjusted with {_method(summary)} within families (per-language cells of one "
        "comparison and perturbation; the headline cells together; the other language averages of one "
        f"comparison); verdicts use the adjusted p. A cell with fewer than {settings.min_clusters} changed clusters "
        "gets *too few clusters* and no test. Language averages are unweighted means over the applicable "
        + ("languages" if averages is None else
           "languages among " + "; ".join(f"{t}: {', '.join(v)}" for t, v in sorted(averages.items())))
        + f". Intervals cover **{summary.scope()}**."
    )


def _section_setup(summary: Summary, setup: Mapping[str, Any]) -> str:
    lines = ["## Setup", ""]
    if "profile" in setup:
        lines.append(f"- profile `{setup['profile']}`; model: {setup.get('model', 'not given')}")
    arms = []
    for arm, arm_tasks in setup.get("arms", {}).items():
        intermediate, transfer = _steps(setup, "intermediate_steps", arm), _steps(setup, "transfer_steps", arm)
        steps = ([f"{intermediate} intermediate steps" if isinstance(intermediate, int) else f"intermediate {intermediate}"]
                 if arm_tasks and intermediate is not None else [])
        steps += [f"fine-tuning {transfer}"] if transfer is not None else []
        arms.append(f"`{arm}` = {', '.join(arm_tasks) if arm_tasks else 'no intermediate task'}"
                    + (f" ({'; '.join(steps)})" if steps else ""))
    if arms:
        lines.append("- arms: " + "; ".join(arms))
    seeds = setup.get("seeds", [])
    lines.append(f"- training seeds: {', '.join(map(str, seeds)) if seeds else 'not given'} (per arm in the scores: "
                 + ", ".join(f"{arm} {n}" for arm, n in sorted(summary.n_seeds.items())) + ")")
    if "target_tasks" in setup:
        lines.append("- targets (English fine-tuning, zero-shot evaluation): " + "; ".join(map(str, setup["target_tasks"])))
    if setup.get("perturbations"):
        lines.append("- perturbations: " + "; ".join(
            f"`{name}` ({', '.join(f'{k}={v}' for k, v in params.items())})" if isinstance(params, Mapping)
            else f"`{name}` ({params})" for name, params in setup["perturbations"].items()))
    lines.append("- statistics: " + _statistics_text(summary))
    if "data_sizes" in setup:
        lines += ["", _data_size_table(setup["data_sizes"])]
    return "\n".join(lines)


def _section_confounds(summary: Summary, setup: Mapping[str, Any]) -> str:
    lines = ["## Confounds", ""]
    threshold = fmt.points(summary.settings.confound_threshold)
    table = summary.confounds
    flagged = []
    for task in tasks(summary):
        metric = summary.primary_metrics[task]
        for row in table[(table["task"] == task) & (table["metric"] == metric)].to_dict(orient="records"):
            if row["confounded"]:
                flagged.append(f"`{task}` `{row['arm_a']}` vs `{row['arm_b']}` (clean {fmt.points(row['clean_a'])} vs "
                               f"{fmt.points(row['clean_b'])})")
    if flagged:
        lines.append(f"Flagged *confounded* (clean {summary.primary_metrics and 'scores'} differ by more than "
                     f"{threshold} points, so Δ mixes robustness with baseline skill; read the relative Δ in the "
                     "per-target pages): " + "; ".join(flagged) + ".")
    else:
        lines.append(f"No comparison's arms differ in clean score by more than {threshold} points.")
    lines += [f"- {c}" for c in setup.get("confounds", []) or []]
    return "\n".join(lines)


MAX_LISTED = 12  # rows of a list in the main report; the rest are counted and live in the per-target pages


def _primary_rows(summary: Summary, table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    keep = [summary.primary_metrics.get(t) == m for t, m in zip(table["task"], table["metric"])]
    return table[pd.Series(keep, index=table.index, dtype=bool)]


def exploratory_rows(summary: Summary) -> pd.DataFrame:
    """Primary-metric cells with raw p < α whose adjusted p is not: worth a look, not a finding."""
    table = _primary_rows(summary, summary.comparisons)
    if table.empty:
        return table
    alpha = summary.settings.alpha
    keep = (table["p_value"] < alpha) & ~(table["p_adjusted"] < alpha)
    return table[keep.fillna(False)].sort_values("p_value", kind="stable")


def _section_exploratory(summary: Summary) -> str:
    lines = ["## Exploratory: significant before adjustment, not after", ""]
    rows = exploratory_rows(summary)
    alpha = summary.settings.alpha
    items = []
    for r in rows.to_dict(orient="records"):
        items.append(f"- `{r['task']}` {r['condition']} {r['lang']}, `{r['arm_a']}` − `{r['arm_b']}`: Δ = "
                     f"{fmt.points(r['delta'], True)} {fmt.interval(r['ci_low'], r['ci_high'])}, "
                     f"{fmt.p_is('p', r['p_value'])}, {fmt.p_is('adjusted p', r['p_adjusted'])} ({r['family']})"
                     + (" — confounded" if r.get("confounded") else ""))
    attacks = summary.attacks
    if not attacks.empty and "p_adjusted" in attacks:
        hits = attacks[(attacks["p_value"] < alpha) & ~(attacks["p_adjusted"] < alpha)]
        for r in hits.to_dict(orient="records"):
            items.append(f"- attack on `{r['task']}` {r['lang']}, `{r['arm_a']}` − `{r['arm_b']}` success rate: "
                         f"{fmt.points(r['difference'], True)} points, {fmt.p_is('p', r['p_value'])}, "
                         f"{fmt.p_is('adjusted p', r['p_adjusted'])}")
    if items:
        lines.append(f"{len(items)} result(s) have raw p < {alpha:g} but not after {_method(summary)} adjustment "
                     "within their family (primary metrics); with this many cells, some are expected by chance:")
        lines += [""] + items[:MAX_LISTED]
        if len(items) > MAX_LISTED:
            lines.append(f"- … and {len(items) - MAX_LISTED} more, smallest p first above; all are in the "
                         "per-target pages.")
    else:
        lines.append(f"No cell has raw p < {alpha:g} without also surviving adjustment.")
    return "\n".join(lines)


def _section_findings(summary: Summary) -> str:
    """Adjusted findings outside the headline (other comparisons, per-language cells)."""
    table = _primary_rows(summary, summary.comparisons)
    lines = ["## Other findings (adjusted, outside the named cells)", ""]
    if table.empty:
        return "\n".join(lines + ["None."])
    found = table[table["verdict"].isin([DEGRADES, IMPROVES]) & ~table["headline"]]
    if found.empty:
        lines.append("No other cell survives adjustment within its family.")
        return "\n".join(lines)
    for (task, arm_a, arm_b), block in found.groupby(["task", "arm_a", "arm_b"], sort=True):
        cells = ", ".join(f"{r['condition']} {r['lang']} {fmt.points(r['delta'], True)}"
                          + (" (confounded)" if r.get("confounded") else "")
                          for r in block.sort_values(["condition", "lang"]).to_dict(orient="records"))
        lines.append(f"- `{task}`, `{arm_a}` − `{arm_b}` ({len(block)} cell(s)): {cells}")
    return "\n".join(lines)


def _section_attack(summary: Summary) -> str:
    attacks = summary.attacks
    if attacks.empty:
        return ""
    pooled = attacks[attacks["lang"] == POOLED]
    lines = ["## Model-aware attack (pooled over languages)", "",
             "Success rate = share of attacked items whose prediction the attack broke, on the items both arms "
             "attacked, averaged over each arm's seeds and then over the poolable languages; p from the cluster "
             f"sign-flip test, adjusted ({_method(summary)}) over all pooled rows. Per-language tables, TextAttack's "
             "figures per arm, the selection rule and the power per row are in the per-target pages; a reviewable "
             "sample is in [`report/attack_samples.md`](report/attack_samples.md).", ""]
    body = []
    for r in pooled.to_dict(orient="records"):
        body.append([f"`{r['task']}`", f"`{r['arm_a']}` − `{r['arm_b']}`", str(int(r["n"])),
                     f"{fmt.points(r['success_a'])} / {fmt.points(r['success_b'])}",
                     f"{fmt.points(r['difference'], True)} {fmt.interval(r.get('ci_low'), r.get('ci_high'))}",
                     fmt.p_text(r["p_value"]), fmt.p_text(r["p_adjusted"]),
                     f"±{fmt.points(r['mde'])}" if finite_or_none(r.get("mde")) is not None else "n/a"])
    lines.append(fmt.table(["target", "A − B", "n both", "success A / B (%)", f"difference [{_level(summary)}]",
                            "p", "adjusted p", "detectable at 80% power"], body))
    return "\n".join(lines)


DETECT_TARGET = 0.02  # "what would detect 2 points": the effect size a planned study would want to see
DETECT_SEEDS = (3, 5, 10, 20)
DETECT_ITEMS = (1.0, 2.0, 4.0)


def _section_detect(summary: Summary) -> str:
    """What the run can detect (MDE per headline cell and where its variance comes from), and which design
    would detect 2 points, projected with the planner's model (power.py)."""
    from stages.xlt.scoring.metrics_files import detailed
    from stages.xlt.scoring.power import ASSUMPTIONS, headline_cells, project

    try:
        cells = headline_cells(detailed(summary))
    except ValueError:
        return ""
    lines = ["## What this run can detect, and what would detect 2 points", "",
             "MDE = the smallest true Δ found with 80% power (two-sided, the scoring's own test); *family* = at the "
             "headline family's level. The variance of Δ splits into test items (clusters, and each run's own item "
             "noise) and training runs: a cell dominated by items gains from more test items, one dominated by runs "
             "only from more seeds.", ""]
    body, plans = [], []
    for cell in cells:
        total = cell.var_items + cell.var_runs
        share = (f"{100 * cell.var_items / total:.0f}% / {100 * cell.var_runs / total:.0f}%"
                 if math.isfinite(total) and total > 0 else "n/a")
        body.append([f"{cell.task} · {cell.condition}", fmt.points(cell.delta, True), fmt.points(cell.se), share,
                     fmt.points(cell.mde), fmt.points(cell.mde_family)])
        reached = None
        for seeds, items in sorted(((s, i) for s in DETECT_SEEDS for i in DETECT_ITEMS),
                                   key=lambda d: (d[0] * (1 + d[1]), d[0])):  # training ∝ seeds, evaluation ∝ both
            try:
                projected = project(cell.components, seeds, items, alpha=summary.settings.alpha)
            except ValueError:
                break
            if projected.mde_family <= DETECT_TARGET:
                reached = (seeds, items, projected.mde_family)
                break
        if reached:
            plans.append(f"- {cell.task} · {cell.condition}: {reached[0]} seeds per arm and {reached[1]:g}× the test "
                         f"items (family MDE {fmt.points(reached[2])})")
        else:
            best = min((project(cell.components, s, i, alpha=summary.settings.alpha).mde_family, s, i)
                       for s in DETECT_SEEDS for i in DETECT_ITEMS) if math.isfinite(cell.var_items) else None
            plans.append(f"- {cell.task} · {cell.condition}: none of {max(DETECT_SEEDS)} seeds × "
                         f"{max(DETECT_ITEMS):g}× items" + (f" (best: {fmt.points(best[0])} at {best[1]} seeds, "
                                                           f"{best[2]:g}× items)" if best else ""))
    lines += [fmt.table(["cell", "Δ (points)", "se", "variance: items / runs", "MDE", "MDE (family)"], body), "",
              f"The cheapest design (training ∝ seeds, evaluation ∝ seeds × items) among "
              f"{', '.join(map(str, DETECT_SEEDS))} seeds per arm × {', '.join(f'{i:g}×' for i in DETECT_ITEMS)} the "
              "test items whose family MDE is at most "
              f"{fmt.points(DETECT_TARGET)} points, per cell (where the data hold that many items):", ""]
    lines += plans
    lines += ["", "`python -m stages.plan` projects any design with its wall time. " + ASSUMPTIONS]
    return "\n".join(lines)


def _section_figures(figures: Mapping[str, str]) -> str:
    lines = ["## Figures", ""]
    for caption, path in figures.items():
        lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip()


def _section_details(details: Mapping[str, str]) -> str:
    lines = ["## Per-target detail", "",
             "Every Δ table (per language, every comparison and perturbation, relative Δ), drops per arm, attack "
             "tables and per-language figures:", ""]
    lines += [f"- [`{task}`]({path})" for task, path in details.items()]
    return "\n".join(lines)


def _section_limitations(summary: Summary, setup: Mapping[str, Any]) -> str:
    counts = sorted(set(summary.n_seeds.values()))
    if counts == [1]:
        seeds = ("- Training runs: each arm was trained once; the intervals cover example sampling only, not "
                 "training-run variance.")
    else:
        seeds = (f"- Training runs: {', '.join(map(str, counts))} seeds per arm estimate run-to-run variance "
                 f"crudely; intervals cover {summary.scope()}.")
    arms = summary.arms
    applicable = arms[(arms["lang"] != AVERAGE) & arms["applicable"]]
    smallest = int(applicable["n"].min()) if not applicable.empty else 0
    not_applicable = sorted({f"{r['task']}/{r['condition']}/{r['lang']}" for r in
                             arms[(arms["lang"] != AVERAGE) & ~arms["applicable"]].to_dict(orient="records")})
    lines = [
        "## What this does not show", "",
        f"- Scale: one encoder ({setup.get('model', 'the model')}); other models and sizes may behave differently.",
        seeds,
        f"- Sample size: as few as {smallest} changed examples in a per-language cell; 'no evidence' is not "
        "evidence of no effect (see the minimum detectable effects).",
        "- Coverage: drops are on the examples a perturbation changed; the all-examples (diluted) drops are in "
        "detailed.json. " + (f"Not applicable (nothing changed), left out of averages: {', '.join(not_applicable)}."
                             if not_applicable else "Every cell had changed examples."),
        f"- Multiplicity: p-values are adjusted ({_method(summary)}) within families, intervals are marginal: an "
        "interval that excludes 0 can sit beside an adjusted verdict of 'no evidence'.",
        "- Perturbations are synthetic; chrF measures how much the surface changed, not whether meaning was kept.",
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


def render_report(summary: Summary, setup: Mapping[str, Any], figures: Mapping[str, str] | None = None,
                  details: Mapping[str, str] | None = None) -> str:
    """The main Markdown report. `figures` maps a caption to a PNG path relative to the report (one per target);
    `details` maps a target to its per-target page, relative to the report."""
    screen = first_screen(summary, _ordered_tasks(summary, setup), list(setup.get("arms", {})),
                          setup.get("target_notes"))
    title = setup.get("title") or DEFAULT_TITLE
    sections = [f"# {title}\n\n{screen}".rstrip(), _section_question(summary, setup), _section_setup(summary, setup),
                _section_confounds(summary, setup), _section_detect(summary), _section_findings(summary),
                _section_exploratory(summary), _section_attack(summary)]
    if figures:
        sections.append(_section_figures(figures))
    sections.append(_section_limitations(summary, setup))
    if details:
        sections.append(_section_details(details))
    return "\n\n".join(s for s in sections if s) + "\n"

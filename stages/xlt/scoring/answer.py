"""The first screen of the study: the answer in one sentence, the headline table, the clean scores.

This is what `score` prints and what `metrics/report.md` opens with, so a reader sees the answer before any
method: the cells named in advance (``score.headline``) with their Δ, interval, adjusted p, verdict, coverage,
clusters and the minimum detectable effect; then the clean scores in XTREME's layout (rows are arms, columns are
the languages and their average; F1 / EM for QA, accuracy otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from stages.xlt.scoring import formatting as fmt
from stages.xlt.scoring.finite import finite_or_none
from stages.xlt.scoring.statistics import DEGRADES, IMPROVES, NO_EVIDENCE
from stages.xlt.scoring.summary import Summary, headline_rows, tasks

# How each task's clean scores are shown, by its primary metric: (metrics in the cell, joined by " / ", label).
CLEAN_LAYOUTS = {"f1": (("f1", "em"), "F1 / EM"), "accuracy": (("accuracy",), "accuracy")}


def _cell_name(row) -> str:
    return f"{row['task']} · {row['condition']}"


def _tested(rows: pd.DataFrame) -> pd.DataFrame:
    """Headline rows that got a verdict from a test (not 'not applicable', not 'too few clusters')."""
    return rows[rows["verdict"].isin([DEGRADES, IMPROVES, NO_EVIDENCE])]


def _mde_range(rows: pd.DataFrame, column: str) -> str | None:
    if column not in rows.columns:
        return None
    values = [v for v in rows[column] if finite_or_none(v) is not None]
    if not values:
        return None
    low, high = fmt.points(min(values)), fmt.points(max(values))
    return low if low == high else f"{low}–{high}"


def answer_sentence(summary: Summary) -> str:
    """One sentence: what the named cells say, with the size of what they could have seen."""
    rows = headline_rows(summary)
    if rows.empty or not summary.settings.headline:
        return ("**No answer was named in advance** (`score.headline` is empty): every result below is "
                "exploratory.")
    tested = _tested(rows)
    comparisons = ", ".join(sorted({f"`{a}` − `{b}`" for a, b in zip(rows["arm_a"], rows["arm_b"])}))
    method = fmt.multiplicity_name(summary.settings.multiplicity)
    if tested.empty:
        return (f"**No answer at this scale**: none of the {len(rows)} cells named in advance ({comparisons}) could "
                "be tested (no changed examples, or too few clusters).")
    degrades, improves = tested[tested["verdict"] == DEGRADES], tested[tested["verdict"] == IMPROVES]
    if degrades.empty and improves.empty:
        largest = tested["delta"].abs().max()
        mde = _mde_range(tested, "mde_family") or _mde_range(tested, "mde")
        seen = (f"; effects smaller than about {mde} points (80% power after {method}) would likely be missed"
                if mde else "")
        return (f"**No evidence either way**: none of the {len(tested)} tested cells named in advance "
                f"({comparisons}) shows a difference in robustness drop after {method} adjustment (largest "
                f"|Δ| = {fmt.points(largest)} points){seen}.")
    parts = []
    for rows_found, word in ((degrades, "less"), (improves, "more")):
        for (arm_a, arm_b), block in rows_found.groupby(["arm_a", "arm_b"], sort=False):
            cells = ", ".join(f"{_cell_name(r)}: Δ = {fmt.points(r['delta'], True)}, adjusted p = "
                              f"{fmt.p_text(r['p_adjusted'])}" for r in block.to_dict(orient="records"))
            parts.append(f"**`{arm_a}` is {word} robust than `{arm_b}`** on {len(block)} of {len(tested)} tested "
                         f"cells named in advance ({cells})")
    return "; ".join(parts) + f", after {method} adjustment."


def headline_table(summary: Summary) -> str:
    """The cells named in advance, one row each."""
    rows = headline_rows(summary)
    if rows.empty:
        return "(no headline cells)"
    level = fmt.level(summary.settings.bootstrap.confidence)
    body = []
    for r in rows.to_dict(orient="records"):
        applicable = bool(r["applicable"]) and finite_or_none(r.get("delta")) is not None
        body.append([
            _cell_name(r), f"`{r['arm_a']}` − `{r['arm_b']}`",
            fmt.points(r.get("delta"), True) if applicable else "n/a",
            fmt.interval(r.get("ci_low"), r.get("ci_high")) if applicable else "n/a",
            fmt.p_text(r.get("p_adjusted")), str(r["verdict"]) + (" ⚠ confounded" if r.get("confounded") else ""),
            fmt.changed(r), str(int(r["n_clusters"])) if finite_or_none(r.get("n_clusters")) is not None else "0",
            fmt.points(r.get("mde_family")) if finite_or_none(r.get("mde_family")) is not None else "n/a"])
    return fmt.table(["cell (target · perturbation)", "A − B", "Δ (points)", f"{level} interval",
                      "adjusted p", "verdict", "changed/total", "clusters", "MDE (80% power)"], body)


def headline_notes(summary: Summary) -> str:
    method = fmt.multiplicity_name(summary.settings.multiplicity)
    return (f"Δ > 0: arm A loses more under the perturbation (is less robust). Points = score × 100 on the changed "
            f"examples, language-averaged. p adjusted with {method} over the headline cells; MDE = the smallest Δ "
            f"found with 80% power at that adjusted level. Intervals cover {summary.scope()}.")


def _clean_cell(frame: pd.DataFrame, metrics: Sequence[str], lang: str, with_interval: bool) -> str:
    values = []
    for metric in metrics:
        row = frame[(frame["metric"] == metric) & (frame["lang"] == lang)]
        values.append(fmt.points(row["clean"].iloc[0]) if not row.empty else "n/a")
    text = " / ".join(values)
    if with_interval:
        first = frame[(frame["metric"] == metrics[0]) & (frame["lang"] == lang)]
        if not first.empty:
            text += " " + fmt.interval(first["ci_low"].iloc[0], first["ci_high"].iloc[0], signed=False)
    return text


def clean_table(summary: Summary, task: str, arm_order: Sequence[str] = ()) -> tuple[str, str]:
    """(heading, table) of one task's clean scores in XTREME's layout; the interval is on the average."""
    primary = summary.primary_metrics[task]
    metrics, label = CLEAN_LAYOUTS.get(primary, ((primary,), primary))
    frame = summary.clean[summary.clean["task"] == task]
    metrics = tuple(m for m in metrics if (frame["metric"] == m).any()) or (primary,)
    if len(metrics) == 1:
        label = metrics[0] if metrics[0] != "f1" else "F1"
    langs = fmt.language_order(frame["lang"])
    arms = [a for a in arm_order if a in set(frame["arm"])] + sorted(set(frame["arm"]) - set(arm_order))
    level = fmt.level(summary.settings.bootstrap.confidence)
    body = []
    for arm in arms:
        mine = frame[frame["arm"] == arm]
        seeds = int(mine["n_seeds"].max()) if not mine.empty else 0
        body.append([f"`{arm}` ({seeds} seed{'s' if seeds != 1 else ''})"]
                    + [_clean_cell(mine, metrics, lang, False) for lang in langs]
                    + [_clean_cell(mine, metrics, fmt.AVERAGE, True)])
    n = frame[(frame["metric"] == primary) & (frame["lang"] == fmt.AVERAGE)]["n"]
    heading = (f"**{task}** — clean {label}, mean of the seeds; average over {', '.join(langs)} with its "
               f"{level} interval" + (f" ({int(n.max())} examples)" if not n.empty else ""))
    return heading, fmt.table(["arm"] + langs + ["**avg**"], body)


def first_screen(summary: Summary, task_order: Sequence[str] = (), arm_order: Sequence[str] = (),
                 task_notes: dict[str, str] | None = None) -> str:
    """The answer, the headline table and the clean tables (≤ 60 lines for the study's default profile)."""
    lines = [answer_sentence(summary), "", "### The cells named in advance", "", headline_table(summary), "",
             headline_notes(summary), "", "### Clean scores", ""]
    ordered = [t for t in task_order if t in tasks(summary)] + [t for t in tasks(summary) if t not in task_order]
    for task in ordered:
        heading, body = clean_table(summary, task, arm_order)
        note = (task_notes or {}).get(task)
        lines += [heading + (f". {note}" if note else ""), "", body, ""]
    return "\n".join(lines).rstrip() + "\n"

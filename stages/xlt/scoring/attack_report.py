"""The attack's part of the report (TextAttack's figures, paired comparisons, power) and the reviewable sample.

``attack_section(summary)`` renders the Markdown section from ``summary.attacks`` (attack_stats.attack_rows);
``attack_samples(records)`` renders metrics/report/attack_samples.md: up to ``SAMPLES_PER_LANGUAGE`` successful
attacks per target and language (drawn in a seeded order across arms and seeds), clean and attacked text side by
side with the changed words in bold, and an empty column for a reader's judgement of whether the label still holds.
"""

from __future__ import annotations

import hashlib
import math

import pandas as pd

from stages.xlt.scoring.attack_stats import EXACT_LIMIT, POWER, arm_figures
from stages.xlt.scoring.labels import POOLED

SAMPLES_PER_LANGUAGE = 30


def _pct(value, signed: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100 * value:+.1f}" if signed else f"{100 * value:.1f}"


def _interval(low, high, signed: bool = False) -> str:
    return f"[{_pct(low, signed)}, {_pct(high, signed)}]"


def _p(value) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.3f}" if value >= 0.001 else "< 0.001"


def _number(value, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if value is not None and math.isfinite(value) else "n/a"


def _table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def _lang(row) -> str:
    if row["lang"] == POOLED:
        return f"**pooled** ({row['languages']})" if row["languages"] else "**pooled** (none)"
    return row["lang"] if row["poolable"] else f"{row['lang']} (separate)"


def _figures_table(figures: pd.DataFrame) -> str:
    body = []
    for r in figures.to_dict(orient="records"):
        body.append([_lang({**r, "languages": ""}) if r["lang"] != POOLED else "**pooled**", f"`{r['arm']}`",
                     str(int(r["seeds"])), str(int(r["candidates"])),
                     f"{int(r['skipped'])} / {int(r['failed'])} / {int(r['succeeded'])}",
                     _pct(r["original_accuracy"]), _pct(r["accuracy_under_attack"]), _pct(r["attack_success_rate"]),
                     _number(r["words_perturbed_pct"]), _number(r["avg_queries"]), str(int(r["budget_exhausted"]))])
    return _table(["lang", "arm", "runs", "candidates", "skipped / failed / succeeded", "original accuracy %",
                   "accuracy under attack %", "attack success rate %", "% words perturbed", "avg queries",
                   "query budget ran out"], body)


def _comparison_table(block: pd.DataFrame, level: str) -> str:
    body = []
    for r in block.to_dict(orient="records"):
        if not r["n"]:
            body.append([_lang(r), f"{int(r['pool_a'])} / {int(r['pool_b'])}", "0"] + ["n/a"] * 7)
            continue
        body.append([
            _lang(r), f"{int(r['pool_a'])} / {int(r['pool_b'])}", f"{int(r['n'])} ({int(r['n_clusters'])})",
            f"{_pct(r['success_a'])} {_interval(r['success_a_ci_low'], r['success_a_ci_high'])}",
            f"{_pct(r['success_b'])} {_interval(r['success_b_ci_low'], r['success_b_ci_high'])}",
            f"{_pct(r['difference'], True)} {_interval(r['ci_low'], r['ci_high'], True)}",
            f"{int(r['a_higher'])} / {int(r['b_higher'])}", _p(r["p_value"]), _p(r["p_adjusted"]),
            f"±{_pct(r['mde'])}" if math.isfinite(r["mde"]) else "n/a (no discordant item)"])
    return _table(["lang", "pool A / B", "n both (clusters)", f"success A % [{level}]", f"success B % [{level}]",
                   f"A − B [{level}]", "items A / B higher", "p (sign-flip)", "adjusted p",
                   f"detectable at {int(100 * POWER)}% power"], body)


def attack_section(summary, task: str | None = None,
                   samples_link: str = "report/attack_samples.md") -> list[str]:
    """The attack section (Markdown lines) of every target, or of `task` only; empty without attack rows.
    `samples_link`: where the reviewable sample is, relative to the page the section goes in."""
    attacks = summary.attacks
    if attacks.empty or "n" not in attacks.columns:
        return []
    if task is not None:
        attacks = attacks[attacks["task"] == task]
        if attacks.empty:
            return []
    settings = summary.settings
    level = f"{100 * settings.bootstrap.confidence:g}%"
    method = {"holm": "Holm", "bh": "Benjamini–Hochberg"}[settings.multiplicity]
    lines = [
        "### Model-aware attacks", "",
        "**Selection.** The candidates of a language are the first `attack.max_examples` of a seeded order of all "
        "its test ids, the same list for every model. Each model (arm × seed) attacks the candidates it gets right "
        f"on its stored clean predictions (QA: F1 ≥ {settings.attack_threshold:g}; classification: the gold label) "
        "and skips the rest, as TextAttack counts them: an arm's pool depends on its own predictions only, so "
        "adding an arm changes no other arm's attack. A comparison uses the items both arms attacked (with at least "
        "one seed each); an item's success rate for an arm is the mean over that arm's seeds that attacked it.",
        "",
        "**Attack.** Greedy search by delete-one word importance measured with the model's own score (QA: the "
        "probability of the clean predicted answer span, p_start × p_end, the maximum over the windows holding it; "
        "classification: the probability of the gold label), ties in a seeded order; success when the QA answer's "
        "F1 falls below half the clean F1, or the label flips. Edits are realistic typos that keep the meaning "
        "(stop words and negations never edited; one character operation per word; no typo that is a real word of "
        "the language per wordfreq; Chinese homophones; InScript and Thai keyboard slips), only in the question "
        "(QA, never answer words) or the hypothesis (NLI), within the same word and query budget for every arm. "
        f"A reviewable sample of successful attacks is in [`attack_samples.md`]({samples_link}).",
        "",
        f"**Tests.** Intervals: percentile cluster bootstrap with each arm's seeds resampled ({level}); what they "
        "cover is stated above each table. p: the cluster-level sign-flip permutation test of the mean paired "
        f"difference, exact (every sign pattern) up to {EXACT_LIMIT} discordant clusters, which needs no "
        "large-sample approximation; it conditions on the trained models. Pooled rows average the languages "
        "(unweighted, not by items) whose typo model can be pooled; a language without a word list to reject "
        f"real-word edits is reported alone and marked *separate*. Adjusted p: {method} over the languages of one "
        "target and comparison, and over all pooled attack rows together. *Detectable at 80% power*: the "
        "smallest success-rate difference the test would detect with 80% probability at this n (normal "
        "approximation of the sign-flip test, with the observed discordance as the variance); differences "
        "smaller than that cannot be told from chance here.", ""]
    separate = attacks[(attacks["lang"] != POOLED) & ~attacks["poolable"].astype(bool)]
    if not separate.empty:
        lines += ["Reported separately: " + "; ".join(sorted({r["lang"] for r in separate.to_dict("records")}))
                  + " (no wordfreq word list to reject real-word typos).", ""]
    figures = arm_figures(attacks)
    for name, block in attacks.groupby("task", sort=True):
        task_figures = figures[figures["task"] == name].copy()
        task_figures["_pooled"] = task_figures["lang"] == POOLED
        task_figures = task_figures.sort_values(["_pooled", "lang", "arm"])
        lines += [f"`{name}`: TextAttack's figures per arm, over its runs, on its own candidates (attack success "
                  "rate = succeeded / attacked; accuracy under attack = failed / candidates; pooled rates: mean over "
                  "the pooled languages):", "", _figures_table(task_figures), ""]
        for (arm_a, arm_b), pair in block.groupby(["arm_a", "arm_b"], sort=False):
            scope = pair["interval_scope"].iloc[0]
            lines += [f"`{name}`: `{arm_a}` (A) vs `{arm_b}` (B), on the items both attacked; intervals cover "
                      f"{scope}:", "", _comparison_table(pair, level), ""]
    return lines


# ---------------------------------------------------------------------------------------------- samples
def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _bold(text: str, words: list[str]) -> str:
    """``text`` with the first occurrence of each of ``words`` in bold (left to right)."""
    out, cursor = [], 0
    for word in words:
        at = text.find(word, cursor)
        if at < 0 or not word:
            continue
        out += [text[cursor:at], f"**{word}**"]
        cursor = at + len(word)
    return _cell("".join(out) + text[cursor:])


def _order(row) -> str:
    return hashlib.sha256(f"{row['arm']}/{row['seed']}/{row['id']}".encode()).hexdigest()


def _fields_text(fields: dict, words: list[str] | None = None) -> str:
    parts = []
    for name, text in fields.items():
        shown = _bold(text, words or []) if words is not None else _cell(text)
        parts.append(shown if len(fields) == 1 else f"*{name}*: {shown}")
    return "<br>".join(parts)


def attack_samples(records: pd.DataFrame | None, per_language: int = SAMPLES_PER_LANGUAGE) -> str:
    """metrics/report/attack_samples.md (see the module docstring)."""
    lines = ["# Successful attacks, for review", "",
             f"Up to {per_language} successful attacks per target and language, drawn in a seeded order over every "
             "arm and seed. Changed words in bold (clean word left, typo right). QA: only the question is edited "
             "(the context is unchanged, not shown). Classification labels as in the data (XNLI: 0 entailment, "
             "1 neutral, 2 contradiction). The last column is for a reader: does the attacked text still have the "
             "clean text's answer or label (yes / no)? The share judged *yes* is the attack's validity.", ""]
    if records is None or records.empty:
        return "\n".join(lines + ["No attack records."]) + "\n"
    won = records[records["status"] == "succeeded"]
    for (task, lang), group in won.groupby(["task", "lang"], sort=True):
        group = group.assign(_order=[_order(r) for r in group.to_dict("records")]).sort_values("_order")
        chosen = group.head(per_language)
        lines += [f"## `{task}` {lang}: {len(chosen)} of {len(group)} successful attacks", ""]
        body = []
        for k, r in enumerate(chosen.to_dict("records"), 1):
            edits = r["edits"] or []
            before = [e["word"] for e in edits]
            after = [e["replacement"] for e in edits]
            metric = ("F1" if isinstance(r["clean_prediction"], str) else "correct")
            body.append([str(k), f"`{r['arm']}` {r['seed']}", _cell(r["id"]), _fields_text(r["clean"], before),
                         _fields_text(r["adversarial"], after),
                         f"{_cell(r['clean_prediction'])} → {_cell(r['final_prediction'])} ({metric} "
                         f"{r['clean_metric']:.2f} → {r['final_metric']:.2f})",
                         "; ".join(f"{_cell(e['word'])} → {_cell(e['replacement'])} ({e['operation']})" for e in edits),
                         ""])
        lines += [_table(["#", "arm, seed", "id", "clean", "attacked", "prediction", "edits", "label kept?"], body),
                  ""]
    return "\n".join(lines).rstrip() + "\n"

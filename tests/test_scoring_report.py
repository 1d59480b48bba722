"""The Markdown report says only what the numbers support, answer first: the one-sentence answer, the headline
table and the clean scores on the first screen; no estimate on zero changed examples; adjusted p-values; what
the intervals cover given the number of seeds; confound flags; attack n and intervals (per-target pages); the
confidence level taken from the settings."""

import numpy as np
import pandas as pd
import pytest
from scoring_support import COMPARISONS, synthetic_attacks, synthetic_scores

from stages.xlt.scoring.answer import first_screen
from stages.xlt.scoring.report import exploratory_rows, render_report
from stages.xlt.scoring.report_detail import render_target_page
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import summarize

RATES = {"multi": 0.5, "squad": 0.1, "none": 0.1}
SETUP = {
    "title": "A study of typos",
    "question": "Do typos hurt some arms more?",
    "profile": "tiny",
    "model": "tiny-encoder",
    "arms": {"none": [], "squad": ["squad"], "multi": ["squad", "mnli"]},
    "intermediate_steps": 120,
    "transfer_steps": 60,
    "target_tasks": ["qa (de, th, zh)"],
    "data_sizes": {"test": {"qa.de": 120}},
    "perturbations": {"typos": {"rate": 0.1}, "codeswitch": {"rate": 0.3}},
    "confounds": ["none vs squad also differs in the amount of target-distribution data"],
}


COVERAGE = {("th", "codeswitch"): 0.0}


def synthetic(seeds=(0,), coverage=COVERAGE) -> pd.DataFrame:
    return synthetic_scores(RATES, langs=("de", "th", "zh"), conditions=("typos", "codeswitch"), seeds=seeds,
                            n_clusters=30, coverage=coverage, seed=5)


def build(seeds=(0,), confidence=0.95, confound=False, attacks=True, coverage=COVERAGE):
    scores = synthetic(seeds, coverage)
    if confound:
        scores.loc[(scores["arm"] == "none") & (scores["condition"] == "clean"), "value"] = 1.0
    records = synthetic_attacks(scores, {"multi": 0.7, "squad": 0.2, "none": 0.2}, n_items=40) if attacks else None
    settings = SummarySettings(comparisons=COMPARISONS,
                               bootstrap=BootstrapSettings(n_resamples=200, confidence=confidence), n_permutations=200, headline=(("qa", ("multi", "squad"), "typos"),))
    return summarize(scores, records, settings)


@pytest.fixture(scope="module")
def one_seed():
    return build()


@pytest.fixture(scope="module")
def one_seed_text(one_seed):
    return render_report(one_seed, {**SETUP, "seeds": [0]})


@pytest.fixture(scope="module")
def one_seed_page(one_seed):
    return render_target_page(one_seed, "qa")


def table_rows(text: str, heading_fragment: str) -> list[list[str]]:
    """The rows of the first Markdown table after the line containing `heading_fragment`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if heading_fragment in line)
    rows, seen = [], False
    for line in lines[start + 1:]:
        if line.startswith("|"):
            seen = True
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif seen:
            break
    return rows[2:]


def test_first_screen_holds_the_answer_the_headline_table_and_clean_scores(one_seed, one_seed_text):
    screen = "\n".join(one_seed_text.splitlines()[:60])
    assert "**`multi` is less robust than `squad`** on 1 of 1 tested cells named in advance (qa · typos" in screen
    row = one_seed.comparisons
    row = row[row["headline"]].iloc[0]
    headline = table_rows(screen, "### The cells named in advance")
    assert headline == [["qa · typos", "`multi` − `squad`", f"{100 * row['delta']:+.1f}",
                         f"[{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]",
                         "< 0.001" if row["p_adjusted"] < 0.001 else f"{row['p_adjusted']:.3f}", "degrades",
                         "360/360", "30", "n/a" if "mde_family" not in row else f"{100 * row['mde_family']:.1f}"]]
    clean = table_rows(screen, "**qa** — clean F1")
    assert [r[0] for r in clean] == ["`none` (1 seed)", "`squad` (1 seed)", "`multi` (1 seed)"]  # the study's order
    assert len(clean[0]) == 5  # arm, de, th, zh, avg: XTREME's layout
    assert first_screen(one_seed).splitlines()[0] == one_seed_text.splitlines()[2]  # what `score` prints


def test_report_is_short_and_links_every_target_page(one_seed):
    text = render_report(one_seed, {**SETUP, "seeds": [0]}, details={"qa": "report/qa.md"})
    assert len(text.splitlines()) <= 250
    assert "[`qa`](report/qa.md)" in text


def test_no_estimate_is_built_on_zero_changed_examples(one_seed, one_seed_page):
    rows = table_rows(one_seed_page, "### Δ drop, `multi` − `squad`, F1")
    th = [r for r in rows if r[0] == "`codeswitch`" and r[1] == "th"]
    assert th == [["`codeswitch`", "th", "n/a (0/120 changed)", "n/a", "n/a", "n/a", "not applicable", "n/a", "n/a"]]
    drops = table_rows(one_seed_page, "## Drops, F1")
    header_langs = ["de", "th", "zh", "**avg**"]
    changed = next(r for r in drops if r[0] == "`codeswitch`")
    assert changed[2 + header_langs.index("th")] == "n/a (0/120 changed)"
    # The average is over de and zh only, and says so.
    average = one_seed.comparisons
    average = average[(average["lang"] == "avg") & (average["condition"] == "codeswitch")
                      & (average["arm_a"] == "multi") & (average["arm_b"] == "squad")].iloc[0]
    assert average["languages"] == "de,zh"
    avg_row = next(r for r in rows if r[0] == "`codeswitch`" and r[1] == "**avg**")
    assert avg_row[2] == "240/360"


def test_adjusted_p_values_are_shown_and_decide(one_seed, one_seed_text, one_seed_page):
    assert "adjusted" in one_seed_text and "Holm" in one_seed_text
    rows = table_rows(one_seed_page, "### Δ drop, `squad` − `none`, F1")
    table = one_seed.comparisons
    checked = 0
    for r in rows:
        if r[6] == "not applicable":
            continue
        lang = r[1].strip("*")
        match = table[(table["arm_a"] == "squad") & (table["arm_b"] == "none") & (table["lang"] == lang)
                      & (table["condition"] == r[0].strip("`")) & (table["metric"] == "f1")].iloc[0]
        shown = "< 0.001" if match["p_adjusted"] < 0.001 else f"{match['p_adjusted']:.3f}"
        assert r[5] == shown and r[6] == match["verdict"]
        checked += 1
    assert checked == 7  # typos: de, th, zh, avg; codeswitch: de, zh, avg


def test_covering_statement_matches_the_number_of_seeds(one_seed_text):
    one = "example (cluster) sampling only, not training-run variance"
    assert one in one_seed_text
    assert "hierarchical" not in one_seed_text.lower()
    two = render_report(build(seeds=(0, 1), attacks=False), {**SETUP, "seeds": [0, 1]})
    assert "clusters (cluster bootstrap of seed-averaged scores) and training runs" in two
    assert one not in two


def test_confounds_appear_in_prose_and_tables():
    summary = build(confound=True, attacks=False)
    text = render_report(summary, {**SETUP, "seeds": [0]})
    prose = text.split("## Confounds")[1].split("\n## ")[0]
    assert "`qa` `multi` vs `none`" in prose
    assert "`multi` vs `squad`" not in prose  # not flagged: similar clean scores
    assert "none vs squad also differs in the amount of target-distribution data" in prose
    assert "### Δ drop, `multi` − `none`, F1 — **confounded**" in render_target_page(summary, "qa")
    unflagged = render_report(build(attacks=False), {**SETUP, "seeds": [0]})
    assert "Flagged *confounded*" not in unflagged and "No comparison's arms differ in clean score" in unflagged


def test_attack_table_shows_n_and_intervals(one_seed, one_seed_text, one_seed_page):
    rows = table_rows(one_seed_page, "`multi` (A) vs `squad` (B)")
    attacks = one_seed.attacks
    de = attacks[(attacks["comparison"] == "multi_vs_squad") & (attacks["lang"] == "de")].iloc[0]
    row = next(r for r in rows if r[0] == "de")
    assert row[2] == f"{int(de['n'])} ({int(de['n_clusters'])})"
    assert row[3] == (f"{100 * de['success_a']:.1f} [{100 * de['success_a_ci_low']:.1f}, "
                      f"{100 * de['success_a_ci_high']:.1f}]")
    assert any(r[0].startswith("**pooled**") for r in rows)
    assert "sign-flip" in one_seed_page and "one training run per arm" in one_seed_page
    pooled = table_rows(one_seed_text, "## Model-aware attack (pooled over languages)")
    assert len(pooled) == len(attacks[attacks["lang"] == "pooled"])


def test_confidence_level_comes_from_the_settings():
    summary = build(confidence=0.9)
    text = render_report(summary, {**SETUP, "seeds": [0]}) + render_target_page(summary, "qa")
    assert "90%" in text and "95%" not in text
    assert "p < 0.1 " in text


def test_title_and_question_come_from_the_setup(one_seed_text, one_seed):
    assert one_seed_text.startswith("# A study of typos\n")
    assert "## Question and measure\n\nDo typos hurt some arms more? Each arm's **drop** is" in one_seed_text
    bare = render_report(one_seed, {"seeds": [0]})
    assert bare.startswith("# Robustness report\n") and "## Question and measure\n\nEach arm's **drop** is" in bare


def test_setup_lists_arms_steps_and_sizes(one_seed_text):
    assert "`multi` = squad, mnli (120 intermediate steps; fine-tuning 60)" in one_seed_text
    assert "`none` = no intermediate task (fine-tuning 60)" in one_seed_text
    assert table_rows(one_seed_text, "| data set (examples) |") == [] or "| `qa.de` | 120 |" in one_seed_text
    assert "`typos` (rate=0.1)" in one_seed_text
    for needed in ("## Question", "## Setup", "## Confounds", "## What this does not show"):
        assert needed in one_seed_text


def test_limitations_are_true(one_seed_text):
    limits = one_seed_text.split("## What this does not show")[1]
    assert "each arm was trained once" in limits
    assert "qa/codeswitch/th" in limits  # the not-applicable cell is named
    assert "adjusted (Holm)" in limits and "not corrected" not in limits
    assert "as few as 120 changed examples" in limits  # every applicable cell: all 120 items changed


def test_limitations_name_the_smallest_applicable_cell():
    """Half of the German items changed by code-switching: the smallest cell, counted from the score table."""
    coverage = {("th", "codeswitch"): 0.0, ("de", "codeswitch"): 0.5}
    scores = synthetic(coverage=coverage)
    changed = scores[(scores["condition"] != "clean") & scores["applied"]].groupby(["arm", "lang", "condition"])
    smallest = changed["id"].nunique().min()
    assert 30 < smallest < 90  # about half of 120, and no cell of 0 (th is not applicable, not counted)
    text = render_report(build(coverage=coverage, attacks=False), {**SETUP, "seeds": [0]})
    assert f"as few as {smallest} changed examples" in text.split("## What this does not show")[1]


def test_exploratory_lists_raw_significance_that_does_not_survive(one_seed, one_seed_text):
    rows = exploratory_rows(one_seed)
    alpha = one_seed.settings.alpha
    assert ((rows["p_value"] < alpha) & (rows["p_adjusted"] >= alpha)).all()
    table = one_seed.comparisons
    expected = table[(table["metric"] == "f1") & (table["p_value"] < alpha) & (table["p_adjusted"] >= alpha)]
    assert len(rows) == len(expected)
    section = one_seed_text.split("## Exploratory")[1].split("\n## ")[0]
    listed = [line for line in section.splitlines() if line.startswith("- `qa`")]
    assert len(listed) == min(len(rows), 12)
    attacks = one_seed.attacks
    raw_only = attacks[(attacks["p_value"] < alpha) & (attacks["p_adjusted"] >= alpha)]
    assert section.count("- attack on") == len(raw_only)


def test_unnamed_headline_is_called_exploratory():
    scores = synthetic_scores(RATES, langs=("de",), n_clusters=10, seed=1)
    summary = summarize(scores, None,
                        SummarySettings(comparisons=COMPARISONS, bootstrap=BootstrapSettings(n_resamples=100)))
    text = render_report(summary, {"seeds": [0]})
    assert "No answer was named in advance" in text and "exploratory" in text
    assert pd.notna(summary.comparisons["p_adjusted"]).all()
    assert np.isfinite(summary.comparisons["delta"]).all()

"""The Markdown report says only what the numbers support: no estimate on zero changed examples, adjusted
p-values, what the intervals cover given the number of seeds, confound flags in prose, attack n and intervals,
and the confidence level taken from the settings."""

import re

import numpy as np
import pandas as pd
import pytest
from scoring_support import synthetic_attacks, synthetic_scores

from stages.xlt.scoring.report import render_report
from stages.xlt.scoring.statistics import BootstrapSettings
from stages.xlt.scoring.summary import SummarySettings, summarize

RATES = {"multi": 0.5, "squad": 0.1, "none": 0.1}
SETUP = {
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


def build(seeds=(0,), confidence=0.95, confound=False, attacks=True):
    scores = synthetic_scores(RATES, langs=("de", "th", "zh"), conditions=("typos", "codeswitch"), seeds=seeds,
                              n_clusters=30, coverage={("th", "codeswitch"): 0.0}, seed=5)
    if confound:
        scores.loc[(scores["arm"] == "none") & (scores["condition"] == "clean"), "value"] = 1.0
    records = synthetic_attacks(scores, {"multi": 0.7, "squad": 0.2, "none": 0.2}, n_items=40) if attacks else None
    settings = SummarySettings(bootstrap=BootstrapSettings(n_resamples=200, confidence=confidence),
                               n_permutations=200, headline=(("qa", ("multi", "squad"), "typos"),))
    return summarize(scores, records, settings)


@pytest.fixture(scope="module")
def one_seed():
    return build()


@pytest.fixture(scope="module")
def one_seed_text(one_seed):
    return render_report(one_seed, {**SETUP, "seeds": [0]})


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


def test_no_estimate_is_built_on_zero_changed_examples(one_seed, one_seed_text):
    rows = table_rows(one_seed_text, "Δ drop, `multi` − `squad`")
    th = [r for r in rows if r[0] == "`codeswitch`" and r[1] == "th"]
    assert th == [["`codeswitch`", "th", "n/a (0/120 changed)", "n/a", "n/a", "n/a", "not applicable", "n/a"]]
    assert not any(r[1] == "th" and r[6] == "no evidence" for r in rows if r[0] == "`codeswitch`")
    drops = table_rows(one_seed_text, "Drop (clean − perturbed)")
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


def test_adjusted_p_values_are_shown_and_decide(one_seed, one_seed_text):
    assert "adjusted p" in one_seed_text and "Holm" in one_seed_text
    rows = table_rows(one_seed_text, "Δ drop, `squad` − `none`")
    table = one_seed.comparisons
    for r in rows:
        if r[6] == "not applicable":
            continue
        lang = r[1].strip("*")
        match = table[(table["arm_a"] == "squad") & (table["arm_b"] == "none") & (table["lang"] == lang)
                      & (table["condition"] == r[0].strip("`"))].iloc[0]
        shown = "< 0.001" if match["p_adjusted"] < 0.001 else f"{match['p_adjusted']:.3f}"
        assert r[5] == shown and r[6] == match["verdict"]


def test_answer_is_the_named_headline_cell(one_seed, one_seed_text):
    answer = one_seed_text.split("## Answer")[1].split("## Confounds")[0]
    row = one_seed.comparisons
    row = row[row["headline"]].iloc[0]
    assert f"Δ = {100 * row['delta']:+.1f} F1 points, 95% interval [{100 * row['ci_low']:+.1f}, " \
           f"{100 * row['ci_high']:+.1f}]" in answer
    assert "**degrades**" in answer and "`multi` is less robust than `squad`" in answer
    assert answer.count("\n- `qa`") == 1  # only the named cell, not every striking one


def test_covering_statement_matches_the_number_of_seeds(one_seed_text):
    one = "example (cluster) sampling only, not training-run variance"
    assert one in one_seed_text
    assert "hierarchical" not in one_seed_text.lower()
    two = render_report(build(seeds=(0, 1), attacks=False), {**SETUP, "seeds": [0, 1]})
    assert "clusters (cluster bootstrap of seed-averaged scores) and training runs" in two
    assert one not in two


def test_confounds_appear_in_prose_and_tables():
    text = render_report(build(confound=True, attacks=False), {**SETUP, "seeds": [0]})
    prose = text.split("## Confounds")[1].split("## Results")[0]
    assert "**`multi` vs `none` on `qa` is confounded**" in prose
    assert "`multi` vs `squad`" not in prose  # not flagged: similar clean scores
    assert "none vs squad also differs in the amount of target-distribution data" in prose
    assert "Δ drop, `multi` − `none` (F1 points) — **confounded**" in text
    unflagged = render_report(build(attacks=False), {**SETUP, "seeds": [0]})
    assert "is confounded" not in unflagged and "No comparison's arms differ in clean score" in unflagged


def test_attack_table_shows_n_and_intervals(one_seed, one_seed_text):
    rows = table_rows(one_seed_text, "`qa`: `multi` (A) vs `squad` (B)")
    attacks = one_seed.attacks
    de = attacks[(attacks["comparison"] == "multi_vs_squad") & (attacks["lang"] == "de")].iloc[0]
    row = next(r for r in rows if r[0] == "de")
    assert row[1] == str(int(de["n"]))
    assert row[2] == (f"{100 * de['success_a']:.1f} [{100 * de['success_a_ci_low']:.1f}, "
                      f"{100 * de['success_a_ci_high']:.1f}]")
    assert any(r[0] == "**pooled**" for r in rows)
    assert "Wilson" in one_seed_text and "McNemar" in one_seed_text


def test_confidence_level_comes_from_the_settings():
    text = render_report(build(confidence=0.9), {**SETUP, "seeds": [0]})
    assert "90%" in text and "95%" not in text
    assert "p < 0.1" in text


def test_setup_lists_arms_steps_and_sizes(one_seed_text):
    assert "arm `multi`: intermediate tasks squad, mnli (120 intermediate steps, 60 target fine-tuning steps)" \
        in one_seed_text
    assert "arm `none`: intermediate tasks none (60 target fine-tuning steps)" in one_seed_text
    assert "qa.de 120" in one_seed_text and "`typos`: rate=0.1" in one_seed_text
    for needed in ("## Question", "## Setup", "## Answer", "## Results", "## What this does not show"):
        assert needed in one_seed_text


def test_limitations_are_true(one_seed_text):
    limits = one_seed_text.split("## What this does not show")[1]
    assert "each arm was trained once" in limits
    assert "qa/codeswitch/th" in limits  # the not-applicable cell is named
    assert "adjusted (Holm)" in limits and "not corrected" not in limits
    smallest = re.search(r"as few as (\d+) changed examples", limits)
    assert smallest and int(smallest.group(1)) > 0


def test_unnamed_headline_is_called_exploratory():
    scores = synthetic_scores(RATES, langs=("de",), n_clusters=10, seed=1)
    summary = summarize(scores, None, SummarySettings(bootstrap=BootstrapSettings(n_resamples=100)))
    text = render_report(summary, {"seeds": [0]})
    assert "No headline cells were named in advance" in text and "exploratory" in text
    assert pd.notna(summary.comparisons["p_adjusted"]).all()
    assert np.isfinite(summary.comparisons["delta"]).all()

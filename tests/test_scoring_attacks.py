"""The attack's figures and tests (attack_stats.py) and its report section and reviewable sample (attack_report.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scoring_support import mcnemar_exact

from stages.xlt.scoring.attack_report import attack_samples, attack_section
from stages.xlt.scoring.attack_stats import (AttackSettings, PairedLanguage, attack_rows, bootstrap_rates,
                                             minimum_detectable_difference, sign_flip_p, textattack_figures)
from stages.xlt.scoring.statistics import adjust_p_values

SETTINGS = AttackSettings(comparisons=(("multi", "squad"),), n_resamples=400)


def record(arm, seed, lang, item, status, cluster=None, poolable=True, words=1, n_words=8, queries=12):
    return {"task": "xquad", "arm": arm, "seed": seed, "lang": lang, "id": f"{lang}{item}",
            "cluster": cluster if cluster is not None else f"c{item}", "status": status,
            "success": status == "succeeded", "words_changed": words if status == "succeeded" else 0,
            "n_words": n_words, "queries": 0 if status == "skipped" else queries, "budget_exhausted": False,
            "poolable": poolable, "clean_metric": 1.0, "final_metric": 0.0 if status == "succeeded" else 1.0}


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows)


def row_of(rows, lang):
    return next(r for r in rows if r["lang"] == lang)


# ---------------------------------------------------------------------------------------------- the test
def test_the_reference_mcnemar_p_against_hand_computed_values():
    assert mcnemar_exact(1, 7) == pytest.approx(2 * (1 + 8) / 256)  # 0.0703125
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_sign_flip_is_the_exact_mcnemar_test_for_one_run_and_singleton_clusters():
    for a_only, b_only in [(6, 1), (11, 3), (2, 2), (5, 0)]:
        contributions = np.array([1.0] * a_only + [-1.0] * b_only + [0.0] * 7) / (a_only + b_only + 7)
        p, method = sign_flip_p(contributions, 1000, 0)
        assert p == pytest.approx(mcnemar_exact(a_only, b_only)) and method.startswith("exact")


def test_sign_flip_counts_a_cluster_once_however_many_items_it_holds():
    # 11 vs 3 discordant items, but in 4 clusters: only 2^4 sign patterns, so p cannot be small.
    contributions = np.array([5.0, 4.0, 2.0, -3.0])
    p, _ = sign_flip_p(contributions, 1000, 0)
    brute = [abs(np.dot(s, contributions)) >= abs(contributions.sum()) - 1e-9
             for s in itertools.product([-1, 1], repeat=4)]
    assert p == pytest.approx(np.mean(brute)) and p >= 2 / 16


def test_monte_carlo_beyond_the_exact_limit_agrees_with_exact():
    rng = np.random.default_rng(1)
    contributions = rng.normal(0.3, 1.0, 20)
    exact, method = sign_flip_p(contributions, 1000, 0)
    assert method.startswith("exact")
    sampled, method = sign_flip_p(np.concatenate([contributions, [1e-6]]), 20000, 0)
    assert "random" in method and sampled == pytest.approx(exact, abs=0.02)


def test_the_detectable_difference_shrinks_with_n_and_needs_discordance():
    few = minimum_detectable_difference(np.array([1, -1, 1, 0, 0, 0]) / 6, 0.05)
    many = minimum_detectable_difference(np.tile([1, -1, 1, 0, 0, 0], 10) / 60, 0.05)
    assert many == pytest.approx(few / np.sqrt(10)) and few > many
    assert np.isnan(minimum_detectable_difference(np.zeros(5), 0.05))
    assert few == pytest.approx((1.959964 + 0.841621) * np.sqrt(3) / 6, rel=1e-5)


def test_seed_resampling_widens_the_interval_when_runs_disagree():
    clusters = np.array([f"c{i}" for i in range(40)])
    agree = PairedLanguage("de", clusters, clusters, np.tile([[1.0], [0.0]], (20, 3)), np.zeros((40, 3)))
    runs_differ = np.zeros((40, 3))
    runs_differ[:, 0] = 1.0  # one run always succeeds, the other two never: same mean as 1/3 everywhere
    disagree = PairedLanguage("de", clusters, clusters, runs_differ, np.full((40, 3), 0.0))
    narrow = bootstrap_rates([agree], SETTINGS)["a"]
    wide = bootstrap_rates([disagree], SETTINGS)["a"]
    assert wide[1] - wide[0] > narrow[1] - narrow[0]
    assert wide[0] == pytest.approx(0.0) and wide[1] >= 2 / 3  # runs drawn: 0, 1, 2 or 3 of the winning one


# ---------------------------------------------------------------------------------------------- the table
def test_textattack_figures():
    rows = frame([record("multi", 0, "de", 0, "succeeded", words=2, n_words=8, queries=10),
                  record("multi", 0, "de", 1, "failed", queries=30), record("multi", 0, "de", 2, "skipped"),
                  record("multi", 1, "de", 0, "succeeded", words=1, n_words=4, queries=20)])
    figures = textattack_figures(rows)
    assert (figures["candidates"], figures["skipped"], figures["failed"], figures["succeeded"]) == (4, 1, 1, 2)
    assert figures["original_accuracy"] == 0.75 and figures["accuracy_under_attack"] == 0.25
    assert figures["attack_success_rate"] == pytest.approx(2 / 3)
    assert figures["words_perturbed_pct"] == pytest.approx(25.0) and figures["avg_queries"] == pytest.approx(20)


def test_pairs_on_items_both_arms_attacked_with_rates_averaged_over_seeds():
    rows = []
    for item, (a0, a1, b0) in enumerate([("succeeded", "failed", "failed"), ("succeeded", "succeeded", "failed"),
                                         ("skipped", "skipped", "succeeded"), ("failed", "skipped", "skipped"),
                                         ("failed", "failed", "succeeded")]):
        rows += [record("multi", 0, "de", item, a0), record("multi", 1, "de", item, a1),
                 record("squad", 0, "de", item, b0)]
    result = attack_rows(frame(rows), SETTINGS)
    de = row_of(result, "de")
    assert (de["pool_a"], de["pool_b"], de["n"]) == (4, 4, 3)  # both attacked items 0, 1 and 4
    assert de["success_a"] == pytest.approx((0.5 + 1 + 0) / 3) and de["success_b"] == pytest.approx(1 / 3)
    assert (de["a_higher"], de["b_higher"]) == (2, 1)
    assert de["seeds_a"] == 2 and "training runs" in de["interval_scope"]
    assert de["attack_success_rate_a"] == pytest.approx(3 / 7) and de["skipped_a"] == 3


def test_pooled_rows_average_languages_and_leave_out_separate_ones():
    rows = []
    for i in range(10):  # de: A always wins, 10 items
        rows += [record("multi", 0, "de", i, "succeeded"), record("squad", 0, "de", i, "failed")]
    for i in range(2):  # zh: A never wins, 2 items
        rows += [record("multi", 0, "zh", i, "failed"), record("squad", 0, "zh", i, "failed")]
    for i in range(5):  # th: no word list, reported alone
        rows += [record("multi", 0, "th", i, "succeeded", poolable=False),
                 record("squad", 0, "th", i, "failed", poolable=False)]
    result = attack_rows(frame(rows), SETTINGS)
    pooled = row_of(result, "pooled")
    assert pooled["languages"] == "de, zh" and pooled["n"] == 12
    assert pooled["success_a"] == pytest.approx(0.5)  # the mean of 1.0 and 0.0, not 10/12
    assert row_of(result, "th")["poolable"] is False and row_of(result, "th")["n"] == 5
    per_lang = [r for r in result if r["lang"] != "pooled"]
    assert [r["p_adjusted"] for r in per_lang] == pytest.approx(adjust_p_values([r["p_value"] for r in per_lang]))


def test_pooled_rows_form_one_family_across_targets_and_comparisons():
    rows = []
    for task in ("xquad", "xnli"):
        for i in range(12):
            for arm, status in (("multi", "succeeded" if i % 2 else "failed"), ("squad", "failed"),
                                ("none", "succeeded" if i % 3 else "failed")):
                rows.append({**record(arm, 0, "de", i, status), "task": task})
    settings = AttackSettings(comparisons=(("multi", "squad"), ("multi", "none")), n_resamples=200)
    result = attack_rows(frame(rows), settings)
    pooled = [r for r in result if r["lang"] == "pooled"]
    assert len(pooled) == 4
    assert [r["p_adjusted"] for r in pooled] == pytest.approx(adjust_p_values([r["p_value"] for r in pooled]))
    assert {r["family"] for r in pooled} == {"pooled attack rows (every target and comparison)"}


# ---------------------------------------------------------------------------------------------- rendering
class _Summary:
    def __init__(self, attacks):
        from stages.xlt.scoring.settings import SummarySettings
        from stages.xlt.scoring.statistics import BootstrapSettings

        self.attacks = attacks
        self.settings = SummarySettings(comparisons=(("multi", "squad"),), bootstrap=BootstrapSettings())


def test_section_has_textattack_columns_power_and_scope():
    rows = []
    for i in range(8):
        for seed in (0, 1):
            rows += [record("multi", seed, "de", i, "succeeded" if i < 5 else "failed"),
                     record("squad", seed, "de", i, "failed" if i else "skipped"),
                     record("multi", seed, "th", i, "succeeded", poolable=False),
                     record("squad", seed, "th", i, "failed", poolable=False)]
    text = "\n".join(attack_section(_Summary(pd.DataFrame(attack_rows(frame(rows), SETTINGS)))))
    for needed in ("skipped / failed / succeeded", "original accuracy %", "accuracy under attack %",
                   "attack success rate %", "% words perturbed", "avg queries", "detectable at 80% power",
                   "pool A / B", "clusters and training runs (2 and 2 seeds, resampled)", "th (separate)",
                   "**pooled** (de)", "exact", "report/attack_samples.md"):
        assert needed in text, needed


def test_samples_show_clean_and_attacked_text_with_the_changed_words():
    rows = [{**record("multi", 0, "de", 1, "succeeded"), "clean_prediction": "1066", "final_prediction": "Hastings",
             "final_metric": 0.0, "edits": [{"word": "Normannen", "replacement": "Normanen", "operation": "delete"}],
             "clean": {"question": "Wann eroberten die Normannen England?"},
             "adversarial": {"question": "Wann eroberten die Normanen England?"}},
            {**record("multi", 0, "de", 2, "failed"), "clean_prediction": "x", "final_prediction": "x", "edits": [],
             "clean": {"question": "q"}, "adversarial": {"question": "q"}}]
    text = attack_samples(pd.DataFrame(rows))
    assert "## `xquad` de: 1 of 1 successful attacks" in text
    assert "die **Normannen** England" in text and "die **Normanen** England" in text
    assert "1066 → Hastings (F1 1.00 → 0.00)" in text and "Normannen → Normanen (delete)" in text
    assert "label kept?" in text
    many = [{**rows[0], "id": f"de{i}"} for i in range(40)]
    assert "30 of 40 successful attacks" in attack_samples(pd.DataFrame(many))

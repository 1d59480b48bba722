"""From the long per-example score table to the study's tables: clean scores, per-arm drops, arm-vs-arm Δ,
confounds, attack success, and score vs perturbation strength, with adjusted p-values and verdicts.

The parts: alignment.py checks the inputs and aligns them into cells (the examples every arm and seed scored);
tables.py builds the clean, drop, Δ and confound tables from the cells; strength.py the drop per chrF bin;
attack_stats.py the attack comparisons; metrics_files.py shapes the Summary into the files DVC reads. Here: the
primary metric of each task, the multiplicity families and verdicts, and the minimum detectable effects at 80%
power (mde at alpha, mde_family at alpha / family_size; power.py) on every comparison row.

Multiplicity families (adjusted p-values with `multiplicity`, "holm" by default):
* per-language cells: one family per table row set task × metric × comparison × condition, i.e. the
  applicable languages of that comparison under that perturbation;
* headline cells (`headline`, the language-averaged cells named in advance as the answer): one family of
  all of them;
* other language averages: one family per task × metric × comparison (its perturbations).
family_size counts the family's tested cells (not applicable and too-few-clusters cells are out).
A verdict is decided by the adjusted p-value; intervals are marginal. Secondary metrics (EM, en→xx retrieval)
are separate tables and families and exploratory.

Attacks (attack_stats.py): each model attacks the candidates it gets right; TextAttack's figures per arm on its
own pool, and paired success rates on the items both arms attacked, averaged over each arm's seeds, with a
cluster/seed bootstrap interval and an exact cluster sign-flip test.

Arm and condition names come from the data and the settings; none is written here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stages.xlt.scoring.alignment import Aligned, align, prepare_scores
from stages.xlt.scoring.attack_stats import AttackSettings, attack_table
from stages.xlt.scoring.labels import AVERAGE
from stages.xlt.scoring.power import Components, measured_effects
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import NOT_APPLICABLE, TOO_FEW_CLUSTERS, adjust_p_values, decide, interval_scope
from stages.xlt.scoring.strength import strength_table
from stages.xlt.scoring.tables import changed_confounds, clean_table, confound_table, perturbed_rows

METRIC_PREFERENCE = ("f1", "accuracy")


@dataclass(frozen=True)
class Summary:
    clean: pd.DataFrame  # task, metric, arm, lang, clean, ci_low, ci_high, n, n_clusters, n_seeds
    arms: pd.DataFrame  # task, metric, arm, lang, condition, applicable, coverage, n, drop(+ci), relative, ...
    comparisons: pd.DataFrame  # task, metric, arm_a, arm_b, lang, condition, delta(+ci), p_value, p_adjusted, ...
    confounds: pd.DataFrame  # task, metric, arm_a, arm_b, clean_a, clean_b, clean_gap, confounded
    attacks: pd.DataFrame  # task, arm_a, arm_b, lang, TextAttack's figures per arm, n, success_a/b, p_value, ...
    strength: pd.DataFrame  # task, metric, arm, condition, chrf_bin, chrf_mid, score, drop(+ci), n, ...
    settings: SummarySettings
    primary_metrics: dict[str, str]  # task -> the metric reported for it
    n_seeds: dict[str, int]  # arm -> training seeds (fewest over tasks)
    missing: tuple[str, ...] = ()  # cells without any example shared by all arms and seeds

    def scope(self, arms: Sequence[str] | None = None) -> str:
        """What the intervals cover, for the given arms (default: every arm)."""
        chosen = self.n_seeds if arms is None else {a: self.n_seeds[a] for a in arms if a in self.n_seeds}
        return interval_scope(chosen, self.settings.bootstrap)


def _resolve_primary_metrics(frame: pd.DataFrame, settings: SummarySettings) -> dict[str, str]:
    out = {}
    for task, metrics in frame.groupby("task")["metric"].unique().items():
        available = sorted(metrics)
        for metric in [settings.primary_metrics.get(task), *METRIC_PREFERENCE, *available]:
            if metric in available:
                out[task] = metric
                break
    return out


def _check_headline(data: Aligned, settings: SummarySettings) -> None:
    for task, arm_a, arm_b, condition in settings.headline:
        if not any(k[0] == task and k[3] == condition for k in data.cells):
            raise ValueError(f"headline cell ({task}, {arm_a} vs {arm_b}, {condition}) has no scores: "
                             f"the data have tasks/conditions {sorted({(k[0], k[3]) for k in data.cells})}")


# ---------------------------------------------------------------------------------------------- families
def _headline_mask(table: pd.DataFrame, settings: SummarySettings, primary: Mapping[str, str]) -> np.ndarray:
    if table.empty:
        return np.zeros(0, dtype=bool)
    wanted = {(task, primary.get(task), a, b, condition) for task, a, b, condition in settings.headline}
    keys = zip(table["task"], table["metric"], table["arm_a"], table["arm_b"], table["condition"])
    return np.array([key in wanted for key in keys]) & (table["lang"] == AVERAGE).to_numpy()


def _adjust(table: pd.DataFrame, settings: SummarySettings, primary: Mapping[str, str]) -> pd.DataFrame:
    """p_adjusted, the verdict and the minimum detectable effects per the families in the module docstring.
    Cells without a p (not applicable, too few clusters) are not in any family's size."""
    if table.empty:
        return table
    table = table.copy()
    table["headline"] = _headline_mask(table, settings, primary)
    average = table["lang"] == AVERAGE
    family = np.where(
        table["headline"], "headline cells",
        np.where(average, table["task"] + "/" + table["metric"] + "/" + table["comparison"] + ": language averages",
                 table["task"] + "/" + table["metric"] + "/" + table["comparison"] + "/" + table["condition"]
                 + ": languages"))
    table["family"] = family
    table["p_adjusted"] = math.nan
    for _, index in table.groupby("family").groups.items():
        table.loc[index, "p_adjusted"] = adjust_p_values(table.loc[index, "p_value"].to_numpy(),
                                                         settings.multiplicity)
    table["family_size"] = table.groupby("family")["p_value"].transform(lambda p: int(np.isfinite(p).sum()))
    verdicts, mde, mde_family = [], [], []
    alpha = settings.alpha
    for row in table.itertuples():
        if not row.applicable:
            verdicts.append(NOT_APPLICABLE)
        elif row.too_few_clusters:
            verdicts.append(TOO_FEW_CLUSTERS)
        else:
            verdicts.append(decide(row.p_adjusted, row.delta, alpha))
        effects = [math.nan, math.nan]
        if np.isfinite(row.p_value):
            measured = Components(row.var_items, row.n_clusters, 1, (row.seed_var_a, row.seed_var_b),
                                  (row.var_interaction_a, row.var_interaction_b), (row.n_seeds_a, row.n_seeds_b))
            effects = measured_effects(measured, [alpha, alpha / row.family_size])
        mde.append(effects[0])
        mde_family.append(effects[1])
    table["verdict"], table["mde"], table["mde_family"] = verdicts, mde, mde_family
    return table


# ---------------------------------------------------------------------------------------------- the summary
def _without_skipped(table: pd.DataFrame, settings: SummarySettings) -> pd.DataFrame:
    """`table` less the rows of `settings.skipped_comparisons`."""
    if table.empty or not settings.skipped_comparisons:
        return table
    keys = zip(table["task"], table["arm_a"], table["arm_b"])
    return table[[key not in set(settings.skipped_comparisons) for key in keys]].reset_index(drop=True)


def _attack_settings(settings: SummarySettings) -> AttackSettings:
    return AttackSettings(comparisons=settings.comparisons, confidence=settings.bootstrap.confidence,
                          n_resamples=settings.bootstrap.n_resamples,
                          n_permutations=max(settings.n_permutations, 10000),
                          multiplicity=settings.multiplicity, seed=settings.bootstrap.seed)


def summarize(scores: pd.DataFrame, attacks: pd.DataFrame | None, settings: SummarySettings) -> Summary:
    """All of the study's tables from the per-example scores (and attack records)."""
    frame = prepare_scores(scores)
    data = align(frame)
    if not data.cells:
        raise ValueError("no (task, lang, perturbation) has clean and perturbed scores on shared example ids")
    primary = _resolve_primary_metrics(frame, settings)
    _check_headline(data, settings)
    drop_rows, delta_rows = perturbed_rows(data, settings)
    comparisons = _without_skipped(pd.DataFrame(delta_rows), settings)
    confounds = _without_skipped(changed_confounds(confound_table(data, settings), comparisons), settings)
    if not comparisons.empty:
        comparisons = comparisons.merge(confounds[["task", "metric", "arm_a", "arm_b", "clean_gap", "confounded"]],
                                        on=["task", "metric", "arm_a", "arm_b"], how="left")
        comparisons["confounded"] = comparisons["confounded"].fillna(False).astype(bool)
        comparisons = _adjust(comparisons, settings, primary)
    n_seeds: dict[str, int] = {}
    for (task, arm), seeds in data.seeds.items():
        n_seeds[arm] = min(n_seeds.get(arm, len(seeds)), len(seeds))
    return Summary(
        clean=clean_table(data, settings),
        arms=pd.DataFrame(drop_rows),
        comparisons=comparisons,
        confounds=confounds,
        attacks=attack_table(attacks, _attack_settings(settings)),
        strength=strength_table(data, primary, settings),
        settings=settings,
        primary_metrics=primary,
        n_seeds=n_seeds,
        missing=data.missing,
    )


# ---------------------------------------------------------------------------------------------- reading it
def tasks(summary: Summary) -> list[str]:
    return sorted(summary.primary_metrics)


def headline_rows(summary: Summary) -> pd.DataFrame:
    """The answer: the headline cells (language averages, primary metric), in the order they were named.
    Without named cells: every language-averaged primary-metric cell (then exploratory, not an answer)."""
    table = summary.comparisons
    if table.empty:
        return table
    if summary.settings.headline:
        parts = [table[(table["task"] == t) & (table["metric"] == summary.primary_metrics.get(t))
                       & (table["arm_a"] == a) & (table["arm_b"] == b) & (table["condition"] == c)
                       & (table["lang"] == AVERAGE)] for t, a, b, c in summary.settings.headline]
        return pd.concat(parts, ignore_index=True)
    keep = [summary.primary_metrics.get(t) == m for t, m in zip(table["task"], table["metric"])]
    return table[np.array(keep) & (table["lang"] == AVERAGE).to_numpy()].reset_index(drop=True)

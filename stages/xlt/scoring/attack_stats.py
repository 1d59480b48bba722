"""The attack's figures and tests: TextAttack's per-arm figures, and paired arm-vs-arm success rates over runs.

Input: the attack records (``collect.attack_records``), one row per model (arm, seed) and candidate item:
``task, arm, seed, lang, id, cluster, status, success, words_changed, n_words, queries, budget_exhausted,
clean_metric, final_metric, poolable``.

* **TextAttack's figures**, per arm, target and language, over the arm's seeds (counts add up over seeds):
  skipped / failed / succeeded; original accuracy = attacked / candidates; accuracy under attack = failed /
  candidates; attack success rate = succeeded / attacked; average % of words perturbed (successful attacks: words
  changed / words in the attacked text); average queries (attacked items). Each arm on its OWN pool: the candidates
  it gets right.
* **Paired comparison** of two arms on the items BOTH attacked (at least one seed each; the intersection of their
  pools): an item's success rate for an arm is the mean over the arm's seeds that attacked it, so with several
  seeds the comparison is over runs, not one run's luck.
  - interval: percentile cluster bootstrap; each replicate draws clusters (the same draw in every language: items
    are translations) and, per arm, its seeds with replacement (hierarchical, as statistics.py resamples runs), so
    with several seeds the interval covers clusters and training runs; with one seed per arm it covers the items of
    that one run, and ``interval_scope`` says so.
  - test: the cluster-level sign-flip permutation test of the mean paired difference (under H0 the two arms'
    seed-averaged success rates are exchangeable within a cluster), EXACT (all 2^m sign patterns of the m clusters
    with a non-zero difference) up to ``EXACT_LIMIT`` such clusters, Monte Carlo beyond. It never relies on a
    large-sample approximation, which 20-odd clusters do not support. With one seed per arm and one item per cluster
    it is the exact McNemar test. It conditions on the trained models (it does not cover run-to-run variance, the
    interval does).
  - power: the smallest difference detectable at 80% power by that test at level alpha, by its normal
    approximation: (z_{1-alpha/2} + z_{0.8}) x SD_0, with SD_0 = sqrt(sum_c D_c^2) / n the null standard deviation of
    the mean difference under sign flips (D_c: the cluster's summed difference, the observed discordance standing in
    for the planning variance, as Card et al. 2020 propose for a pilot). No discordant item: no estimate.
  - pooled rows: the unweighted mean over languages (not over items) of the per-language rates and differences,
    over the languages whose typo model is poolable only (a language without a word list to reject real-word edits
    is reported alone); the clusters' flips are shared across languages.
  - multiplicity: Holm (or BH) over the languages of one target and comparison; the pooled rows of every target
    and comparison form one more family.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd

from stages.xlt.scoring.labels import POOLED
from stages.xlt.scoring.statistics import adjust_p_values

EXACT_LIMIT = 20  # clusters with a non-zero difference: 2^20 sign patterns is about a second
POWER = 0.8
RECORD_COLUMNS = ("task", "arm", "seed", "lang", "id", "cluster", "status", "success", "words_changed", "n_words",
                  "queries", "budget_exhausted", "poolable")
STATUSES = ("succeeded", "failed", "skipped")


@dataclass(frozen=True)
class AttackSettings:
    comparisons: tuple[tuple[str, str], ...]
    confidence: float = 0.95
    n_resamples: int = 2000
    n_permutations: int = 10000
    multiplicity: str = "holm"
    seed: int = 0

    @property
    def alpha(self) -> float:
        return 1 - self.confidence


# ---------------------------------------------------------------------------------------------- TextAttack's figures
def textattack_figures(records: pd.DataFrame) -> dict[str, float]:
    """TextAttack's summary of one arm's records (any number of seeds and items)."""
    counts = {s: int((records["status"] == s).sum()) for s in STATUSES}
    attacked = counts["succeeded"] + counts["failed"]
    total = len(records)
    won = records[records["status"] == "succeeded"]
    done = records[records["status"] != "skipped"]
    return {"candidates": total, "skipped": counts["skipped"], "failed": counts["failed"],
            "succeeded": counts["succeeded"],
            "original_accuracy": attacked / total if total else math.nan,
            "accuracy_under_attack": counts["failed"] / total if total else math.nan,
            "attack_success_rate": counts["succeeded"] / attacked if attacked else math.nan,
            "words_perturbed_pct": float((100 * won["words_changed"] / won["n_words"].clip(lower=1)).mean())
            if len(won) else math.nan,
            "avg_queries": float(done["queries"].mean()) if len(done) else math.nan,
            "budget_exhausted": int(done["budget_exhausted"].sum())}


# ---------------------------------------------------------------------------------------------- paired data
@dataclass
class PairedLanguage:
    """One language's items attacked by both arms: per item, each seed's success (NaN: that seed skipped it)."""

    lang: str
    ids: np.ndarray
    clusters: np.ndarray
    a: np.ndarray  # items x seeds of arm A
    b: np.ndarray  # items x seeds of arm B

    @property
    def difference(self) -> np.ndarray:
        return np.nanmean(self.a, axis=1) - np.nanmean(self.b, axis=1)


def _success_matrix(records: pd.DataFrame, ids: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
    attacked = records[records["status"] != "skipped"]
    if attacked.empty or not len(ids):
        return np.full((len(ids), len(seeds)), np.nan)
    table = attacked.pivot_table(index="id", columns="seed", values="success", aggfunc="first")
    return table.reindex(index=list(ids), columns=list(seeds)).to_numpy(dtype=float)


def paired_language(a: pd.DataFrame, b: pd.DataFrame, lang: str, seeds_a: Sequence[int],
                    seeds_b: Sequence[int]) -> PairedLanguage:
    """The items of ``lang`` that at least one seed of each arm attacked (not skipped)."""
    attacked_a = set(a.loc[a["status"] != "skipped", "id"])
    attacked_b = set(b.loc[b["status"] != "skipped", "id"])
    ids = np.array(sorted(attacked_a & attacked_b), dtype=object)
    clusters = a.drop_duplicates("id").set_index("id")["cluster"].reindex(ids).astype(str).to_numpy()
    return PairedLanguage(lang, ids, clusters, _success_matrix(a, ids, seeds_a), _success_matrix(b, ids, seeds_b))


# ---------------------------------------------------------------------------------------------- the test
def _cluster_contributions(languages: Sequence[PairedLanguage]) -> np.ndarray:
    """Per cluster (union over languages), its share of the language-averaged mean difference."""
    labels = sorted({c for lang in languages for c in lang.clusters})
    index = {c: k for k, c in enumerate(labels)}
    out = np.zeros(len(labels))
    for lang in languages:
        codes = np.array([index[c] for c in lang.clusters], dtype=int)
        out += np.bincount(codes, lang.difference, minlength=len(labels)) / (len(lang.ids) * len(languages))
    return out


def sign_flip_p(contributions: np.ndarray, n_permutations: int, seed: int) -> tuple[float, str]:
    """Two-sided cluster sign-flip p-value of H0 "the mean difference is symmetric about 0"; (p, method)."""
    nonzero = contributions[np.abs(contributions) > 1e-12]
    observed = abs(nonzero.sum())
    tolerance = 1e-9 * max(1.0, observed)
    m = nonzero.size
    if m == 0:
        return 1.0, "exact sign-flip (no discordant cluster)"
    if m <= EXACT_LIMIT:
        extreme = 0
        chunk_bits = min(m, 16)
        low = ((np.arange(2 ** chunk_bits)[:, None] >> np.arange(chunk_bits)) & 1) * 2 - 1
        low_sums = low @ nonzero[:chunk_bits]
        for high in range(2 ** (m - chunk_bits)):
            signs = ((high >> np.arange(m - chunk_bits)) & 1) * 2 - 1
            total = low_sums + signs @ nonzero[chunk_bits:]
            extreme += int((np.abs(total) >= observed - tolerance).sum())
        return extreme / 2 ** m, f"exact sign-flip over {m} clusters"
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_permutations, m))
    extreme = int((np.abs(signs @ nonzero) >= observed - tolerance).sum())
    return (1 + extreme) / (1 + n_permutations), f"sign-flip, {n_permutations} random patterns of {m} clusters"


def minimum_detectable_difference(contributions: np.ndarray, alpha: float, power: float = POWER) -> float:
    """The difference the sign-flip test detects with probability ``power`` (normal approximation; NaN when no
    cluster is discordant)."""
    sd = math.sqrt(float((contributions ** 2).sum()))
    if sd == 0:
        return math.nan
    return (NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)) * sd


# ---------------------------------------------------------------------------------------------- the interval
def _seed_weights(rng: np.random.Generator, n_seeds: int, n_resamples: int) -> np.ndarray:
    if n_seeds == 1:
        return np.ones((n_resamples, 1))
    return rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_resamples).astype(float)


def bootstrap_rates(languages: Sequence[PairedLanguage], settings: AttackSettings) -> dict[str, tuple[float, float]]:
    """Percentile intervals of the language-averaged success rates of A and B and of A − B (clusters drawn once
    for all languages; each arm's seeds drawn with replacement)."""
    rng = np.random.default_rng(settings.seed)
    labels = sorted({c for lang in languages for c in lang.clusters})
    index = {c: k for k, c in enumerate(labels)}
    draws = rng.multinomial(len(labels), np.full(len(labels), 1 / len(labels)), size=settings.n_resamples)
    seeds_a = _seed_weights(rng, languages[0].a.shape[1], settings.n_resamples)
    seeds_b = _seed_weights(rng, languages[0].b.shape[1], settings.n_resamples)
    per_language = {"a": [], "b": [], "difference": []}
    for lang in languages:
        weights = draws[:, [index[c] for c in lang.clusters]].astype(float)  # R x items
        rates = {}
        defined = np.ones_like(weights, dtype=bool)
        for side, matrix, seeds in (("a", lang.a, seeds_a), ("b", lang.b, seeds_b)):
            known = ~np.isnan(matrix)
            numerator = seeds @ np.where(known, matrix, 0.0).T
            denominator = seeds @ known.T.astype(float)
            defined &= denominator > 0
            rates[side] = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
        mass = (weights * defined).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for side in ("a", "b"):
                per_language[side].append((weights * defined * rates[side]).sum(1) / mass)
        per_language["difference"].append(per_language["a"][-1] - per_language["b"][-1])
    tail = settings.alpha / 2
    out = {}
    for key, values in per_language.items():
        average = np.mean(values, axis=0)  # NaN where a language drew no cluster: left out
        average = average[np.isfinite(average)]
        out[key] = (float(np.quantile(average, tail)), float(np.quantile(average, 1 - tail))) if average.size \
            else (math.nan, math.nan)
    return out


def interval_scope(n_seeds_a: int, n_seeds_b: int) -> str:
    if n_seeds_a == n_seeds_b == 1:
        return "the items (clusters) of one training run per arm; not run-to-run variance"
    return f"clusters and training runs ({n_seeds_a} and {n_seeds_b} seeds, resampled)"


# ---------------------------------------------------------------------------------------------- the table
def _paired_row(languages: Sequence[PairedLanguage], settings: AttackSettings) -> dict:
    usable = [lang for lang in languages if len(lang.ids)]
    n = sum(len(lang.ids) for lang in usable)
    row = {"n": n, "n_clusters": len({c for lang in usable for c in lang.clusters})}
    if not usable:
        return row | {"success_a": math.nan, "success_b": math.nan, "difference": math.nan, "p_value": math.nan,
                      "test": "none (no item attacked by both arms)", "mde": math.nan}
    rate_a = float(np.mean([np.nanmean(lang.a, axis=1).mean() for lang in usable]))
    rate_b = float(np.mean([np.nanmean(lang.b, axis=1).mean() for lang in usable]))
    contributions = _cluster_contributions(usable)
    p, test = sign_flip_p(contributions, settings.n_permutations, settings.seed)
    intervals = bootstrap_rates(usable, settings)
    discordant = [np.abs(lang.difference) > 0 for lang in usable]
    return row | {
        "success_a": rate_a, "success_a_ci_low": intervals["a"][0], "success_a_ci_high": intervals["a"][1],
        "success_b": rate_b, "success_b_ci_low": intervals["b"][0], "success_b_ci_high": intervals["b"][1],
        "difference": rate_a - rate_b, "ci_low": intervals["difference"][0],
        "ci_high": intervals["difference"][1],
        "a_higher": int(sum((lang.difference > 0).sum() for lang in usable)),
        "b_higher": int(sum((lang.difference < 0).sum() for lang in usable)),
        "discordant": int(sum(d.sum() for d in discordant)),
        "p_value": p, "test": test, "mde": minimum_detectable_difference(contributions, settings.alpha)}


def _figures(records: pd.DataFrame, side: str) -> dict:
    return {f"{name}_{side}": value for name, value in textattack_figures(records).items()}


def _pooled_figures(per_language: Sequence[dict], side: str) -> dict:
    """Counts add up over languages; rates are the unweighted mean over languages."""
    out = {}
    for name in ("candidates", "skipped", "failed", "succeeded", "budget_exhausted"):
        out[f"{name}_{side}"] = int(sum(row[f"{name}_{side}"] for row in per_language))
    for name in ("original_accuracy", "accuracy_under_attack", "attack_success_rate", "words_perturbed_pct",
                 "avg_queries"):
        values = [row[f"{name}_{side}"] for row in per_language if math.isfinite(row[f"{name}_{side}"])]
        out[f"{name}_{side}"] = float(np.mean(values)) if values else math.nan
    return out


def attack_rows(attacks: pd.DataFrame, settings: AttackSettings) -> list[dict]:
    """Per task x comparison: one row per language and a pooled row (see the module docstring)."""
    rows: list[dict] = []
    for task, by_task in attacks.groupby("task", sort=True):
        for arm_a, arm_b in settings.comparisons:
            a_all, b_all = by_task[by_task["arm"] == arm_a], by_task[by_task["arm"] == arm_b]
            if a_all.empty or b_all.empty:
                continue
            seeds_a, seeds_b = sorted(a_all["seed"].unique()), sorted(b_all["seed"].unique())
            base = {"task": task, "arm_a": arm_a, "arm_b": arm_b, "comparison": f"{arm_a}_vs_{arm_b}",
                    "seeds_a": len(seeds_a), "seeds_b": len(seeds_b),
                    "interval_scope": interval_scope(len(seeds_a), len(seeds_b))}
            per_language, paired = [], {}
            for lang in sorted(set(a_all["lang"]) | set(b_all["lang"])):
                a, b = a_all[a_all["lang"] == lang], b_all[b_all["lang"] == lang]
                paired[lang] = paired_language(a, b, lang, seeds_a, seeds_b)
                poolable = bool(a["poolable"].all() and b["poolable"].all())
                row = {**base, "lang": lang, "poolable": poolable, "languages": lang,
                       "pool_a": int(a.loc[a["status"] != "skipped", "id"].nunique()),
                       "pool_b": int(b.loc[b["status"] != "skipped", "id"].nunique()),
                       **_figures(a, "a"), **_figures(b, "b"), **_paired_row([paired[lang]], settings)}
                per_language.append(row)
            first = len(rows)
            rows += per_language
            adjusted = adjust_p_values([r["p_value"] for r in per_language], settings.multiplicity)
            for r, p in zip(rows[first:], adjusted):
                r |= {"p_adjusted": p, "family": f"{task}/{arm_a}_vs_{arm_b}: languages"}
            pooled = [r for r in per_language if r["poolable"]]
            rows.append({**base, "lang": POOLED, "poolable": True,
                         "languages": ", ".join(r["lang"] for r in pooled),
                         "pool_a": sum(r["pool_a"] for r in pooled), "pool_b": sum(r["pool_b"] for r in pooled),
                         **_pooled_figures(pooled, "a"), **_pooled_figures(pooled, "b"),
                         **_paired_row([paired[r["lang"]] for r in pooled], settings),
                         "family": "pooled attack rows (every target and comparison)"})
    pooled_rows = [r for r in rows if r["lang"] == POOLED]
    for r, p in zip(pooled_rows, adjust_p_values([r["p_value"] for r in pooled_rows], settings.multiplicity)):
        r["p_adjusted"] = p
    return rows


def check_records(attacks: pd.DataFrame) -> None:
    missing = [c for c in RECORD_COLUMNS if c not in attacks.columns]
    if missing:
        raise ValueError(f"attack records lack columns {missing}; re-run the attack stage (`dvc repro`)")
    unknown = set(attacks["status"]) - set(STATUSES)
    if unknown:
        raise ValueError(f"attack status {sorted(unknown)} is not one of {STATUSES}")


def attack_table(attacks: pd.DataFrame | None, settings: AttackSettings) -> pd.DataFrame:
    """The attack records (``collect.attack_records``) checked, then `attack_rows` as a table: per task x
    comparison x language (and pooled), over every attacked seed; no records, no rows."""
    if attacks is None or attacks.empty:
        return pd.DataFrame(columns=["task", "arm_a", "arm_b", "comparison", "lang"])
    check_records(attacks)
    frame = attacks.assign(id=attacks["id"].astype(str), cluster=attacks["cluster"].astype(str),
                           arm=attacks["arm"].astype(str), success=attacks["success"].astype(bool))
    return pd.DataFrame(attack_rows(frame, settings))


def arm_figures(rows: pd.DataFrame) -> pd.DataFrame:
    """TextAttack's figures per task, arm and language (incl. pooled), from the comparison rows."""
    records: dict[tuple, dict] = {}
    for r in rows.to_dict(orient="records"):
        for side in ("a", "b"):
            key = (r["task"], r[f"arm_{side}"], r["lang"])
            records.setdefault(key, {"task": key[0], "arm": key[1], "lang": key[2], "seeds": r[f"seeds_{side}"],
                                     "poolable": r["poolable"], "pool": r[f"pool_{side}"],
                                     **{name[:-2]: value for name, value in r.items()
                                        if name.endswith(f"_{side}") and name[:-2] in _FIGURE_NAMES}})
    return pd.DataFrame(list(records.values()))


_FIGURE_NAMES = ("candidates", "skipped", "failed", "succeeded", "original_accuracy", "accuracy_under_attack",
                 "attack_success_rate", "words_perturbed_pct", "avg_queries", "budget_exhausted")

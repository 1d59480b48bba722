"""Synthetic per-example score tables with a known truth, for testing the statistics and the report.

Items come in clusters (e.g. questions on one paragraph), and the same clusters and ids appear in every
language (translations of each other). Each item has a latent difficulty shared by all arms and languages
(so pairing matters, as in real data). Clean F1 is Bernoulli(p_clean + difficulty); where the perturbation
changes the input (``applied``) it destroys a correct answer with probability ``drop_rate[arm]``; where it does
not, the perturbed score equals the clean one. So the true expected drop on changed examples is
drop_rate[arm] × E[clean score] (see `true_delta`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import math

import numpy as np
import pandas as pd

from stages.xlt.scoring.statistics import ArmScores, BootstrapSettings, ClusterBootstrap, DeltaResult, DropResult

# The arms of the synthetic score tables, and the comparisons the study makes between them.
COMPARISONS = (("multi", "squad"), ("multi", "none"), ("squad", "none"))


def synthetic_scores(
    drop_rate: Mapping[str, float],
    langs: Sequence[str] = ("de", "zh"),
    conditions: Sequence[str] = ("typos",),
    seeds: Sequence[int] = (0,),
    n_clusters: int = 40,
    cluster_size: int = 4,
    p_clean: float = 0.6,
    task: str = "qa",
    metric: str = "f1",
    coverage: Mapping[tuple[str, str], float] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Long table (task, arm, seed, lang, condition, id, cluster, metric, value, applied, chrf).

    ``coverage[(lang, condition)]`` is the fraction of examples the perturbation changes there (default 1).
    """
    rng = np.random.default_rng(seed)
    n = n_clusters * cluster_size
    ids = [f"q{i:05d}" for i in range(n)]
    clusters = [f"p{i // cluster_size:04d}" for i in range(n)]
    difficulty = np.repeat(rng.uniform(-0.2, 0.2, n_clusters), cluster_size) + rng.uniform(-0.1, 0.1, n)
    p = np.clip(p_clean + difficulty, 0.0, 1.0)
    frames = []
    for lang in langs:
        changed = {c: rng.random(n) < (coverage or {}).get((lang, c), 1.0) for c in conditions}
        chrf = {c: np.where(changed[c], rng.uniform(40, 99, size=n), 100.0) for c in conditions}
        for arm, rate in drop_rate.items():
            for model_seed in seeds:
                clean = (rng.random(n) < p).astype(float)
                base = {"task": task, "arm": arm, "seed": model_seed, "lang": lang, "id": ids, "cluster": clusters,
                        "metric": metric}
                frames.append(pd.DataFrame({**base, "condition": "clean", "value": clean, "applied": True,
                                            "chrf": np.nan}))
                for condition in conditions:
                    survived = (rng.random(n) >= rate) | ~changed[condition]
                    frames.append(pd.DataFrame({**base, "condition": condition, "value": clean * survived,
                                                "applied": changed[condition], "chrf": chrf[condition]}))
    return pd.concat(frames, ignore_index=True)


def true_delta(drop_rate: Mapping[str, float], arm_a: str, arm_b: str, p_clean: float = 0.6) -> float:
    """Expected Δ = drop(A) − drop(B) of `synthetic_scores` on changed examples (E[clean] = p_clean)."""
    return (drop_rate[arm_a] - drop_rate[arm_b]) * p_clean


def synthetic_attacks(scores: pd.DataFrame, success_rate: Mapping[str, float], n_items: int = 30,
                      seed: int = 0) -> pd.DataFrame:
    """Attack records (collect.attack_records' columns) on the first ``n_items`` ids of every language: a model
    skips the items its clean F1 is 0 on and succeeds with its arm's ``success_rate``."""
    rng = np.random.default_rng(seed)
    clean = scores[(scores["condition"] == "clean")]
    clean = clean[clean["id"].isin(sorted(clean["id"].unique())[:n_items])]
    rows = clean[["task", "arm", "seed", "lang", "id", "cluster", "value"]].rename(columns={"value": "clean_metric"})
    success = rng.random(len(rows)) < rows["arm"].map(success_rate).to_numpy()
    eligible = rows["clean_metric"].to_numpy() > 0
    status = np.where(~eligible, "skipped", np.where(success, "succeeded", "failed"))
    n = len(rows)
    return rows.assign(status=status, success=(status == "succeeded"), words_changed=rng.integers(1, 4, n),
                       n_words=rng.integers(6, 14, n), queries=rng.integers(5, 40, n), budget_exhausted=False,
                       clean_score=0.8, final_score=0.2, final_metric=np.where(success, 0.0, 1.0), poolable=True,
                       separate_because=None, reason=None, clean_prediction="a", final_prediction="b",
                       edits=[[{"word": "w", "replacement": "v", "operation": "swap"}]] * n,
                       clean=[{"question": "w x"}] * n, adversarial=[{"question": "v x"}] * n)


def holm_by_definition(p_values) -> list[float]:
    """Holm's adjusted p-values written out from the definition, independently of statistics.adjust_p_values:
    for the i-th smallest of m tested p (i = 1..m), max over j <= i of min(1, (m - j + 1) · p_(j)). NaN stays NaN
    and is not counted in m."""
    tested = sorted((p, k) for k, p in enumerate(p_values) if p == p)
    m, out, running = len(tested), [float("nan")] * len(p_values), 0.0
    for j, (p, k) in enumerate(tested, start=1):
        running = max(running, min(1.0, (m - j + 1) * p))
        out[k] = running
    return out


def bh_by_definition(p_values) -> list[float]:
    """Benjamini–Hochberg adjusted p-values from the definition: for the i-th smallest of m tested p,
    min over j >= i of min(1, m · p_(j) / j)."""
    tested = sorted((p, k) for k, p in enumerate(p_values) if p == p)
    m, out = len(tested), [float("nan")] * len(p_values)
    for i, (_, k) in enumerate(tested, start=1):
        out[k] = min(min(1.0, m * p / j) for j, (p, _) in enumerate(tested, start=1) if j >= i)
    return out


def clustered_runs(rng: np.random.Generator, drop: Mapping[str, float], seeds: int = 3, run_sd: float = 0.0,
                   n_langs: int = 3, n_clusters: int = 33, sizes: tuple[int, int] = (2, 7), rho: float = 0.6,
                   cluster_sd: float = 0.06, item_sd: float = 0.25, run_rho: float = 0.8):
    """Per-example scores of every arm on clustered, cross-lingually correlated data, with training runs that
    differ: ({arm: [ArmScores per language]}, [cluster labels per language]).

    The drop of arm a, seed s, language l, item i of cluster k is
        drop[a] + c[a,k,l] + r[a,s,l] + e[a,s,l,i]
    with a cluster effect c (SD cluster_sd, correlated rho across languages: the same paragraph, translated), a
    training-run effect r (SD run_sd, correlated run_rho across languages: the same model) and item×run noise e
    (SD item_sd: each run gets different items wrong). Cluster sizes are uniform in `sizes`, the same clusters in
    every language. So the true language-averaged drop of arm a is drop[a] and the true Δ is drop[a] − drop[b].
    """
    size = rng.integers(sizes[0], sizes[1] + 1, size=n_clusters)
    codes = np.repeat(np.arange(n_clusters), size)
    labels = np.array([f"c{c}" for c in codes])
    n = codes.size
    difficulty = rng.normal(0.6, 0.15, size=(n_langs, n))  # clean level of each item (shared by the arms)
    out = {}
    for arm, mean_drop in drop.items():
        shared = rng.normal(size=n_clusters)
        cluster = cluster_sd * (np.sqrt(rho) * shared + np.sqrt(1 - rho) * rng.normal(size=(n_langs, n_clusters)))
        model = rng.normal(size=(seeds, 1))
        run = run_sd * (np.sqrt(run_rho) * model + np.sqrt(1 - run_rho) * rng.normal(size=(seeds, n_langs)))
        languages = []
        for lang in range(n_langs):
            clean = difficulty[lang] + rng.normal(0, 0.1, size=(seeds, n))
            loss = mean_drop + cluster[lang][codes] + run[:, [lang]] + rng.normal(0, item_sd, size=(seeds, n))
            languages.append(ArmScores(clean, clean - loss))
        out[arm] = languages
    return out, [labels] * n_langs


def clustered_runs_components(seeds: int = 3, run_sd: float = 0.0, n_langs: int = 3, n_clusters: int = 33,
                              rho: float = 0.6, cluster_sd: float = 0.06, item_sd: float = 0.25,
                              run_rho: float = 0.8, family_size: int = 1):
    """The true variance components of Δ on `clustered_runs` data (cluster sizes uniform on 2..7), as the
    planner reads them from a run: per arm, the cluster part σ_c²(ρ + (1 − ρ)/L)·E[n²]/(K·E[n]²), one run's item
    noise σ_e²/(L·N) with N = 4.5·K items per language, and the run part σ_r²(run_rho + (1 − run_rho)/L)."""
    from stages.xlt.scoring.power import Components

    size = np.arange(2, 8)
    concentration = float((size ** 2).mean() / size.mean() ** 2) / n_clusters
    cluster, noise = cluster_sd ** 2 * concentration, item_sd ** 2 / (size.mean() * n_clusters)
    runs = run_sd ** 2 * (run_rho + (1 - run_rho) / n_langs)
    average = 2 * (cluster * (rho + (1 - rho) / n_langs) + noise / (n_langs * seeds))
    per_language = 2 * (cluster + noise / seeds)
    return Components(var_items=average, n_clusters=n_clusters, n_languages=n_langs,
                      seed_var=(runs + noise / n_langs,) * 2, interaction=(noise / n_langs,) * 2,
                      n_seeds=(seeds, seeds), language_var_items=(per_language,) * n_langs,
                      language_clusters=(n_clusters,) * n_langs, family_size=family_size)


# ---------------------------------------------------------------------------------------------- references
def bootstrap_drop(strata: Sequence[ArmScores], clusters: Sequence[Sequence],
                   settings: BootstrapSettings = BootstrapSettings()) -> DropResult:
    """One arm's drop averaged over languages (`strata[k]` on language k, cluster labels `clusters[k]`)."""
    return ClusterBootstrap([{"arm": s} for s in strata], clusters, settings, n_permutations=1).drop("arm")


def compare_drops(strata_a: Sequence[ArmScores], strata_b: Sequence[ArmScores], clusters: Sequence[Sequence],
                  settings: BootstrapSettings = BootstrapSettings(), n_permutations: int = 2000) -> DeltaResult:
    """Δ = drop(A) − drop(B) averaged over languages; `strata_a[k]`, `strata_b[k]` share ids and `clusters[k]`."""
    assert len(strata_a) == len(strata_b), "arms A and B must cover the same languages"
    languages = [{"A": a, "B": b} for a, b in zip(strata_a, strata_b)]
    return ClusterBootstrap(languages, clusters, settings, n_permutations).compare("A", "B")


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p: binomial(b + c, 1/2) tail at min(b, c), doubled, capped at 1 (the sign-flip
    test's value with one seed per arm and one item per cluster)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)

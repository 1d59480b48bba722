"""Pinned values of the seeded bootstrap: same params + seed => the same metrics, in every version of the code.

The study's intervals, p-values and verdicts are reproduced from params and a seed. A change to HOW the seeded
draws are made (the seed mixing of a generator, the cluster-set digest, the block-wise draw of the counts, the
key of the cached draws, the seed weights of the hierarchical mode) changes every interval and p-value while
each still looks plausible, and no property test notices. So these tests pin the draws and the full results of a
small fixed cell. Pinning is the point: a change that moves them must be made on purpose; then regenerate with
``python tests/test_scoring_statistics_pinned.py --regenerate`` and say why in the commit.

The cell's scores are multiples of 1/4, so every float32 cluster sum is exact and the pins do not depend on the
BLAS; floats are compared to 1e-9 relative (numpy's reductions may round differently on other CPUs).
Also here: the draws' dtype and memory contract, and the bounded cache that holds them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

if __name__ == "__main__":  # --regenerate, run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stages.xlt.scoring.statistics import (  # noqa: E402
    ArmScores,
    BootstrapSettings,
    ClusterBootstrap,
    _BoundedCache,
    _cluster_counts,
    _cluster_signs,
    _digest,
    _seed_weights,
)

PINNED = Path(__file__).parent / "fixtures" / "statistics" / "pinned_results.json"
# Seven clusters c0..c6: this set's digest has bit 63 set, so the pins also fix its reduction modulo 2**63.
LABELS = {"en": np.array(["c0", "c0", "c1", "c2", "c2", "c2", "c3", "c4", "c4", "c5", "c6", "c6"]),
          "de": np.array(["c0", "c1", "c1", "c2", "c3", "c3", "c4", "c5", "c5", "c5"])}  # de lacks c6
SEEDS = {"multi": 3, "squad": 2, "none": 1}  # unequal, so that swapping arms A and B shows
DIGEST = _digest(np.unique(np.concatenate(list(LABELS.values()))))

# In this order, in ONE process: a cached draw must never serve other settings (the cache key holds the seed,
# R and the permutation count), so the second and third case are computed after the first on the same clusters.
CASES = {
    "t, seed 7": (BootstrapSettings(n_resamples=300, seed=7), 300),
    "t, seed 8": (BootstrapSettings(n_resamples=300, seed=8), 300),
    "t, seed 7, R 400": (BootstrapSettings(n_resamples=400, seed=7), 400),
    "percentile, hierarchical seeds": (BootstrapSettings(n_resamples=300, seed=7, method="percentile"), 300),
    "percentile, averaged seeds": (BootstrapSettings(n_resamples=300, seed=7, method="percentile",
                                                     seed_resampling="average"), 300),
    "defaults": (BootstrapSettings(), None),
}


def cell() -> list[dict[str, ArmScores]]:
    """Two languages, three arms with 3, 2 and 1 seeds; scores in {0, 1/4, ..., 1}; a perturbation that costs
    'multi' the most. Made from a fixed generator (its stream is numpy's documented, stable one)."""
    rng = np.random.default_rng(2024)
    languages = []
    for lang, labels in LABELS.items():
        n = len(labels)
        arms = {}
        for arm, seeds in SEEDS.items():
            clean = rng.integers(1, 5, size=(seeds, n)) / 4
            loss = rng.integers(0, 3, size=(seeds, n)) / 4 * (arm == "multi") + rng.integers(0, 2, (seeds, n)) / 4
            arms[arm] = ArmScores(clean, np.clip(clean - loss, 0.0, 1.0))
        languages.append(arms)
    return languages


def results(settings: BootstrapSettings, n_permutations: int | None) -> dict[str, dict]:
    extra = {} if n_permutations is None else {"n_permutations": n_permutations}
    boot = ClusterBootstrap(cell(), list(LABELS.values()), settings, **extra)
    out = {f"compare {a} vs {b}": boot.compare(a, b) for a, b in (("multi", "squad"), ("squad", "none"))}
    out |= {f"drop {arm}": boot.drop(arm) for arm in SEEDS}
    return {name: _flat(dataclasses.asdict(value)) for name, value in out.items()}


def _flat(record: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def draws() -> dict[str, list]:
    """The first rows of each seeded draw, and the first row of the second block of the counts."""
    counts = _cluster_counts(DIGEST, 7, 300, 7)
    signs = _cluster_signs(DIGEST, 7, 300, 7)
    weights = _seed_weights("multi", 3, BootstrapSettings(n_resamples=300, seed=7))
    return {"counts rows 0-2": counts[:3].tolist(), "counts row 256": counts[256].tolist(),
            "counts column sums": counts.sum(axis=0).tolist(), "signs rows 0-2": signs[:3].tolist(),
            "signs column sums": signs.sum(axis=0).tolist(), "seed weights rows 0-2": weights[:3].tolist(),
            "seed weights column sums": weights.sum(axis=0).tolist()}


def current() -> dict:
    return {"draws": draws(), "results": {case: results(*args) for case, args in CASES.items()}}


def _differences(expected, actual, path: str = "") -> list[str]:
    if isinstance(expected, dict):
        if set(expected) != set(actual):
            return [f"{path}: keys {sorted(set(expected) ^ set(actual))} differ"]
        return [d for key in expected for d in _differences(expected[key], actual[key], f"{path}/{key}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{path}: {actual!r} != pinned {expected!r}"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in _differences(e, a, f"{path}[{i}]")]
    if isinstance(expected, float) and not isinstance(actual, bool) and isinstance(actual, (int, float)):
        if actual == pytest.approx(expected, rel=1e-9, abs=1e-15, nan_ok=True):
            return []
    elif type(expected) is type(actual) and expected == actual:
        return []
    return [f"{path}: {actual!r} != pinned {expected!r}"]


def test_the_seeded_draws_are_pinned():
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))["draws"]
    differences = _differences(pinned, draws())
    assert not differences, "the seeded draws changed:\n" + "\n".join(differences[:20])


def test_every_result_of_a_fixed_cell_is_pinned():
    """Intervals, p-values (bootstrap and permutation), variance parts, df, per-seed values and counts of every
    comparison and drop, under both methods and both seed modes, and with the defaults."""
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))["results"]
    actual = {case: results(*args) for case, args in CASES.items()}
    differences = _differences(pinned, actual)
    assert not differences, f"{len(differences)} pinned values changed:\n" + "\n".join(differences[:30])


def test_the_pinned_cell_is_not_degenerate():
    """The pins are only as sharp as the cell: every arm has a drop, the comparisons differ from 0 by varying
    amounts, seeds differ, and the methods disagree, so that a change anywhere moves some pinned value."""
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))["results"]
    t, hierarchical, average = (pinned[c]["compare multi vs squad"] for c in (
        "t, seed 7", "percentile, hierarchical seeds", "percentile, averaged seeds"))
    assert t["delta.var_runs"] > 0 and t["seed_var_a"] > 0 and t["seed_var_b"] > 0
    assert t["n_examples"] == 22 and t["n_clusters"] == 7 and (t["n_seeds_a"], t["n_seeds_b"]) == (3, 2)
    assert len({t["delta.ci_low"], hierarchical["delta.ci_low"], average["delta.ci_low"]}) == 3
    assert pinned["t, seed 7"] != pinned["t, seed 8"]
    assert 0 < t["p_permutation"] < 1 and 0 < t["delta.p_value"] < 1


# ---------------------------------------------------------------------------------------------- dtype and memory
def test_draws_are_float32_read_only_and_well_formed():
    # float32 halves the cache and the products: 10 000 replicates x 1 000 clusters take 40 MB, not 80.
    counts = _cluster_counts(DIGEST, 7, 300, 7)
    assert counts.dtype == np.float32 and counts.shape == (300, 7) and counts.nbytes == 300 * 7 * 4
    assert (counts.sum(axis=1) == 7).all() and counts.min() >= 0  # each replicate draws K clusters
    assert not counts.flags.writeable  # shared by every cell on these clusters: nobody may change it
    signs = _cluster_signs(DIGEST, 7, 300, 7)
    assert signs.dtype == np.float32 and signs.shape == (300, 7) and set(np.unique(signs)) == {-1.0, 1.0}
    assert not signs.flags.writeable
    weights = _seed_weights("multi", 3, BootstrapSettings(n_resamples=300))
    assert weights.shape == (300, 3) and np.allclose(weights.sum(axis=1), 1.0)
    assert set(np.unique(weights * 3)) <= {0.0, 1.0, 2.0, 3.0}  # a seed is drawn 0..3 times of 3


def test_the_draw_cache_keeps_within_its_budget_least_recently_used_first():
    cache = _BoundedCache(max_bytes=3 * 800)
    made = []

    def get(name: str, size: int = 100) -> np.ndarray:
        def make():
            made.append(name)
            return np.zeros(size)  # 8 bytes each
        return cache.get(name, make)

    for name in "abc":
        get(name)
    assert get("a") is get("a") and made == ["a", "b", "c"]  # exactly at the budget: all kept; hits: no remake
    get("d")  # over budget: "b" goes, the least recently used ("a" was just read)
    for name in "dac":
        get(name)
    assert made == ["a", "b", "c", "d"]
    get("b")
    assert made[-1] == "b" and not get("b").flags.writeable
    # An entry larger than the whole budget is still kept (its caller needs it), and alone.
    big = get("big", 1000)
    assert get("big", 1000) is big and made.count("big") == 1
    get("b")
    assert made.count("b") == 3  # made again: the big entry displaced every other


if __name__ == "__main__" and sys.argv[1:] == ["--regenerate"]:
    PINNED.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(current(), indent=1, sort_keys=True)
    # one line per list of numbers: a diff then shows which value moved
    text = re.sub(r"\[[-\d.eE,\s\[\]NaInfity]*\]", lambda m: re.sub(r"\s+", "", m.group()), text)
    PINNED.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {PINNED}")

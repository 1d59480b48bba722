"""Properties of the cluster bootstrap that the synthetic arms of test_scoring_statistics.py cannot see.

* Pairing between arms: every arm of a replicate is resampled on the same clusters. Arms there draw their clean
  scores independently, so breaking the pairing (shuffling arm B's replicates) changed nothing they checked. Here
  the arms share their item-level outcomes, so that only a paired comparison gives a degenerate or a narrow Δ.
* Determinism across processes: two calls in one process share the cached draws, so an unseeded generator passes
  an in-process check. Here two fresh interpreters (different hash seeds) must print the same bytes.

Only public behaviour is used (ClusterBootstrap.compare/drop).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scoring_support import bootstrap_drop, compare_drops

from stages.xlt.scoring.statistics import ArmScores, BootstrapSettings, ClusterBootstrap

REPO = Path(__file__).resolve().parents[1]
SETTINGS = BootstrapSettings(n_resamples=1000, seed=3)


def clusters_of_three(n_clusters: int, prefix: str = "c") -> np.ndarray:
    return np.repeat([f"{prefix}{k}" for k in range(n_clusters)], 3)


def shared_outcomes(rng: np.random.Generator, n: int, extra: int) -> tuple[ArmScores, ArmScores]:
    """Arm B loses about half of the items (right on clean input, wrong when perturbed); arm A loses exactly what B
    loses plus ``extra`` more items. Δ per item is 0 or 1, and Δ = extra / n; each arm's own drop varies a lot
    across resamples, but that variation is the same for both and cancels only when they are paired."""
    lost_b = rng.random(n) < 0.5
    extra_items = rng.choice(np.flatnonzero(~lost_b), size=extra, replace=False)
    lost_a = lost_b.copy()
    lost_a[extra_items] = True
    clean = np.ones((1, n))
    return ArmScores(clean, 1.0 - lost_a[None, :]), ArmScores(clean, 1.0 - lost_b[None, :])


def test_arms_with_identical_item_outcomes_have_a_zero_delta_in_every_replicate():
    _, b = shared_outcomes(np.random.default_rng(1), 120, 12)
    labels = clusters_of_three(40)
    same = compare_drops([b], [b], [labels], SETTINGS, n_permutations=200)
    assert (same.delta.estimate, same.delta.ci_low, same.delta.ci_high) == (0.0, 0.0, 0.0)
    assert same.p_value == 1.0 and same.verdict == "no evidence"
    assert same.relative_delta.ci_low == same.relative_delta.ci_high == 0.0
    spread = bootstrap_drop([b], [labels], SETTINGS).drop
    assert spread.ci_high - spread.ci_low > 0.15  # each arm alone does vary: only the pairing makes Δ exact


def test_a_paired_delta_is_narrower_than_either_arms_drop_and_finds_a_small_shared_effect():
    a, b = shared_outcomes(np.random.default_rng(2), 120, 12)
    labels = clusters_of_three(40)
    result = compare_drops([a], [b], [labels], SETTINGS, n_permutations=200)
    assert result.delta.estimate == pytest.approx(12 / 120)
    # Paired, a replicate's Δ is the share of A's extra losses among the drawn items: never below 0.
    assert result.delta.ci_low >= 0.0 and result.delta.ci_high > result.delta.ci_low
    assert result.verdict == "degrades" and result.p_value < 0.05
    drop_b = bootstrap_drop([b], [labels], SETTINGS).drop
    assert result.delta.ci_high - result.delta.ci_low < 0.75 * (drop_b.ci_high - drop_b.ci_low)


def test_every_arm_of_a_multi_language_cell_is_paired_with_every_other():
    """ClusterBootstrap over two parallel languages and three arms: 'squad' and 'none' share every outcome, 'multi'
    loses a few more items; each pair is compared on the same clusters in both languages."""
    rng = np.random.default_rng(3)
    languages = []
    for _ in range(2):
        multi, squad = shared_outcomes(rng, 90, 9)
        languages.append({"multi": multi, "squad": squad, "none": squad})
    labels = clusters_of_three(30)
    boot = ClusterBootstrap(languages, [labels, labels], SETTINGS, n_permutations=200)
    tie = boot.compare("squad", "none")
    assert (tie.delta.ci_low, tie.delta.ci_high, tie.p_value) == (0.0, 0.0, 1.0)
    effect = boot.compare("multi", "none")
    assert effect.delta.estimate == pytest.approx(0.1) and effect.delta.ci_low >= 0.0
    assert effect.verdict == "degrades"
    drop = boot.drop("none").drop
    assert effect.delta.ci_high - effect.delta.ci_low < 0.75 * (drop.ci_high - drop.ci_low)


# A fresh interpreter computes a comparison with several seeds per arm (hierarchical seed draws), two languages,
# a drop and the permutation p, and prints their reprs (floats round-trip exactly).
_DETERMINISM_SCRIPT = """
import numpy as np
from stages.xlt.scoring.statistics import ArmScores, BootstrapSettings, ClusterBootstrap
rng = np.random.default_rng(5)
labels = np.repeat([f"k{i}" for i in range(25)], 2)
languages = []
for _ in range(2):
    clean = (rng.random((3, 50)) < 0.7).astype(float)
    languages.append({arm: ArmScores(clean, clean * (rng.random((3, 50)) >= rate))
                      for arm, rate in (("multi", 0.4), ("squad", 0.2))})
settings = BootstrapSettings(n_resamples=400, seed=11)
boot = ClusterBootstrap(languages, [labels, labels], settings, n_permutations=300)
print(repr(boot.compare("multi", "squad")))
print(repr(boot.drop("squad")))
print(repr(ClusterBootstrap([{"A": languages[0]["multi"], "B": languages[0]["squad"]}], [labels], settings,
                       300).compare("A", "B")))
"""


def test_bootstrap_results_are_byte_identical_in_two_fresh_processes():
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        env.pop("PYTHONPATH", None)
        proc = subprocess.run([sys.executable, "-c", _DETERMINISM_SCRIPT], cwd=REPO, env=env, capture_output=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr.decode()
        outputs.append(proc.stdout)
    assert outputs[0].count(b"\n") == 3 and b"ci_low" in outputs[0]
    assert outputs[0] == outputs[1]

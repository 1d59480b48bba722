"""Synthetic per-example score tables with a known truth, for testing the statistics and the report.

Each example has a latent difficulty shared by all arms (so pairing matters, as in real data). Clean F1 is
Bernoulli(p_clean − difficulty); a perturbation destroys a correct answer with probability `drop_rate[arm]`,
so the true expected drop of an arm is drop_rate[arm] × E[clean score] and the true Δ between two arms is
known in closed form (see `true_delta`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def _clean_probabilities(n_examples: int, p_clean: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(p_clean + rng.uniform(-0.3, 0.3, size=n_examples), 0.0, 1.0)


def synthetic_scores(
    drop_rate: Mapping[str, float],
    langs: Sequence[str] = ("de", "zh"),
    conditions: Sequence[str] = ("typos",),
    seeds: Sequence[int] = (0,),
    n_examples: int = 200,
    p_clean: float = 0.6,
    task: str = "qa",
    metric: str = "f1",
    seed: int = 0,
) -> pd.DataFrame:
    """Long table (task, arm, seed, lang, condition, id, metric, value, chrf) with known drop rates per arm."""
    rng = np.random.default_rng(seed)
    frames = []
    for lang in langs:
        p = _clean_probabilities(n_examples, p_clean, rng)
        ids = [f"q{i:05d}" for i in range(n_examples)]
        for arm, rate in drop_rate.items():
            for model_seed in seeds:
                clean = (rng.random(n_examples) < p).astype(float)
                frames.append(pd.DataFrame({"task": task, "arm": arm, "seed": model_seed, "lang": lang,
                                            "condition": "clean", "id": ids, "metric": metric,
                                            "value": clean, "chrf": np.nan}))
                for condition in conditions:
                    survived = rng.random(n_examples) >= rate
                    frames.append(pd.DataFrame({"task": task, "arm": arm, "seed": model_seed, "lang": lang,
                                                "condition": condition, "id": ids, "metric": metric,
                                                "value": clean * survived,
                                                "chrf": rng.uniform(40, 100, size=n_examples)}))
    return pd.concat(frames, ignore_index=True)


def true_delta(drop_rate: Mapping[str, float], arm_a: str, arm_b: str, p_clean: float = 0.6) -> float:
    """Expected Δ = drop(A) − drop(B) of `synthetic_scores` (E[clean] = p_clean while clipping is inactive)."""
    return (drop_rate[arm_a] - drop_rate[arm_b]) * p_clean

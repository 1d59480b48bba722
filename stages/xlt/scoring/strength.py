"""Score vs perturbation strength: the drop per chrF bin (how far the input moved), pooled over languages."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from stages.xlt.scoring.alignment import Aligned
from stages.xlt.scoring.settings import SummarySettings
from stages.xlt.scoring.statistics import ArmScores, ClusterBootstrap

STRENGTH_COLUMNS = ["task", "metric", "arm", "condition", "chrf_bin", "chrf_mid", "score", "clean_score", "drop",
                    "ci_low", "ci_high", "n", "n_clusters"]


def _merged_bins(counts: np.ndarray, min_items: int) -> list[tuple[int, int]]:
    """Adjacent bins joined left to right until each group holds at least `min_items` items (a short last
    group joins the one before it); empty bins at either end are dropped. Returns [low, high) bin-index ranges."""
    groups, start, held = [], None, 0
    for index, count in enumerate(counts):
        if start is None:
            if count == 0:
                continue
            start = index
        held += count
        if held >= min_items:
            groups.append([start, index + 1, held])
            start, held = None, 0
    if start is not None:
        end = int(np.flatnonzero(counts)[-1]) + 1  # the tail's last non-empty bin
        if groups:
            groups[-1][1], groups[-1][2] = end, groups[-1][2] + held
        else:
            groups.append([start, end, held])
    return [(low, high) for low, high, _ in groups]


def _changed_by_arm(data: Aligned, primary: Mapping[str, str], edges: np.ndarray) -> dict[tuple, list]:
    """(task, metric, arm, condition) -> per language: (chrF, clusters, seed-averaged clean and perturbed scores)
    of the changed examples with a chrF, primary metric only."""
    gathered: dict[tuple, list] = {}
    for (task, metric, lang, condition), cell in sorted(data.cells.items()):
        if primary.get(task) != metric:
            continue
        keep = cell.changed & np.isfinite(cell.chrf)
        if not keep.any():
            continue
        chrf = cell.chrf[keep]
        if chrf.min() < edges[0] or chrf.max() > edges[-1]:
            raise ValueError(f"chrF values span [{chrf.min()}, {chrf.max()}] outside the bins [{edges[0]}, "
                             f"{edges[-1]}]: chrF must be on sacrebleu's 0–100 scale, or change chrf_bins")
        for arm in cell.clean:
            gathered.setdefault((task, metric, arm, condition), []).append(
                (chrf, cell.clusters[keep], cell.clean[arm][:, keep].mean(0), cell.perturbed[arm][:, keep].mean(0)))
    return gathered


def strength_table(data: Aligned, primary: Mapping[str, str], settings: SummarySettings) -> pd.DataFrame:
    """Per chrF bin (how far the input moved), pooled over languages, on changed examples of the primary
    metric: clean and perturbed score and the drop with a cluster-bootstrap interval (seeds averaged). Bins
    holding fewer than `settings.min_bin_items` items are merged with their neighbours (a one-item bin would
    show a 'drop' of a whole item)."""
    edges = np.asarray(settings.chrf_bins, dtype=float)
    rows = []
    for (task, metric, arm, condition), parts in sorted(_changed_by_arm(data, primary, edges).items()):
        chrf, clusters, clean, perturbed = (np.concatenate(p) for p in zip(*parts))
        codes = np.clip(np.searchsorted(edges, chrf, side="left") - 1, 0, len(edges) - 2)
        for low, high in _merged_bins(np.bincount(codes, minlength=len(edges) - 1), settings.min_bin_items):
            inside = (codes >= low) & (codes < high)
            result = ClusterBootstrap([{arm: ArmScores(clean[inside], perturbed[inside])}], [clusters[inside]],
                                      settings.bootstrap, 1).drop(arm)
            rows.append({"task": task, "metric": metric, "arm": arm, "condition": condition,
                         "chrf_bin": f"{edges[low]:g}-{edges[high]:g}", "chrf_mid": (edges[low] + edges[high]) / 2,
                         "score": result.perturbed.estimate, "clean_score": result.clean.estimate,
                         "drop": result.drop.estimate, "ci_low": result.drop.ci_low, "ci_high": result.drop.ci_high,
                         "n": int(inside.sum()), "n_clusters": result.n_clusters})
    return pd.DataFrame(rows, columns=STRENGTH_COLUMNS)

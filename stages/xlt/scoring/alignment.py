"""The checks on the long per-example score table and its alignment into cells.

Input (pandas, long format; collect.SCORE_COLUMNS): task, arm, seed, lang, condition, id, cluster, metric, value,
applied[, chrf]. Condition CLEAN = unperturbed; every other condition is a perturbed copy of the same ids. cluster =
the unit of statistical independence, the same label for the translations of one item in every language; applied
= the perturbation changed that example's input (True on clean rows).

Cells. A cell is (task, metric, language, condition). Its examples are the ids that have a clean and a perturbed
score for every arm present in the cell and every seed of those arms (a missing prediction removes the id for
everyone, so all arms and both conditions are compared on the same examples, and an arm's drop in the arm table and
in every comparison is the same number). A cell without any such example is named in `Aligned.missing`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stages.xlt.perturbations.knobs import CLEAN
from stages.xlt.scoring.collect import OPTIONAL_SCORE_COLUMNS, SCORE_COLUMNS
from stages.xlt.scoring.statistics import ArmScores

REQUIRED_SCORE_COLUMNS = tuple(c for c in SCORE_COLUMNS if c not in OPTIONAL_SCORE_COLUMNS)


# ---------------------------------------------------------------------------------------------- checks
def require_columns(table: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} table lacks columns {missing}: it needs {list(columns)}")


def prepare_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The score table checked and with one type per column (chrF NaN where absent)."""
    require_columns(scores, REQUIRED_SCORE_COLUMNS, "scores")
    if scores.empty:
        raise ValueError("scores table is empty: run the evaluate stage first")
    if not (scores["condition"] == CLEAN).any():
        raise ValueError(f"scores table has no {CLEAN!r} rows: drops need the unperturbed scores")
    if scores["applied"].isna().any() or scores["cluster"].isna().any():
        raise ValueError("scores have missing 'applied' or 'cluster' values: every row needs both")
    frame = scores.assign(id=scores["id"].astype(str), cluster=scores["cluster"].astype(str),
                          lang=scores["lang"].astype(str), arm=scores["arm"].astype(str),
                          task=scores["task"].astype(str), metric=scores["metric"].astype(str),
                          condition=scores["condition"].astype(str), seed=scores["seed"].astype(int),
                          applied=scores["applied"].astype(bool), value=scores["value"].astype(float))
    if "chrf" not in frame.columns:
        frame = frame.assign(chrf=math.nan)
    return frame.assign(chrf=frame["chrf"].astype(float))


# ---------------------------------------------------------------------------------------------- aligned cells
@dataclass(frozen=True)
class Cell:
    """All arms of one (task, metric, lang, condition) aligned on shared seeds and example ids."""

    ids: np.ndarray
    clusters: np.ndarray
    changed: np.ndarray  # bool per id
    chrf: np.ndarray
    clean: dict[str, np.ndarray]  # arm -> (seeds, ids)
    perturbed: dict[str, np.ndarray]

    @property
    def n_total(self) -> int:
        return len(self.ids)

    @property
    def n_changed(self) -> int:
        return int(self.changed.sum())

    @property
    def applicable(self) -> bool:
        return self.n_changed > 0

    def changed_scores(self, arm: str) -> ArmScores:
        return ArmScores(self.clean[arm][:, self.changed], self.perturbed[arm][:, self.changed])

    def diluted_drop(self, arm: str) -> float:
        return float(self.clean[arm].mean() - self.perturbed[arm].mean())


CleanCell = tuple[np.ndarray, dict[str, np.ndarray]]  # cluster labels, arm -> (seeds, ids)


@dataclass(frozen=True)
class Aligned:
    cells: dict[tuple[str, str, str, str], Cell]  # (task, metric, lang, condition)
    clean: dict[tuple[str, str, str], CleanCell]  # (task, metric, lang): every id with all arms' clean scores
    seeds: dict[tuple[str, str], list[int]]  # (task, arm) -> seeds
    missing: tuple[str, ...]


# ---------------------------------------------------------------------------------------------- one language's grid
@dataclass(frozen=True)
class _Grid:
    """One (task, metric, lang): its scores as a dense (condition, id, arm×seed column) array, NaN where missing,
    and what belongs to an id (its cluster) or to a perturbed input (applied, chrF)."""

    name: str  # task/metric/lang, for messages
    conditions: np.ndarray
    ids: np.ndarray
    columns: list[tuple[str, int]]  # (arm, seed) per column
    arms: list[str]
    values: np.ndarray  # (conditions, ids, columns)
    cluster_of: np.ndarray  # per id
    applied: np.ndarray  # (conditions, ids)
    chrf: np.ndarray  # (conditions, ids)
    present_any: np.ndarray  # (conditions, columns): the column has some score under the condition

    def arms_in(self, c: int) -> list[str]:
        return [arm for arm in self.arms
                if any(self.present_any[c, k] for k, (a, _) in enumerate(self.columns) if a == arm)]

    def matrices(self, c: int, present: list[str], keep: np.ndarray) -> dict[str, np.ndarray]:
        return {arm: self.values[c][np.ix_(keep, [k for k, (a, _) in enumerate(self.columns) if a == arm])].T.copy()
                for arm in present}

    def complete(self, c: int, present: list[str]) -> np.ndarray:
        """Per id: every seed of every arm in `present` has a score under condition `c`."""
        chosen = [k for k, (a, _) in enumerate(self.columns) if a in present]
        return ~np.isnan(self.values[c][:, chosen]).any(axis=1)


def _first_conflict(codes: np.ndarray, keys: np.ndarray, n_keys: int) -> int | None:
    """Index of a key whose rows carry different codes, or None."""
    low = np.full(n_keys, np.iinfo(np.int64).max)
    high = np.full(n_keys, -1)
    np.minimum.at(low, keys, codes)
    np.maximum.at(high, keys, codes)
    bad = np.flatnonzero((high >= 0) & (low != high))
    return int(bad[0]) if bad.size else None


def _dense_scores(name: str, scores: np.ndarray, cond_codes, conditions, id_codes, ids, col: np.ndarray,
                  columns: list) -> np.ndarray:
    """(condition, id, column) array of the scores; a second score for one place is an error."""
    shape = (len(conditions), len(ids), len(columns))
    flat = (cond_codes * shape[1] + id_codes) * shape[2] + col
    counts = np.bincount(flat, minlength=int(np.prod(shape)))
    if (counts > 1).any():
        c, i, k = np.unravel_index(int(np.argmax(counts > 1)), shape)
        raise ValueError(f"scores table has duplicate rows for {name}/{conditions[c]}, id "
                         f"{ids[i]!r}, arm/seed {columns[k]}: each example is scored once per cell")
    values = np.full(int(np.prod(shape)), np.nan)
    values[flat] = scores
    return values.reshape(shape)


def _cluster_per_id(task: str, lang: str, rows: dict, id_codes, ids) -> np.ndarray:
    """Each id's cluster label; an id with two labels is an error."""
    cluster_codes, cluster_names = pd.factorize(rows["cluster"])
    bad = _first_conflict(cluster_codes, id_codes, len(ids))
    if bad is not None:
        raise ValueError(f"{task}/{lang} example {ids[bad]!r} has several cluster labels: an id belongs to one "
                         "cluster")
    cluster_of = np.empty(len(ids), dtype=object)
    cluster_of[id_codes] = cluster_names[cluster_codes]
    return cluster_of


def _input_properties(task: str, lang: str, rows: dict, cond_codes, conditions, id_codes,
                      ids) -> tuple[np.ndarray, np.ndarray]:
    """(applied, chrF) per (condition, id): properties of the perturbed input, the same for every arm, seed and
    metric (a disagreement is an error)."""
    key = cond_codes * len(ids) + id_codes
    applied_codes = rows["applied"].astype(np.int64)
    bad = _first_conflict(applied_codes, key, len(conditions) * len(ids))
    if bad is not None:
        c, i = divmod(bad, len(ids))
        raise ValueError(f"{task}/{lang}/{conditions[c]} example {ids[i]!r} is 'applied' for some arms, seeds or "
                         "metrics and not for others: it is a property of the perturbed input, the same for all")
    applied = np.zeros(len(conditions) * len(ids), dtype=bool)
    applied[key] = applied_codes.astype(bool)
    chrf = np.full(len(conditions) * len(ids), np.nan)
    chrf[key] = rows["chrf"]
    return applied.reshape(len(conditions), len(ids)), chrf.reshape(len(conditions), len(ids))


def _grid(task: str, metric: str, lang: str, rows: dict, col: np.ndarray, columns: list, arms: list) -> _Grid:
    """`rows`: the (task, metric, lang) rows, column -> values; `col`: each row's arm×seed column in `columns`."""
    cond_codes, conditions = pd.factorize(rows["condition"], sort=True)
    id_codes, ids = pd.factorize(rows["id"], sort=True)
    name = f"{task}/{metric}/{lang}"
    values = _dense_scores(name, rows["value"], cond_codes, conditions, id_codes, ids, col, columns)
    cluster_of = _cluster_per_id(task, lang, rows, id_codes, ids)
    applied, chrf = _input_properties(task, lang, rows, cond_codes, conditions, id_codes, ids)
    return _Grid(name=name, conditions=conditions, ids=ids, columns=columns, arms=arms, values=values,
                 cluster_of=cluster_of, applied=applied, chrf=chrf, present_any=~np.isnan(values).all(axis=1))


# ---------------------------------------------------------------------------------------------- grid -> cells
def _cells(grid: _Grid, missing: list[str]) -> tuple[CleanCell | None, dict[str, Cell]]:
    """The clean cell and one cell per perturbed condition, each on the ids (sorted as strings) that every arm
    present and every seed of them scored; what has no such id is appended to `missing`."""
    order = np.argsort(np.asarray(grid.ids).astype(str))  # ids sorted as strings
    if CLEAN not in set(grid.conditions):
        missing += [f"{grid.name}/{c} (no clean scores)" for c in grid.conditions]
        return None, {}
    c_clean = int(np.flatnonzero(grid.conditions == CLEAN)[0])
    present = grid.arms_in(c_clean)
    keep = grid.complete(c_clean, present)[order]
    clean = None
    if present and keep.any():
        chosen = order[keep]
        clean = (grid.cluster_of[chosen].astype(str), grid.matrices(c_clean, present, chosen))
    else:
        missing.append(f"{grid.name}/{CLEAN}")
    cells = {}
    for c, condition in enumerate(grid.conditions):
        if condition == CLEAN:
            continue
        present = sorted(set(grid.arms_in(c)) & set(grid.arms_in(c_clean)))
        keep = (grid.complete(c, present) & grid.complete(c_clean, present))[order] if present else np.zeros(0, bool)
        if not keep.any():
            missing.append(f"{grid.name}/{condition}")
            continue
        chosen = order[keep]
        cells[str(condition)] = Cell(
            ids=np.asarray(grid.ids)[chosen].astype(str), clusters=grid.cluster_of[chosen].astype(str),
            changed=grid.applied[c, chosen], chrf=grid.chrf[c, chosen],
            clean=grid.matrices(c_clean, present, chosen), perturbed=grid.matrices(c, present, chosen))
    return clean, cells


def align(frame: pd.DataFrame) -> Aligned:
    """Every cell of a `prepare_scores` table: one dense (condition, id, arm×seed) array per (task, metric, lang),
    filled by integer codes, cut into cells on the shared ids."""
    seeds = {key: sorted(int(s) for s in group.unique()) for key, group in frame.groupby(["task", "arm"])["seed"]}
    arm_codes, arm_names = pd.factorize(frame["arm"], sort=True)
    seed_codes, seed_values = pd.factorize(frame["seed"], sort=True)
    column_key = arm_codes.astype(np.int64) * len(seed_values) + seed_codes
    # Plain numpy columns: row selection on Arrow-backed string columns is slow.
    column = {name: frame[name].to_numpy(dtype=object if name in ("condition", "id", "cluster") else None)
              for name in ("condition", "id", "cluster", "value", "applied", "chrf")}
    cells, clean_cells, missing = {}, {}, []
    for (task, metric, lang), index in sorted(frame.groupby(["task", "metric", "lang"]).indices.items()):
        arms = [arm for arm in arm_names if (task, arm) in seeds]
        columns = [(arm, s) for arm in arms for s in seeds[(task, arm)]]
        position = {int(np.searchsorted(arm_names, arm)) * len(seed_values) + int(np.searchsorted(seed_values, s)): k
                    for k, (arm, s) in enumerate(columns)}
        col = np.array([position[k] for k in column_key[index]])
        grid = _grid(task, metric, lang, {name: values[index] for name, values in column.items()}, col, columns, arms)
        clean, perturbed = _cells(grid, missing)
        if clean is not None:
            clean_cells[(task, metric, lang)] = clean
        cells.update({(task, metric, lang, condition): cell for condition, cell in perturbed.items()})
    return Aligned(cells, clean_cells, seeds, tuple(missing))

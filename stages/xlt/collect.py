"""Predictions on disk -> the long per-example score table that scoring summarises.

One row per (task, arm, seed, lang, condition, example id, metric). Gold answers always come from the clean test
set (a perturbation never changes the answer text), and each perturbed row carries the chrF between its clean
and perturbed input, so scores can be plotted against perturbation strength. Files are read one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from stages.xlt.io import iter_jsonl, read_jsonl
from stages.xlt.scoring.metrics import exact_match, f1

PathFor = Callable[[str, str], Path]  # (condition, lang) -> file


def _chrf_by_id(path: Path) -> dict[str, float]:
    return {ex["id"]: float(ex["perturbation"]["chrf"]) for ex in iter_jsonl(path) if "perturbation" in ex}


def qa_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
            gold: dict[str, dict], inputs: Path | None) -> Iterator[dict]:
    """EM and F1 (MLQA normalisation for ``lang``) of every prediction in ``predictions``."""
    chrf = _chrf_by_id(inputs) if inputs is not None else {}
    for row in iter_jsonl(predictions):
        if row["id"] not in gold:
            raise ValueError(f"{predictions}: prediction for unknown question id {row['id']!r}; "
                             "the test set changed after evaluation: run `dvc repro`")
        golds = gold[row["id"]]["answers"]["text"]
        base = dict(task=task, arm=arm, seed=seed, lang=lang, condition=condition, id=row["id"],
                    chrf=chrf.get(row["id"], math.nan))
        yield {**base, "metric": "em", "value": exact_match(row["prediction"], golds, lang)}
        yield {**base, "metric": "f1", "value": f1(row["prediction"], golds, lang)}


def retrieval_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
                   inputs: Path | None) -> Iterator[dict]:
    """Per-pair nearest-neighbour hits: ``accuracy`` is XTREME's xx->en direction, ``accuracy_en2xx`` the other."""
    chrf = _chrf_by_id(inputs) if inputs is not None else {}
    for row in iter_jsonl(predictions):
        base = dict(task=task, arm=arm, seed=seed, lang=lang, condition=condition, id=row["id"],
                    chrf=chrf.get(row["id"], math.nan))
        yield {**base, "metric": "accuracy", "value": float(row["src2tgt"])}
        yield {**base, "metric": "accuracy_en2xx", "value": float(row["tgt2src"])}


def score_table(rows: Iterator[dict]) -> pd.DataFrame:
    columns = ["task", "arm", "seed", "lang", "condition", "id", "metric", "value", "chrf"]
    return pd.DataFrame.from_records(list(rows), columns=columns)


def attack_table(runs: dict[tuple[str, int], Path], task: str) -> pd.DataFrame:
    """``task, arm, seed, lang, id, success, words_changed, queries`` from each run's <lang>.jsonl files.

    Skipped questions (the clean prediction already scores 0) are left out, as TextAttack leaves them out of its
    success rate: there is nothing to degrade.
    """
    records = []
    for (arm, seed), folder in sorted(runs.items()):
        for path in sorted(folder.glob("*.jsonl")):
            for row in read_jsonl(path):
                if row["status"] == "skipped":
                    continue
                records.append(dict(task=task, arm=arm, seed=seed, lang=row["lang"], id=row["id"],
                                    success=bool(row["success"]), words_changed=int(row["words_changed"]),
                                    queries=int(row["queries"])))
    columns = ["task", "arm", "seed", "lang", "id", "success", "words_changed", "queries"]
    return pd.DataFrame.from_records(records, columns=columns)

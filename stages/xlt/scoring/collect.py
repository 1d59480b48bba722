"""Predictions on disk -> the long per-example tables that scoring summarises.

Scores: one row per (task, arm, seed, lang, condition, example id, metric) with the columns summarising needs:
``task, arm, seed, lang, condition, id, cluster, metric, value, applied, chrf``. Gold answers always come from the
clean test set (a perturbation never changes the answer text). Each perturbed row carries the chrF between its
clean and perturbed input (so scores can be plotted against perturbation strength) and ``applied``: whether the
perturbation changed that example's input, from the perturbation record's ``applied`` flag, or, for families
whose records have none, chrF < 100 (identical text scores exactly 100). Clean rows have ``applied = True`` and
chrF NaN. ``cluster`` is the unit of statistical independence, shared by the translations of one item across
languages: the caller's ``clusters`` mapping, else the example's own ``cluster`` field, else its id (a singleton).
Files are read one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pandas as pd

from stages.xlt.io import iter_jsonl
from stages.xlt.scoring.metrics import answer_f1, exact_match, label_accuracy

PathFor = Callable[[str, str], Path]  # (condition, lang) -> file
SCORE_COLUMNS = ["task", "arm", "seed", "lang", "condition", "id", "cluster", "metric", "value", "applied", "chrf"]
OPTIONAL_SCORE_COLUMNS = ("chrf",)  # a table without them can still be summarised (alignment.py)
ATTACK_COLUMNS = ["task", "arm", "seed", "lang", "id", "cluster", "status", "success", "words_changed", "n_words",
                  "queries", "budget_exhausted", "clean_score", "final_score", "clean_metric", "final_metric",
                  "poolable", "separate_because", "reason", "clean_prediction", "final_prediction", "edits", "clean",
                  "adversarial"]


def _perturbation_by_id(path: Path) -> dict[str, tuple[float, bool]]:
    """id -> (chrF, applied) of every perturbed example in ``path``."""
    out = {}
    for ex in iter_jsonl(path):
        if "perturbation" not in ex:
            continue
        record = ex["perturbation"]
        chrf = float(record["chrf"])
        out[ex["id"]] = (chrf, bool(record.get("applied", chrf < 100.0)))
    return out


def _cluster(example_id: str, example: Mapping | None, clusters: Mapping[str, str] | None) -> str:
    if clusters is not None and example_id in clusters:
        return str(clusters[example_id])
    if example is not None and example.get("cluster") is not None:
        return str(example["cluster"])
    return str(example_id)


def _require_record(predictions: Path, inputs: Path | None, perturbation: dict | None, example_id: str) -> None:
    """A perturbed prediction without a perturbation record in ``inputs`` comes from a stale file."""
    if perturbation is not None and example_id not in perturbation:
        raise ValueError(f"{predictions}: item {example_id!r} has no perturbation record in {inputs}; "
                         "the perturbed set changed after evaluation: run `dvc repro`")


def _base(task, arm, seed, lang, condition, example_id, cluster, perturbation) -> dict:
    chrf, applied = perturbation[example_id] if perturbation is not None else (math.nan, True)
    return dict(task=task, arm=arm, seed=seed, lang=lang, condition=condition, id=example_id, cluster=cluster,
                applied=applied, chrf=chrf)


def _graded(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path, gold: dict[str, dict],
            inputs: Path | None, clusters: Mapping[str, str] | None) -> Iterator[tuple[dict, dict, dict]]:
    """(prediction row, its gold item, the row's shared columns) for every prediction in ``predictions``.

    ``inputs`` is the perturbed test file (None for clean). A prediction for an id the test set lacks, or without a
    perturbation record in ``inputs``, comes from a stale file and raises.
    """
    perturbation = _perturbation_by_id(inputs) if inputs is not None else None
    for row in iter_jsonl(predictions):
        if row["id"] not in gold:
            raise ValueError(f"{predictions}: prediction for unknown item id {row['id']!r}; "
                             "the test set changed after evaluation: run `dvc repro`")
        _require_record(predictions, inputs, perturbation, row["id"])
        item = gold[row["id"]]
        yield row, item, _base(task, arm, seed, lang, condition, row["id"], _cluster(row["id"], item, clusters),
                               perturbation)


def qa_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
            gold: dict[str, dict], inputs: Path | None, clusters: Mapping[str, str] | None = None) -> Iterator[dict]:
    """EM and F1 (MLQA normalisation for ``lang``) of every prediction in ``predictions``."""
    for row, item, base in _graded(task=task, arm=arm, seed=seed, lang=lang, condition=condition,
                                   predictions=predictions, gold=gold, inputs=inputs, clusters=clusters):
        golds = item["answers"]["text"]
        yield {**base, "metric": "em", "value": exact_match(row["prediction"], golds, lang)}
        yield {**base, "metric": "f1", "value": answer_f1(row["prediction"], item, lang)}


def classification_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
                        gold: dict[str, dict], inputs: Path | None,
                        clusters: Mapping[str, str] | None = None) -> Iterator[dict]:
    """Accuracy (predicted label == the item's gold label in that language) of every prediction."""
    for row, item, base in _graded(task=task, arm=arm, seed=seed, lang=lang, condition=condition,
                                   predictions=predictions, gold=gold, inputs=inputs, clusters=clusters):
        yield {**base, "metric": "accuracy", "value": label_accuracy(row["prediction"], item, lang)}


def retrieval_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
                   inputs: Path | None, clusters: Mapping[str, str] | None = None,
                   gold: Mapping[str, dict] | None = None) -> Iterator[dict]:
    """Per-pair nearest-neighbour hits: ``accuracy`` is XTREME's xx->en direction, ``accuracy_en2xx`` the other.
    ``gold`` is not read: a hit is its own verdict. Each pair is its own cluster unless ``clusters`` (or the
    prediction row) says otherwise. A pair without a perturbation record in ``inputs`` comes from a stale file and
    raises."""
    perturbation = _perturbation_by_id(inputs) if inputs is not None else None
    for row in iter_jsonl(predictions):
        _require_record(predictions, inputs, perturbation, row["id"])
        base = _base(task, arm, seed, lang, condition, row["id"], _cluster(row["id"], row, clusters), perturbation)
        yield {**base, "metric": "accuracy", "value": float(row["src2tgt"])}
        yield {**base, "metric": "accuracy_en2xx", "value": float(row["tgt2src"])}


def tagging_rows(*, task: str, arm: str, seed: int, lang: str, condition: str, predictions: Path,
                 gold: dict[str, dict], inputs: Path | None,
                 clusters: Mapping[str, str] | None = None) -> Iterator[dict]:
    """One ``accuracy`` row per word (``<sentence id>#<word>``, clustered by its sentence's cluster): the mean over a
    language's rows is word accuracy, and resampling clusters resamples whole sentences."""
    for row, item, base in _graded(task=task, arm=arm, seed=seed, lang=lang, condition=condition,
                                   predictions=predictions, gold=gold, inputs=inputs, clusters=clusters):
        predicted, tags = row["prediction"], item["tags"]
        if len(predicted) != len(tags):
            raise ValueError(f"{predictions}: item {row['id']!r} has {len(predicted)} predicted tags for "
                             f"{len(tags)} words; the test set changed after evaluation: run `dvc repro`")
        for k, (p, g) in enumerate(zip(predicted, tags, strict=True)):
            yield {**base, "id": f"{row['id']}#{k:03d}", "metric": "accuracy", "value": float(int(p) == int(g))}


ROW_BUILDERS = {"qa": qa_rows, "classification": classification_rows, "tagging": tagging_rows,
                "retrieval": retrieval_rows}


def score_rows(family: str, *, gold: dict[str, dict], **common) -> Iterator[dict]:
    """The score rows of one predictions file of a target of ``family`` (``tasks/protocol.py``)."""
    if family not in ROW_BUILDERS:
        raise ValueError(f"no score rows for task family {family!r}; scored families are {sorted(ROW_BUILDERS)}")
    return ROW_BUILDERS[family](gold=gold, **common)


def score_table(rows: Iterator[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(list(rows), columns=SCORE_COLUMNS)


def attack_records(folders: Mapping[str, Path], clusters: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per attacked target, model (arm, seed) and candidate item, from each target's <lang>.jsonl files
    (``folders``: target -> folder), with the columns ATTACK_COLUMNS: the status, the counts TextAttack's figures
    need, the goal score and task metric before and after (``final_*``: every attacked item's end state), whether the
    language's typo model may be pooled, and the texts and edits (for the reviewable sample). Skipped items are kept
    (status "skipped"): they are TextAttack's skipped count and decide each arm's pool."""
    records = []
    for task, folder in sorted(folders.items()):
        for path in sorted(Path(folder).glob("*.jsonl")):
            for row in iter_jsonl(path):
                records.append(dict(
                    task=task, arm=row["arm"], seed=int(row["seed"]), lang=row["lang"], id=row["id"],
                    cluster=_cluster(row["id"], row, clusters), status=row["status"], success=bool(row["success"]),
                    words_changed=int(row["words_changed"]), n_words=int(row["n_words"]), queries=int(row["queries"]),
                    budget_exhausted=bool(row["budget_exhausted"]), clean_score=_number(row["clean_score"]),
                    final_score=_number(row["final_score"]), clean_metric=float(row["clean_metric"]),
                    final_metric=float(row["final_metric"]), poolable=bool(row["poolable"]),
                    separate_because=row.get("separate_because"), reason=row.get("reason"),
                    clean_prediction=row["clean_prediction"], final_prediction=row["final_prediction"],
                    edits=row["edits"], clean=row["clean"], adversarial=row["adversarial"]))
    return pd.DataFrame.from_records(records, columns=ATTACK_COLUMNS)


def _number(value) -> float:
    return math.nan if value is None else float(value)

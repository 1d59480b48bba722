"""Local copies of Hub dataset repositories in their own formats, for tests: ``<root>/<owner>/<name>/<file>``, the
files named, typed and encoded as at the pinned commits of ``registry.HUB_SOURCES`` (parquet with the repositories'
column types; MTEB's bitext sets as gzipped JSON lines, one pair per row)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from stages.xlt.tasks.registry import hub_source

SHARD = "00000-of-00001"  # the file suffix of a one-shard split in a "Convert dataset to Parquet" commit


def repo_dir(root: Path, loader: str) -> Path:
    return root / hub_source(loader).repo


def write_parquet(root: Path, loader: str, relpath: str, rows: list[dict], schema: pa.Schema | None = None) -> Path:
    path = repo_dir(root, loader) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path)
    return path


def write_jsonl_gz(root: Path, loader: str, relpath: str, rows: list[dict]) -> Path:
    path = repo_dir(root, loader) / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return path


def write_download_metadata(root: Path, loader: str, relpath: str, commit: str) -> None:
    """What ``huggingface-cli download --local-dir`` records beside a file: its commit on the first line."""
    path = repo_dir(root, loader) / ".cache" / "huggingface" / "download" / f"{relpath}.metadata"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{commit}\netag\n1700000000.0\n", encoding="utf-8")


# Column types as the repositories' dataset_info declares them (ClassLabel columns are stored as integers).
QA = pa.schema([("id", pa.string()), ("title", pa.string()), ("context", pa.string()), ("question", pa.string()),
                ("answers", pa.struct([("text", pa.list_(pa.string())), ("answer_start", pa.list_(pa.int32()))]))])
XQUAD = pa.schema([f for f in QA if f.name != "title"])
GLUE_MNLI = pa.schema([("premise", pa.string()), ("hypothesis", pa.string()), ("label", pa.int64()),
                       ("idx", pa.int32())])
GLUE_QQP = pa.schema([("question1", pa.string()), ("question2", pa.string()), ("label", pa.int64()),
                      ("idx", pa.int32())])
GLUE_SST2 = pa.schema([("sentence", pa.string()), ("label", pa.int64()), ("idx", pa.int32())])
ANLI = pa.schema([("uid", pa.string()), ("premise", pa.string()), ("hypothesis", pa.string()), ("label", pa.int64()),
                  ("reason", pa.string())])
XNLI = pa.schema([("premise", pa.string()), ("hypothesis", pa.string()), ("label", pa.int64())])
PAWSX = pa.schema([("sentence1", pa.string()), ("sentence2", pa.string()), ("label", pa.string())])  # "0" / "1"
# google/xtreme udpos.* and PAN-X.*: word lists with ClassLabel sequences (stored as integers).
UDPOS = pa.schema([("tokens", pa.list_(pa.string())), ("pos_tags", pa.list_(pa.int64()))])
PANX = pa.schema([("tokens", pa.list_(pa.string())), ("ner_tags", pa.list_(pa.int64())),
                  ("langs", pa.list_(pa.string()))])
HELLASWAG = pa.schema([("ind", pa.int32()), ("activity_label", pa.string()), ("ctx_a", pa.string()),
                       ("ctx_b", pa.string()), ("ctx", pa.string()), ("endings", pa.list_(pa.string())),
                       ("source_id", pa.string()), ("split", pa.string()), ("split_type", pa.string()),
                       ("label", pa.string())])  # a string: "" on the test split
CSQA = pa.schema([("id", pa.string()), ("question", pa.string()), ("question_concept", pa.string()),
                  ("choices", pa.struct([("label", pa.list_(pa.string())), ("text", pa.list_(pa.string()))])),
                  ("answerKey", pa.string())])
COSMOSQA = pa.schema([("id", pa.string()), ("context", pa.string()), ("question", pa.string()),
                      *((f"answer{i}", pa.string()) for i in range(4)), ("label", pa.int32())])

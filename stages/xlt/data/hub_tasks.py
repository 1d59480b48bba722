"""Load the paper profile's tasks from the Hugging Face Hub (or a local copy laid out like the Hub repo).

Only data files are read (``datasets.load_dataset("parquet" | "json", data_files=...)``): no dataset script is
ever executed and ``trust_remote_code`` is never used. Each task lists a glob on ``main`` (the layout of the
repo's own parquet files, as in its "Convert dataset to Parquet" commit) and a fallback glob on the Hub's
automatic conversion branch ``refs/convert/parquet`` (``<config>/<split>/NNNN.parquet``), tried when the first
matches nothing (repos that still hold only a loading script, e.g. MLQA's main at the time of writing).

``source`` may be a local folder laid out like the repo: the same globs are matched under it (``.jsonl`` /
``.json`` files are accepted in place of ``.parquet``), which is how this module is tested offline.
Layouts (main glob) and columns; the column names come from the dataset cards' ``dataset_info``:

| task | repo | files on main | columns -> shared format |
|---|---|---|---|
| squad | rajpurkar/squad | plain_text/{split}-*.parquet | id,title,context,question,answers -> QA |
| mnli, qqp, sst2 | nyu-mll/glue | {mnli,qqp,sst2}/{split}-*.parquet | premise,hypothesis / question1,question2 / sentence; label; idx -> pair |
| anli | facebook/anli | plain_text/{split}-*.parquet | uid,premise,hypothesis,label -> pair |
| hellaswag | Rowan/hellaswag | data/{split}-*.parquet | ind,ctx,endings,label (a string) -> choice |
| commonsenseqa | tau/commonsense_qa | data/{split}-*.parquet | id,question,choices{label,text},answerKey -> choice |
| cosmosqa | allenai/cosmos_qa | data/{split}-*.parquet | id,context,question,answer0..3,label -> choice (context = passage + " " + question) |
| xquad | google/xquad | xquad.{lang}/{split}-*.parquet | id,context,question,answers -> QA (article = position_key(paragraph order // 5)) |
| mlqa | facebook/mlqa | mlqa.{lang}.{lang}/{split}-*.parquet | id,context,question,answers -> QA (article = one per paragraph) |
| tydiqa | google-research-datasets/tydiqa | secondary_task/{split}-*.parquet | id (language-name prefix),title,context,question,answers -> QA |
| xnli | facebook/xnli | {lang}/{split}-*.parquet | premise,hypothesis,label -> pair |
| pawsx | google-research-datasets/paws-x | {lang}/{split}-*.parquet | id,sentence1,sentence2,label -> pair |
| tatoeba | mteb/tatoeba-bitext-mining | (parquet branch only) {xxx}-eng/{split}/*.parquet | sentence1 (xxx), sentence2 (eng) -> retrieval |
| bucc | mteb/bucc-bitext-mining | (parquet branch only) {lang}-en/{split}/*.parquet | sentence1 (xx), sentence2 (en) -> retrieval |

Not checked against a live Hub (it is unreachable here): the exact file names of hellaswag/cosmosqa/mlqa on
main. MTEB's bitext columns: sentence1 is the non-English side, sentence2 English (as code that uses the set
reads them; the config names put English second). The offline mirror remains the source of XQuAD and Tatoeba for this study.

Unlabelled rows (GLUE/XNLI test label -1, HellaSwag/CommonsenseQA test without a key) are dropped.
A split may join several Hub splits with "+", e.g. ANLI's ``train_r1+train_r2+train_r3``.
"""

from __future__ import annotations

import glob as globlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from stages.xlt.data.squad import position_key
from stages.xlt.languages import TATOEBA_XTREME

PARQUET_BRANCH = "refs/convert/parquet"
XQUAD_PARAGRAPHS_PER_ARTICLE = 5
TYDIQA_LANGUAGE_PREFIX = {"english": "en", "arabic": "ar", "bengali": "bn", "finnish": "fi", "indonesian": "id",
                          "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te"}

Mapper = Callable[[list[dict], str, str], list[dict]]  # rows, lang, split -> shared-format examples


@dataclass(frozen=True)
class HubLayout:
    hub_id: str
    files: str  # glob relative to the repo root at ``revision``; may use {lang}, {xxx}, {split}
    mapper: Mapper
    revision: str = "main"
    languages: tuple[str, ...] = ("en",)
    per_language: bool = False  # one config (folder) per language
    fallback: str | None = None  # glob on the parquet branch, tried when ``files`` matches nothing

    def candidates(self) -> list[tuple[str, str]]:
        """(revision, glob) pairs in the order they are tried."""
        tried = [(self.revision, self.files)]
        if self.fallback:
            tried.append((PARQUET_BRANCH, self.fallback))
        return tried


def _qa(row: dict, lang: str, article: str) -> dict:
    answers = row["answers"]
    return {"id": str(row["id"]), "article": article, "lang": lang, "context": row["context"],
            "question": row["question"],
            "answers": {"text": list(answers["text"]), "answer_start": [int(s) for s in answers["answer_start"]]}}


def _squad_rows(rows: list[dict], lang: str, split: str) -> list[dict]:
    return [_qa(row, lang, str(row.get("title") or "")) for row in rows]


def _by_paragraph_position(rows: list[dict], lang: str, prefix: str, per_article: int | None) -> list[dict]:
    """Article key from the order in which contexts first appear (the Hub copies drop titles)."""
    paragraph_of: dict[str, int] = {}
    examples = []
    for row in rows:
        index = paragraph_of.setdefault(row["context"], len(paragraph_of))
        article = position_key(index // per_article) if per_article else f"{prefix}-p{index:05d}"
        examples.append(_qa(row, lang, article))
    return examples


def _xquad_rows(rows, lang, split):
    return _by_paragraph_position(rows, lang, "xquad", XQUAD_PARAGRAPHS_PER_ARTICLE)


def _mlqa_rows(rows, lang, split):
    return _by_paragraph_position(rows, lang, f"mlqa-{lang}", None)


def _tydiqa_rows(rows, lang, split):
    wanted = [r for r in rows if TYDIQA_LANGUAGE_PREFIX.get(str(r["id"]).split("-", 1)[0]) == lang]
    return [_qa(row, lang, str(row.get("title") or "")) for row in wanted]


def _pairs(task: str, a: str, b: str | None, id_column: str | None = None) -> Mapper:
    def mapper(rows: list[dict], lang: str, split: str) -> list[dict]:
        out = []
        for i, row in enumerate(rows):
            label = row["label"]
            if label is None or int(label) < 0:
                continue
            key = row[id_column] if id_column else i
            out.append({"id": f"{task}-{lang}-{split}-{key}", "lang": lang, "text_a": row[a],
                        "text_b": row[b] if b else None, "label": int(label)})
        return out
    return mapper


def _hellaswag_rows(rows, lang, split):
    return [{"id": f"hellaswag-{split}-{row['ind']}", "lang": lang, "context": row["ctx"],
             "choices": list(row["endings"]), "label": int(row["label"])}
            for row in rows if str(row.get("label", "")).strip() != ""]


def _commonsenseqa_rows(rows, lang, split):
    out = []
    for row in rows:
        keys = list(row["choices"]["label"])
        if row.get("answerKey") not in keys:
            continue
        out.append({"id": str(row["id"]), "lang": lang, "context": row["question"],
                    "choices": list(row["choices"]["text"]), "label": keys.index(row["answerKey"])})
    return out


def _cosmosqa_rows(rows, lang, split):
    return [{"id": str(row["id"]), "lang": lang, "context": f"{row['context']} {row['question']}",
             "choices": [row[f"answer{i}"] for i in range(4)], "label": int(row["label"])}
            for row in rows if row.get("label") is not None and int(row["label"]) >= 0]


def _bitext(task: str) -> Mapper:
    def mapper(rows, lang, split):
        return [{"id": f"{task}-{lang}-{i:05d}", "lang": lang, "source": row["sentence1"], "target": row["sentence2"]}
                for i, row in enumerate(rows)]
    return mapper


LAYOUTS: dict[str, HubLayout] = {
    "squad": HubLayout("rajpurkar/squad", "plain_text/{split}-*.parquet", _squad_rows,
                       fallback="plain_text/{split}/*.parquet"),
    "mnli": HubLayout("nyu-mll/glue", "mnli/{split}-*.parquet", _pairs("mnli", "premise", "hypothesis", "idx"),
                      fallback="mnli/{split}/*.parquet"),
    "qqp": HubLayout("nyu-mll/glue", "qqp/{split}-*.parquet", _pairs("qqp", "question1", "question2", "idx"),
                     fallback="qqp/{split}/*.parquet"),
    "sst2": HubLayout("nyu-mll/glue", "sst2/{split}-*.parquet", _pairs("sst2", "sentence", None, "idx"),
                      fallback="sst2/{split}/*.parquet"),
    "anli": HubLayout("facebook/anli", "plain_text/{split}-*.parquet", _pairs("anli", "premise", "hypothesis", "uid"),
                      fallback="plain_text/{split}/*.parquet"),
    "hellaswag": HubLayout("Rowan/hellaswag", "data/{split}-*.parquet", _hellaswag_rows,
                           fallback="default/{split}/*.parquet"),
    "commonsenseqa": HubLayout("tau/commonsense_qa", "data/{split}-*.parquet", _commonsenseqa_rows,
                               fallback="default/{split}/*.parquet"),
    "cosmosqa": HubLayout("allenai/cosmos_qa", "data/{split}-*.parquet", _cosmosqa_rows,
                          fallback="default/{split}/*.parquet"),
    "xquad": HubLayout("google/xquad", "xquad.{lang}/{split}-*.parquet", _xquad_rows,
                       languages=("en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"),
                       per_language=True, fallback="xquad.{lang}/{split}/*.parquet"),
    "mlqa": HubLayout("facebook/mlqa", "mlqa.{lang}.{lang}/{split}-*.parquet", _mlqa_rows,
                      languages=("en", "ar", "de", "es", "hi", "vi", "zh"), per_language=True,
                      fallback="mlqa.{lang}.{lang}/{split}/*.parquet"),
    "tydiqa": HubLayout("google-research-datasets/tydiqa", "secondary_task/{split}-*.parquet", _tydiqa_rows,
                        languages=tuple(TYDIQA_LANGUAGE_PREFIX.values()), fallback="secondary_task/{split}/*.parquet"),
    "xnli": HubLayout("facebook/xnli", "{lang}/{split}-*.parquet", _pairs("xnli", "premise", "hypothesis"),
                      languages=("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur",
                                 "vi", "zh"), per_language=True, fallback="{lang}/{split}/*.parquet"),
    "pawsx": HubLayout("google-research-datasets/paws-x", "{lang}/{split}-*.parquet",
                       _pairs("pawsx", "sentence1", "sentence2", "id"),
                       languages=("en", "de", "es", "fr", "ja", "ko", "zh"), per_language=True,
                       fallback="{lang}/{split}/*.parquet"),
    "tatoeba": HubLayout("mteb/tatoeba-bitext-mining", "{xxx}-eng/{split}/*.parquet", _bitext("tatoeba"),
                         PARQUET_BRANCH, languages=tuple(sorted(TATOEBA_XTREME)), per_language=True),
    "bucc": HubLayout("mteb/bucc-bitext-mining", "{lang}-en/{split}/*.parquet", _bitext("bucc"), PARQUET_BRANCH,
                      languages=("de", "fr", "ru", "zh"), per_language=True),
}


def _hub_url(hub_id: str, revision: str, pattern: str) -> str:
    at = "" if revision == "main" else "@" + quote(revision, safe="")
    return f"hf://datasets/{hub_id}{at}/{pattern}"


def _local_files(source: Path, pattern: str) -> list[str]:
    # A local copy may hold the same rows as JSON Lines / JSON instead of parquet.
    for candidate in (pattern, pattern.replace(".parquet", ".jsonl"), pattern.replace(".parquet", ".json")):
        matches = sorted(globlib.glob(str(source / candidate)))
        if matches:
            return matches
    return []


def _read_rows(files: list[str], cache_dir: str | Path | None) -> list[dict]:
    import datasets  # imported here: 4 s, and only Hub loading needs it

    fmt = "json" if files[0].endswith((".json", ".jsonl")) else "parquet"
    dataset = datasets.load_dataset(fmt, data_files={"data": files}, split="data",
                                    cache_dir=str(cache_dir) if cache_dir else None)
    return dataset.to_list()


def _rows(layout: HubLayout, fill: dict[str, str], source: str | Path | None, cache_dir) -> list[dict]:
    """Rows of the first (revision, glob) candidate that has files, locally or on the Hub."""
    tried = []
    for revision, files in layout.candidates():
        pattern = files.format(**fill)
        if source is not None:
            matches = _local_files(Path(source), pattern)
            if matches:
                return _read_rows(matches, cache_dir)
            tried.append(str(Path(source) / pattern))
            continue
        url = _hub_url(layout.hub_id, revision, pattern)
        try:
            return _read_rows([url], cache_dir)
        except FileNotFoundError:  # datasets' DataFilesNotFoundError: this layout is not the repo's
            tried.append(url)
    raise ValueError(f"no data files for {layout.hub_id} (tried {tried}); lay a local copy out like the Hub repo")


def load_hub_task(
    task: str,
    split: str,
    *,
    source: str | Path | None = None,
    languages: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
) -> list[dict]:
    """Examples of ``task`` / ``split`` in the shared formats, every requested language concatenated."""
    if task not in LAYOUTS:
        raise ValueError(f"no Hub loader for task {task!r}; known: {sorted(LAYOUTS)}")
    layout = LAYOUTS[task]
    chosen: Sequence[str] = tuple(languages) if languages is not None else layout.languages
    unknown = [lang for lang in chosen if lang not in layout.languages]
    if unknown or not chosen:
        raise ValueError(f"task {task!r} has no language(s) {unknown or '(none given)'}; known: {layout.languages}")
    examples: list[dict] = []
    for hub_split in split.split("+"):
        if layout.per_language:
            for lang in chosen:
                fill = {"lang": lang, "xxx": TATOEBA_XTREME.get(lang, lang), "split": hub_split}
                examples.extend(layout.mapper(_rows(layout, fill, source, cache_dir), lang, hub_split))
        else:
            rows = _rows(layout, {"split": hub_split}, source, cache_dir)
            for lang in chosen:
                examples.extend(layout.mapper(rows, lang, hub_split))
    return examples

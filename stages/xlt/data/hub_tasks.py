"""Load the paper profile's tasks from the Hugging Face Hub, each repository at a pinned commit, or from a local copy
laid out like those repositories.

Only data files are read (``datasets.load_dataset("parquet" | "json", data_files=...)``): no dataset script is ever
executed and ``trust_remote_code`` is never used. Each loader names the repository and commit it reads
(``tasks/registry.HUB_SOURCES``) and the glob of its files at that commit. The Hub's automatic conversion branch
(``refs/convert/parquet``) is never read: it is rewritten by a bot and cannot be pinned.

``source`` may be a local folder holding one sub-folder per repository, ``<source>/<owner>/<name>/<files>``: what
``huggingface-cli download <repo> --repo-type dataset --revision <commit> --local-dir <source>/<repo>`` writes. Where
such a download left its metadata (``.cache/huggingface/download/<file>.metadata``, whose first line is the commit),
the commit must be the pinned one. This is how the module is tested offline.

| loader | repository (``registry.HUB_SOURCES``) | files at the pinned commit | columns -> shared format |
|---|---|---|---|
| squad | rajpurkar/squad | plain_text/{split}-*.parquet | id,title,context,question,answers -> QA |
| mnli, qqp, sst2 | nyu-mll/glue | {mnli,qqp,sst2}/{split}-*.parquet | premise,hypothesis / question1,question2 / sentence; label (int, -1 unlabelled); idx -> pair |
| anli | facebook/anli | plain_text/{split}-*.parquet | uid,premise,hypothesis,label (int) -> pair |
| hellaswag | Rowan/hellaswag | data/{split}-*.parquet | ind,ctx,endings,label (a string, "" unlabelled) -> choice |
| commonsenseqa | tau/commonsense_qa | data/{split}-*.parquet | id,question,choices{label,text},answerKey (a letter) -> choice |
| cosmosqa | Samsoup/cosmos_qa | data/{split}-*.parquet | id,context,question,answer0..3,label (int 0-3) -> choice (context = passage + " " + question) |
| xquad | google/xquad | xquad.{lang}/{split}-*.parquet | id,context,question,answers -> QA (article = position_key(paragraph order // 5)) |
| mlqa | google/xtreme | MLQA.{lang}.{lang}/{split}-*.parquet | id,title,context,question,answers -> QA (article = title) |
| tydiqa | google/xtreme | tydiqa/{split}-*.parquet | id (language-name prefix),title,context,question,answers -> QA |
| xnli | facebook/xnli | {lang}/{split}-*.parquet | premise,hypothesis,label (int) -> pair |
| pawsx | google/xtreme | PAWS-X.{lang}/{split}-*.parquet | sentence1,sentence2,label (a string "0"/"1") -> pair |
| tatoeba | mteb/tatoeba-bitext-mining | {split}/{xxx}-eng.jsonl.gz | sentence1 (xxx), sentence2 (eng), one pair per row -> retrieval |
| bucc | mteb/bucc-bitext-mining | {split}/{lang}-en.jsonl.gz | sentence1 (xx), sentence2 (en), one gold pair per row -> retrieval |
| udpos | google/xtreme | udpos.{Language}/{split}-*.parquet (English name: udpos.German) | tokens, pos_tags (int, 17 UPOS) -> tagging |
| panx | google/xtreme | PAN-X.{lang}/{split}-*.parquet | tokens, ner_tags (int, O/B-/I- PER ORG LOC) -> tagging |

Every row is checked before it is mapped: the columns a loader reads must exist, and in the bitext sets both sides
must be strings (the older BUCC format, one row per language pair with lists of sentences, now lives in mteb/BUCC)
and the English side must read as English (``bitext.check_rows``). A failing row stops the load with one line that
names the repository, file, row and fix.

Unlabelled rows (GLUE/XNLI test label -1, HellaSwag/CommonsenseQA test without a key) are dropped.
A split may join several Hub splits with "+", e.g. ANLI's ``train_r1+train_r2+train_r3``.
"""

from __future__ import annotations

import glob as globlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stages.xlt.data import bitext
from stages.xlt.data.squad import position_key
from stages.xlt.languages import PANX_LANGUAGES, TATOEBA_XTREME, UDPOS_LANGUAGES, UDPOS_NAMES
from stages.xlt.tasks.registry import HubSource, hub_source

XQUAD_PARAGRAPHS_PER_ARTICLE = 5
TYDIQA_LANGUAGE_PREFIX = {"english": "en", "arabic": "ar", "bengali": "bn", "finnish": "fi", "indonesian": "id",
                          "korean": "ko", "russian": "ru", "swahili": "sw", "telugu": "te"}
DOWNLOAD_METADATA = Path(".cache") / "huggingface" / "download"  # huggingface_hub's local-dir bookkeeping

Mapper = Callable[[list[dict], str, str], list[dict]]  # rows, lang, split -> shared-format examples
QA_COLUMNS = ("id", "context", "question", "answers")


class HubDataError(ValueError):
    """A Hub file does not hold what its pinned layout promises; the message is one line naming the fix.
    (Row-level bitext failures raise ``bitext.BitextError``, also a ValueError with one line.)"""


@dataclass(frozen=True)
class HubLayout:
    files: str  # glob relative to the repository root at its pinned commit; may use {lang}, {xxx}, {split}
    mapper: Mapper
    columns: tuple[str, ...]  # what the mapper reads: checked on every file before mapping
    languages: tuple[str, ...] = ("en",)
    per_language: bool = False  # one config (folder or file) per language
    bitext: bool = False  # rows are (non-English sentence1, English sentence2) pairs, checked row by row


def _qa(row: dict, lang: str, article: str) -> dict:
    answers = row["answers"]
    return {"id": str(row["id"]), "article": article, "lang": lang, "context": row["context"],
            "question": row["question"],
            "answers": {"text": list(answers["text"]), "answer_start": [int(s) for s in answers["answer_start"]]}}


def _titled_rows(rows: list[dict], lang: str, split: str) -> list[dict]:
    return [_qa(row, lang, str(row.get("title") or "")) for row in rows]


def _by_paragraph_position(rows: list[dict], lang: str, per_article: int) -> list[dict]:
    """Article key from the order in which contexts first appear (the Hub copy of XQuAD drops titles)."""
    paragraph_of: dict[str, int] = {}
    examples = []
    for row in rows:
        index = paragraph_of.setdefault(row["context"], len(paragraph_of))
        examples.append(_qa(row, lang, position_key(index // per_article)))
    return examples


def _xquad_rows(rows, lang, split):
    return _by_paragraph_position(rows, lang, XQUAD_PARAGRAPHS_PER_ARTICLE)


def _tydiqa_rows(rows, lang, split):
    wanted = [r for r in rows if TYDIQA_LANGUAGE_PREFIX.get(str(r["id"]).split("-", 1)[0]) == lang]
    return _titled_rows(wanted, lang, split)


def _label(value) -> int | None:
    """An int label, or None for an unlabelled row (-1, None or ""); string labels ("0"/"1") are parsed."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    label = int(value)
    return label if label >= 0 else None


def _pairs(task: str, a: str, b: str | None, id_column: str | None = None) -> Mapper:
    def mapper(rows: list[dict], lang: str, split: str) -> list[dict]:
        out = []
        for i, row in enumerate(rows):
            label = _label(row["label"])
            if label is None:
                continue
            key = row[id_column] if id_column else i
            out.append({"id": f"{task}-{lang}-{split}-{key}", "lang": lang, "text_a": row[a],
                        "text_b": row[b] if b else None, "label": label})
        return out
    return mapper


def _hellaswag_rows(rows, lang, split):
    return [{"id": f"hellaswag-{split}-{row['ind']}", "lang": lang, "context": row["ctx"],
             "choices": list(row["endings"]), "label": label}
            for row in rows if (label := _label(row["label"])) is not None]


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
             "choices": [row[f"answer{i}"] for i in range(4)], "label": label}
            for row in rows if (label := _label(row["label"])) is not None]


def _bitext(task: str) -> Mapper:
    def mapper(rows, lang, split):
        return [{"id": f"{task}-{lang}-{i:05d}", "lang": lang, "source": row["sentence1"], "target": row["sentence2"]}
                for i, row in enumerate(rows)]
    return mapper


def _tagged(task: str, tags: str) -> Mapper:
    """Word lists with one integer tag per word; a row whose lists differ in length stops the load."""
    def mapper(rows, lang, split):
        out = []
        for i, row in enumerate(rows):
            words, labels = list(row["tokens"]), [int(t) for t in row[tags]]
            if len(words) != len(labels) or not words:
                raise HubDataError(f"{task} {lang} {split} row {i}: {len(words)} words but {len(labels)} {tags}; "
                                   "fix: re-download the pinned revision")
            out.append({"id": f"{task}-{lang}-{split}-{i:05d}", "lang": lang, "tokens": words, "tags": labels})
        return out
    return mapper


_PAIR = ("premise", "hypothesis", "label")
LAYOUTS: dict[str, HubLayout] = {
    "squad": HubLayout("plain_text/{split}-*.parquet", _titled_rows, QA_COLUMNS + ("title",)),
    "mnli": HubLayout("mnli/{split}-*.parquet", _pairs("mnli", "premise", "hypothesis", "idx"), _PAIR + ("idx",)),
    "qqp": HubLayout("qqp/{split}-*.parquet", _pairs("qqp", "question1", "question2", "idx"),
                     ("question1", "question2", "label", "idx")),
    "sst2": HubLayout("sst2/{split}-*.parquet", _pairs("sst2", "sentence", None, "idx"), ("sentence", "label", "idx")),
    "anli": HubLayout("plain_text/{split}-*.parquet", _pairs("anli", "premise", "hypothesis", "uid"), _PAIR + ("uid",)),
    "hellaswag": HubLayout("data/{split}-*.parquet", _hellaswag_rows, ("ind", "ctx", "endings", "label")),
    "commonsenseqa": HubLayout("data/{split}-*.parquet", _commonsenseqa_rows,
                               ("id", "question", "choices", "answerKey")),
    "cosmosqa": HubLayout("data/{split}-*.parquet", _cosmosqa_rows,
                          ("id", "context", "question", "answer0", "answer1", "answer2", "answer3", "label")),
    "xquad": HubLayout("xquad.{lang}/{split}-*.parquet", _xquad_rows, QA_COLUMNS,
                       languages=("en", "ar", "de", "el", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"),
                       per_language=True),
    "mlqa": HubLayout("MLQA.{lang}.{lang}/{split}-*.parquet", _titled_rows, QA_COLUMNS + ("title",),
                      languages=("en", "ar", "de", "es", "hi", "vi", "zh"), per_language=True),
    "tydiqa": HubLayout("tydiqa/{split}-*.parquet", _tydiqa_rows, QA_COLUMNS + ("title",),
                        languages=tuple(TYDIQA_LANGUAGE_PREFIX.values())),
    "xnli": HubLayout("{lang}/{split}-*.parquet", _pairs("xnli", "premise", "hypothesis"), _PAIR,
                      languages=("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur",
                                 "vi", "zh"), per_language=True),
    "pawsx": HubLayout("PAWS-X.{lang}/{split}-*.parquet", _pairs("pawsx", "sentence1", "sentence2"),
                       ("sentence1", "sentence2", "label"), languages=("en", "de", "es", "fr", "ja", "ko", "zh"),
                       per_language=True),
    "udpos": HubLayout("udpos.{language}/{split}-*.parquet", _tagged("udpos", "pos_tags"), ("tokens", "pos_tags"),
                       languages=UDPOS_LANGUAGES, per_language=True),
    "panx": HubLayout("PAN-X.{lang}/{split}-*.parquet", _tagged("panx", "ner_tags"), ("tokens", "ner_tags"),
                      languages=PANX_LANGUAGES, per_language=True),
    "tatoeba": HubLayout("{split}/{xxx}-eng.jsonl.gz", _bitext("tatoeba"), ("sentence1", "sentence2"),
                         languages=tuple(sorted(TATOEBA_XTREME)), per_language=True, bitext=True),
    "bucc": HubLayout("{split}/{lang}-en.jsonl.gz", _bitext("bucc"), ("sentence1", "sentence2"),
                      languages=("de", "fr", "ru", "zh"), per_language=True, bitext=True),
}


def hub_url(source: HubSource, pattern: str) -> str:
    return f"hf://datasets/{source.repo}@{source.revision}/{pattern}"


def _local_revision(root: Path, relpath: str) -> str | None:
    """The commit a ``huggingface-cli download --local-dir`` copy of this file came from, when it recorded one."""
    metadata = root / DOWNLOAD_METADATA / f"{relpath}.metadata"
    if not metadata.is_file():
        return None
    lines = metadata.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines else None


def _local_files(source: HubSource, root: Path, pattern: str) -> tuple[list[str], list[str]]:
    """Matching files of a local copy and the commits they record (checked against the pin where recorded)."""
    repo_root = root / source.repo
    matches = sorted(globlib.glob(str(repo_root / pattern)))
    relpaths = [Path(match).relative_to(repo_root).as_posix() for match in matches]
    for relpath in relpaths:
        commit = _local_revision(repo_root, relpath)
        if commit is not None and not commit.startswith(source.revision):
            raise HubDataError(f"{repo_root / relpath} was downloaded at commit {commit}, not the pinned "
                               f"{source.revision} of {source.repo}; fix: download it again with --revision "
                               f"{source.revision}")
    return matches, relpaths


def _hub_files(source: HubSource, pattern: str) -> tuple[list[str], list[str]]:
    from huggingface_hub import HfFileSystem  # only on the online path

    prefix = f"datasets/{source.repo}@{source.revision}/"
    try:
        found = sorted(HfFileSystem().glob(prefix + pattern))
    except FileNotFoundError:
        found = []
    relpaths = [path.split("/", 3)[-1] for path in found]  # datasets/<owner>/<name>@<rev>/<relpath>
    return [hub_url(source, rel) for rel in relpaths], relpaths


def _read_rows(files: list[str], cache_dir: str | Path | None) -> list[dict]:
    import datasets  # imported here: 4 s, and only Hub loading needs it

    fmt = "parquet" if files[0].endswith(".parquet") else "json"
    dataset = datasets.load_dataset(fmt, data_files={"data": files}, split="data",
                                    cache_dir=str(cache_dir) if cache_dir else None)
    return dataset.to_list()


def _check_columns(rows: list[dict], layout: HubLayout, where: str) -> None:
    if not rows:
        return
    missing = [c for c in layout.columns if c not in rows[0]]
    if missing:
        raise HubDataError(f"{where} has no column(s) {missing} (it has {sorted(rows[0])}): not the layout this "
                           "loader reads at its pinned revision; fix: point the mirror at a copy of that revision")


def _rows(loader: str, layout: HubLayout, fill: dict[str, str], root: Path | None, cache_dir,
          sources: list[dict] | None) -> list[dict]:
    source = hub_source(loader)
    pattern = layout.files.format(**fill)
    files, relpaths = _local_files(source, root, pattern) if root is not None else _hub_files(source, pattern)
    if not files:
        where = root / source.repo / pattern if root is not None else hub_url(source, pattern)
        raise HubDataError(f"no data files for {source.repo}@{source.revision} ({where}); fix: lay a local copy "
                           f"out like the repository at that commit (XLT_HUB_MIRROR/{source.repo}/{pattern})")
    rows = _read_rows(files, cache_dir)
    where = f"{source.repo}@{source.revision[:8]}/{pattern}"
    _check_columns(rows, layout, where)
    if layout.bitext:
        bitext.check_rows(rows, lang=fill.get("lang", "?"), where=where)
    if sources is not None:
        sources.append({"repo": source.repo, "revision": source.revision, "files": relpaths, "rows": len(rows),
                        "read_from": "local copy" if root is not None else "hub"})
    return rows


def load_hub_task(
    task: str,
    split: str,
    *,
    source: str | Path | None = None,
    languages: Iterable[str] | None = None,
    cache_dir: str | Path | None = None,
    sources: list[dict] | None = None,
) -> list[dict]:
    """Examples of ``task`` / ``split`` in the shared formats, every requested language concatenated.

    ``source``: a local mirror root (``<source>/<owner>/<name>/...``), or None for the Hub. ``sources``: a list that
    receives one record per file read (repository, pinned revision, file), for provenance."""
    if task not in LAYOUTS:
        raise ValueError(f"no Hub loader for task {task!r}; known: {sorted(LAYOUTS)}")
    layout = LAYOUTS[task]
    chosen: Sequence[str] = tuple(languages) if languages is not None else layout.languages
    unknown = [lang for lang in chosen if lang not in layout.languages]
    if unknown or not chosen:
        raise ValueError(f"task {task!r} has no language(s) {unknown or '(none given)'}; known: {layout.languages}")
    root = Path(source) if source is not None else None
    examples: list[dict] = []
    for hub_split in split.split("+"):
        if layout.per_language:
            for lang in chosen:
                fill = {"lang": lang, "xxx": TATOEBA_XTREME.get(lang, lang), "language": UDPOS_NAMES.get(lang, lang),
                        "split": hub_split}
                examples.extend(layout.mapper(_rows(task, layout, fill, root, cache_dir, sources), lang, hub_split))
        else:
            rows = _rows(task, layout, {"split": hub_split}, root, cache_dir, sources)
            for lang in chosen:
                examples.extend(layout.mapper(rows, lang, hub_split))
    return examples

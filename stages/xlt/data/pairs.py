"""XNLI and PAWS-X dev sets (XTREME's TSV copies): readers, groups of dependent rows, and a leak-free split.

Files: ``<folder>/dev-<lang>.tsv``, no header, one pair per line: ``text_a<TAB>text_b<TAB>label``, UTF-8, ``\\n``
line ends. Row *i* is the same item in every language (XNLI: 2,490 rows x 15 languages; PAWS-X: 2,000 x 7).

Quoting: there is none. Fields are split on tabs only, as XTREME and the Hugging Face loaders read them
(``csv.QUOTE_NONE``). Several translated PAWS-X files have CSV-looking fields (``"Der ""X"" ist ..."``); those
quotes are part of the text as distributed and are kept verbatim; a CSV reader with default quoting would eat
them and, on an unbalanced quote, merge lines.

Example format (one per row and language)::

    {"id": "xnli-00042", "lang": "de", "text_a": ..., "text_b": ..., "label": 0, "cluster": "xnli-p0014", "row": 42}

``id`` and ``cluster`` depend only on the row index, so they are identical across languages.

Labels: XNLI ``entailment``=0, ``neutral``=1, ``contradiction``=2 (the Hugging Face ``xnli`` order); PAWS-X as in
the file (1 = paraphrase). The gold label of a row in a language is that language's own file label. XNLI's labels
agree across all 15 files. PAWS-X's do not on a few rows (mirror: de 32, es 16, fr 3, ja 9, ko 23, zh 10 rows):
every such row has a sentence the translators left as the placeholder ``NS`` (not translated; 68/38/8/20/35/16
rows, 151 row indices in any language), labelled 0 in that language. ``prepare_pairs`` records both lists and can
drop the placeholder rows (``drop_untranslated``).

Groups (``cluster``), computed on the English file and applied to every language by row index:

* XNLI: the rows are 830 premises x 3 hypotheses, in contiguous blocks of 3 (one of each label on the mirror);
  the cluster is the premise block, ``xnli-p<row // 3>``. ``xnli_clusters`` fails if a block's premises differ
  or one premise text appears in two blocks.
* PAWS-X: pairs re-use sentences (the same source sentence is paired with several of its perturbations): the
  2,000 English pairs form 1,201 connected components of pairs linked by a shared sentence (up to 7 pairs), the
  cluster ``pawsx-g<component>``, numbered by first row. Components are taken on English only: translations of
  one English sentence differ between its pairs, and identical translations (``NS`` above all) link unrelated
  English groups, which does not matter here because only English rows are ever trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from stages.xlt.data.groups import cap_groups, connected_components, same_ids_as, select_groups, split_groups

Task = Literal["xnli", "pawsx"]
TASKS: tuple[Task, ...] = ("xnli", "pawsx")
XNLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
PAWSX_LABELS: tuple[str, ...] = ("0", "1")
UNTRANSLATED = "NS"  # PAWS-X translators' placeholder for a sentence they did not translate
XNLI_BLOCK = 3


LABEL_NAMES: dict[str, tuple[str, ...]] = {"xnli": XNLI_LABELS, "pawsx": PAWSX_LABELS}
# The unit the bootstrap resamples, as the split record describes it.
CLUSTER_UNITS: dict[str, str] = {"xnli": "cluster (XNLI premise block of 3 rows)",
                                 "pawsx": "cluster (PAWS-X pairs connected by a shared English sentence)"}


def _label_names(task: Task) -> tuple[str, ...]:
    if task not in LABEL_NAMES:
        raise ValueError(f"unknown sentence-pair task {task!r}; choose one of {TASKS}")
    return LABEL_NAMES[task]


def tsv_path(folder: str | Path, lang: str) -> Path:
    return Path(folder) / f"dev-{lang}.tsv"


def read_tsv(path: str | Path, labels: Sequence[str]) -> list[tuple[str, str, int]]:
    """``(text_a, text_b, label index)`` per line of a header-less 3-column TSV, quotes kept verbatim.

    Raises ValueError naming the file and the 1-based line for a line without exactly three tab-separated
    fields, an empty text, or a label not in ``labels``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"missing data file {path}; run the download stage (or fetch it) first")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 ({err}); re-download the file") from err
    lines = text.split("\n")  # "\n" only: str.splitlines would also split on U+2028 etc. inside a sentence
    if lines and lines[-1] == "":
        lines.pop()
    index = {name: i for i, name in enumerate(labels)}
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.removesuffix("\r").split("\t")
        if len(fields) != 3:
            raise ValueError(f"{path} line {number}: expected 3 tab-separated fields (text_a, text_b, label), "
                             f"found {len(fields)}: {line[:120]!r}")
        text_a, text_b, label = fields
        if not text_a.strip() or not text_b.strip():
            raise ValueError(f"{path} line {number}: empty text field: {line[:120]!r}")
        if label not in index:
            raise ValueError(f"{path} line {number}: label {label!r} is not one of {list(labels)}")
        rows.append((text_a, text_b, index[label]))
    if not rows:
        raise ValueError(f"{path}: no rows; is this the right file?")
    return rows


def example_id(task: Task, row: int) -> str:
    return f"{task}-{row:05d}"


def _examples(rows: Sequence[tuple[str, str, int]], task: Task, lang: str, clusters: Sequence[str] | None,
              origin: Path) -> list[dict]:
    if clusters is not None and len(clusters) != len(rows):
        raise ValueError(f"{origin}: {len(rows)} rows, but {len(clusters)} cluster labels (from the English file); "
                         "the languages must be row-aligned")
    return [
        {"id": example_id(task, row), "lang": lang, "text_a": a, "text_b": b, "label": label,
         "cluster": clusters[row] if clusters is not None else example_id(task, row), "row": row}
        for row, (a, b, label) in enumerate(rows)
    ]


def read_pairs(path: str | Path, task: Task, lang: str, clusters: Sequence[str] | None = None) -> list[dict]:
    """Examples of one file; ``clusters[row]`` sets each row's cluster (default: the row's own id)."""
    return _examples(read_tsv(path, _label_names(task)), task, lang, clusters, Path(path))


def xnli_clusters(english: Sequence[tuple[str, ...]], origin: str = "XNLI English file") -> list[str]:
    """Premise-block cluster of each row (``xnli-p<row // 3>``); checks the 3-rows-per-premise structure."""
    if len(english) % XNLI_BLOCK:
        raise ValueError(f"{origin}: {len(english)} rows is not a multiple of {XNLI_BLOCK}; expected contiguous "
                         "blocks of 3 hypotheses per premise")
    block_of_premise: dict[str, int] = {}
    for row in range(0, len(english), XNLI_BLOCK):
        block = row // XNLI_BLOCK
        premises = {english[r][0] for r in range(row, row + XNLI_BLOCK)}
        if len(premises) != 1:
            raise ValueError(f"{origin} rows {row}-{row + XNLI_BLOCK - 1} (lines {row + 1}-{row + XNLI_BLOCK}): "
                             "the premises of a block of 3 differ; the premise-group structure does not hold")
        premise = premises.pop()
        if block_of_premise.setdefault(premise, block) != block:
            raise ValueError(f"{origin}: the premise of rows {row}-{row + XNLI_BLOCK - 1} also starts block "
                             f"{block_of_premise[premise]} (row {block_of_premise[premise] * XNLI_BLOCK}); "
                             "premise groups must be contiguous")
    return [f"xnli-p{row // XNLI_BLOCK:04d}" for row in range(len(english))]


def pawsx_clusters(english: Sequence[tuple[str, ...]]) -> list[str]:
    """Connected components of pairs that share a sentence (either side), ``pawsx-g<n>`` numbered by first row."""
    components = connected_components([(a, b) for a, b, *_ in english])
    return [f"pawsx-g{c:04d}" for c in components]


def clusters_for(task: Task, english: Sequence[tuple[str, ...]], origin: str) -> list[str]:
    _label_names(task)
    clusterings = {"xnli": lambda: xnli_clusters(english, origin), "pawsx": lambda: pawsx_clusters(english)}
    return clusterings[task]()


def read_parallel(task: Task, folder: str | Path, languages: Sequence[str]) -> dict[str, list[dict]]:
    """Examples of every language in ``languages`` plus English (always read first: it defines the clusters).

    Checks that all files have the same number of rows.
    """
    labels = _label_names(task)
    english_path = tsv_path(folder, "en")
    english_rows = read_tsv(english_path, labels)
    clusters = clusters_for(task, english_rows, str(english_path))
    per_lang = {"en": _examples(english_rows, task, "en", clusters, english_path)}
    for lang in dict.fromkeys(languages):
        if lang != "en":
            per_lang[lang] = read_pairs(tsv_path(folder, lang), task, lang, clusters)
    return per_lang


def label_differences(examples: Sequence[dict], english: Sequence[dict]) -> list[str]:
    """Ids whose label in ``examples`` differs from the English row's."""
    return [e["id"] for e, en in zip(examples, english, strict=True) if e["label"] != en["label"]]


def untranslated_ids(examples: Sequence[dict]) -> list[str]:
    """Ids of rows with a text left as the ``NS`` placeholder."""
    return [e["id"] for e in examples if UNTRANSLATED in (e["text_a"].strip(), e["text_b"].strip())]


def prepare_pairs(
    task: Task,
    folder: str | Path,
    languages: Sequence[str],
    *,
    seed: int,
    n_test: int,
    n_intermediate: int,
    max_intermediate: int | None = None,
    max_target_train: int | None = None,
    max_test: int | None = None,
    drop_untranslated: bool = False,
) -> dict:
    """Split XNLI or PAWS-X by group into English training rows and test rows in every language.

    ``n_test`` and ``n_intermediate`` count groups (XNLI: 830 premise groups of 3 rows; PAWS-X: 1,201 groups of
    1-7 rows); ``target_train`` gets every other group. The ``max_*`` caps count rows and keep whole groups
    (``groups.cap_groups``, seeded). ``max_test`` is applied to the English-indexed rows, so every language keeps
    the same ids. ``drop_untranslated`` removes from the test set, in every language, the rows that some
    evaluated language left as ``NS`` (training rows are English and keep them).

    Returns ``{"intermediate": [en rows], "target_train": [en rows], "test": {lang: rows}, "split": {...}}``; the
    split record is JSON-able: the groups of each part, row counts, label differences and ``NS`` rows.
    """
    if not languages:
        raise ValueError("no evaluation languages given")
    per_lang = read_parallel(task, folder, languages)
    english = per_lang["en"]
    parts = split_groups([e["cluster"] for e in english], n_test=n_test, n_intermediate=n_intermediate, seed=seed)
    intermediate = cap_groups(select_groups(english, parts.intermediate), max_intermediate, seed)
    target_train = cap_groups(select_groups(english, parts.target_train), max_target_train, seed)
    evaluated = {lang: per_lang[lang] for lang in languages}
    untranslated = {lang: untranslated_ids(rows) for lang, rows in evaluated.items()}
    test_en = select_groups(english, parts.test)
    if drop_untranslated:
        dropped = set().union(*untranslated.values())
        test_en = [e for e in test_en if e["id"] not in dropped]
    test_en = cap_groups(test_en, max_test, seed)
    test = same_ids_as(test_en, evaluated)
    test_ids = {e["id"] for e in test_en}
    label_differs = {lang: label_differences(rows, english) for lang, rows in evaluated.items() if lang != "en"}
    record = {
        "task": task,
        "seed": seed,
        "unit": CLUSTER_UNITS[task],
        "n_groups": len({e["cluster"] for e in english}),
        "n_rows": len(english),
        "groups": parts.to_dict(),
        "rows": {"intermediate": len(intermediate), "target_train": len(target_train),
                 "test": {lang: len(rows) for lang, rows in test.items()}},
        "caps": {"max_intermediate": max_intermediate, "max_target_train": max_target_train, "max_test": max_test},
        "gold_label": "each language's own file label",
        "label_differs_from_en": label_differs,
        "label_differs_from_en_in_test": {lang: sorted(set(ids) & test_ids) for lang, ids in label_differs.items()},
        "untranslated_rows": untranslated,
        "drop_untranslated": drop_untranslated,
    }
    return {"intermediate": intermediate, "target_train": target_train, "test": test, "split": record}

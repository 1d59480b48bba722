"""From raw files to the prepared sets every later stage reads: English intermediate tasks, English fine-tuning
sets, zero-shot test sets in every language, and bilingual lexicons.

Offline (profiles tiny and small), every split is by the unit of independence, so nothing of a test item's group
reaches training: XQuAD by article (test / intermediate / target_train), MLQA by English article (test / train),
XNLI by premise and PAWS-X by connected sentence group (test / intermediate / target_train). Intermediate tasks come
only from intermediate parts; fine-tuning sets only from target_train parts. The paper profile takes the English
training sets and the test sets from the Hugging Face Hub instead (``data/hub_tasks.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stages.xlt.data import derived, mlqa, pairs, split, squad, tatoeba
from stages.xlt.io import write_json, write_jsonl
from stages.xlt.languages import TATOEBA_CODES

SENTENCE_CHOICES = 4  # k of the derived multiple-choice task


@dataclass
class Prepared:
    """File name -> rows (``.jsonl``) or object (``.json``), per output folder."""

    intermediate: dict[str, object] = field(default_factory=dict)
    finetune: dict[str, object] = field(default_factory=dict)
    test: dict[str, object] = field(default_factory=dict)
    lexicons: dict[str, object] = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)  # Hub files read (repository, pinned commit), for provenance

    def sizes(self) -> dict[str, int]:
        return {f"{part}/{name}": len(rows) for part in ("intermediate", "finetune", "test", "lexicons")  # type: ignore[arg-type]
                for name, rows in getattr(self, part).items()}


def write_folder(folder: Path, files: Mapping[str, object]) -> None:
    for name, content in sorted(files.items()):
        if name.endswith(".jsonl"):
            write_jsonl(folder / name, content)  # type: ignore[arg-type]
        else:
            write_json(folder / name, content)
    write_json(folder / "sizes.json", {name: len(rows) for name, rows in files.items()})  # type: ignore[arg-type]


@dataclass(frozen=True)
class Sizes:
    """Split sizes and caps of one data set (see params.yaml ``download``)."""

    n_test: int
    n_intermediate: int = 0
    max_test: int | None = None
    max_intermediate: int | None = None
    max_train: int | None = None


def _cap_same_ids(per_lang: dict[str, list[dict]], n: int | None, seed: int) -> dict[str, list[dict]]:
    """Cap the English test questions by whole paragraphs, then keep exactly those ids in every language."""
    kept = {ex["id"] for ex in split.cap(per_lang["en"], n, seed)}
    return {lang: [ex for ex in examples if ex["id"] in kept] for lang, examples in per_lang.items()}


def _xquad(prepared: Prepared, folder: Path, languages: Sequence[str], sizes: Sizes, seed: int) -> list[dict]:
    per_lang = squad.read_xquad(folder, list(languages))
    articles = split.split_articles(split.article_ids(per_lang["en"]), n_test=sizes.n_test,
                                    n_intermediate=sizes.n_intermediate, seed=seed)
    english_intermediate = split.select(per_lang["en"], articles, "intermediate")
    if english_intermediate:
        prepared.intermediate.update({
            "squad.jsonl": split.cap(english_intermediate, sizes.max_intermediate, seed),
            "qnli.jsonl": split.cap(derived.qnli_from_squad(english_intermediate, seed), sizes.max_intermediate, seed),
            "sentence_choice.jsonl": split.cap(
                derived.sentence_choice_from_squad(english_intermediate, SENTENCE_CHOICES, seed),
                sizes.max_intermediate, seed),
        })
    test = _cap_same_ids(split.select_all_languages(per_lang, articles, "test"), sizes.max_test, seed)
    prepared.test.update({f"xquad.{lang}.jsonl": rows for lang, rows in test.items()})
    prepared.test["xquad.split.json"] = articles.to_dict()
    return split.cap(split.select(per_lang["en"], articles, "target_train"), sizes.max_train, seed)


def _mlqa(prepared: Prepared, folder: Path, languages: Sequence[str], sizes: Sizes, seed: int) -> list[dict]:
    data = mlqa.prepare_mlqa(folder, sorted(set(languages) | {"en"}), seed=seed, n_test_articles=sizes.n_test,
                             max_test=sizes.max_test, max_train=sizes.max_train)
    for lang, rows in data["test"].items():
        prepared.test[f"mlqa.{lang}.jsonl"] = rows
    for lang, rows in data["gxlt"].items():
        prepared.test[f"mlqa_gxlt.{lang}.jsonl"] = rows
    prepared.test["mlqa.split.json"] = data["split"]
    return data["train"]


def _pairs(prepared: Prepared, task: str, intermediate_name: str, folder: Path, languages: Sequence[str],
           sizes: Sizes, seed: int) -> None:
    data = pairs.prepare_pairs(task, folder, sorted(set(languages) | {"en"}), seed=seed, n_test=sizes.n_test,
                               n_intermediate=sizes.n_intermediate, max_intermediate=sizes.max_intermediate,
                               max_target_train=sizes.max_train, max_test=sizes.max_test)
    if data["intermediate"]:
        prepared.intermediate[f"{intermediate_name}.jsonl"] = data["intermediate"]
    prepared.finetune[f"{task}.jsonl"] = data["target_train"]
    for lang, rows in data["test"].items():
        prepared.test[f"{task}.{lang}.jsonl"] = rows
    prepared.test[f"{task}.split.json"] = data["split"]


def prepare_offline(*, raw: Path, targets: Mapping[str, Sequence[str]], sizes: Mapping[str, Sizes], seed: int,
                    finetune: Sequence[str], lexicon_languages: Sequence[str],
                    max_tatoeba_pairs: int | None, with_xquad: bool = True) -> Prepared:
    """Every prepared file of the offline profiles. ``targets``: evaluated target -> languages; ``sizes`` per data
    set (xquad always; mlqa, xnli, pawsx when evaluated or fine-tuned on)."""
    out = Prepared()
    qa_train: list[dict] = []
    if with_xquad:
        qa_train = _xquad(out, raw / "xquad", sorted(set(targets.get("xquad", [])) | {"en"}), sizes["xquad"], seed)
    if targets.get("mlqa"):
        qa_train = qa_train + _mlqa(out, raw / "mlqa" / "MLQA_V1" / "dev", targets["mlqa"], sizes["mlqa"], seed)
    built = {"qa": qa_train}  # fine-tuning sets assembled here from several data sets (the others: _pairs)
    for name in finetune:
        if name in built:
            out.finetune[f"{name}.jsonl"] = built[name]
    for task, intermediate_name in (("xnli", "nli"), ("pawsx", "paraphrase")):
        if task in sizes:
            _pairs(out, task, intermediate_name, raw / task, targets.get(task, []), sizes[task], seed)
    for lang in targets.get("tatoeba", []):
        out.test[f"tatoeba.{lang}.jsonl"] = split.cap(tatoeba.read_tatoeba(raw / "tatoeba" / "v1", lang),
                                                      max_tatoeba_pairs, seed)
    for (lang, _), lexicon in tatoeba_lexicons(raw / "tatoeba" / "v1", lexicon_languages).items():
        out.lexicons[f"{lang}-en.json"] = lexicon
    return out


def tatoeba_lexicons(tatoeba_dir: Path, langs: Sequence[str], *,
                     both_directions: bool = False) -> dict[tuple[str, str], dict[str, str]]:
    """Bilingual lexicons (lang, "en") (and ("en", lang)) for every non-English ``lang``, from ALL its Tatoeba pairs
    (not the capped retrieval test set: a lexicon's quality grows with its parallel data)."""
    from stages.xlt.perturbations.lexicon import build_lexicon

    lexicons: dict[tuple[str, str], dict[str, str]] = {}
    for lang in langs:
        if lang == "en":
            continue
        parallel = tatoeba.read_tatoeba(tatoeba_dir, lang)
        source, english = [p["source"] for p in parallel], [p["target"] for p in parallel]
        lexicons[(lang, "en")] = build_lexicon(source, english, source_lang=lang, target_lang="en")
        if both_directions:
            lexicons[("en", lang)] = build_lexicon(english, source, source_lang="en", target_lang=lang)
    return lexicons


def lexicon_languages(targets: Mapping[str, Sequence[str]]) -> list[str]:
    """Non-English languages of the targets whose inputs can be code-switched and that have Tatoeba pairs."""
    from stages.xlt.tasks import registry

    # Not the languages of the lexicons' own source (Tatoeba): its sentences would be code-switched with
    # translations learnt from the very pairs being retrieved.
    langs = {lang for target, ls in targets.items() if not registry.target(target).from_mirror for lang in ls}
    return sorted(lang for lang in langs if lang != "en" and lang in TATOEBA_CODES)


# ------------------------------------------------------------------------------------------------ paper profile
def _article_clusters(name: str, per_lang: Mapping[str, list[dict]],
                      english: Callable[[], list[dict]]) -> dict[str, list[dict]]:
    """Translations share ids: the English item's article is every translation's cluster (MLQA: its English title,
    as offline; XQuAD, whose Hub copy has no titles: its position-derived article)."""
    cluster = {r["id"]: f"{name}:{r['article']}" for r in english()}
    return {lang: [{**r, "cluster": cluster.get(r["id"], f"{name}:{lang}:{r['article']}")} for r in rows]
            for lang, rows in per_lang.items()}


def _row_clusters(name: str, per_lang: Mapping[str, list[dict]],
                  english: Callable[[], list[dict]]) -> dict[str, list[dict]]:
    """Hub sentence-pair test sets are row-aligned across languages: ids by row, as offline, and the English pairs
    decide the clusters (XNLI premise blocks, PAWS-X components of shared sentences)."""
    clusters = pairs.clusters_for(name, [(r["text_a"], r["text_b"]) for r in english()], f"{name} (Hub)")
    return {lang: [{**r, "id": pairs.example_id(name, i), "row": i, "lang": lang, "cluster": clusters[i]}
                   for i, r in enumerate(rows)] for lang, rows in per_lang.items()}


def _item_clusters(name: str, per_lang: Mapping[str, list[dict]],
                   english: Callable[[], list[dict]]) -> dict[str, list[dict]]:
    return {lang: [{**r, "cluster": r["id"]} for r in rows] for lang, rows in per_lang.items()}


def _first_rows(rows: list[dict], max_test: int | None, seed: int) -> list[dict]:
    return rows[: max_test or len(rows)]  # row-aligned: the same items in every language


# A protocol's cluster unit (tasks/protocol.py) -> how a Hub test set gets it, and how a language's set is capped.
HUB_CLUSTERS = {"article": (_article_clusters, split.cap), "row": (_row_clusters, _first_rows),
                "item": (_item_clusters, split.cap)}


def prepare_hub(*, intermediate_tasks: Sequence[str], finetune: Sequence[str], targets: Mapping[str, Sequence[str]],
                source: str | Path | None, max_train: int | None, max_test: int | None, seed: int,
                max_dev: int | None = None, cache_dir: str | Path | None = None) -> Prepared:
    """The paper profile: the X-STILTs English tasks, the fine-tuning sets and the XTREME test sets from the Hub
    (``source``: a local folder laid out like the Hub repositories, for tests and air-gapped machines; None: the
    Hub), each repository at its pinned commit. Every training task's English dev set is written beside it
    (``<task>.dev.jsonl``, at most ``max_dev`` examples, for checkpoint selection). ``Prepared.sources`` records
    every file read, with its repository and commit, for provenance."""
    from stages.xlt.data.hub_tasks import load_hub_task
    from stages.xlt.tasks import registry

    out = Prepared()

    def hub(loader_split: str, languages=None) -> list[dict]:
        loader, hub_split = loader_split.split(":")
        return load_hub_task(loader, hub_split, source=source, languages=languages, cache_dir=cache_dir,
                             sources=out.sources)

    # English training sets and dev sets (a per-language Hub repo such as PAWS-X is read in English only).
    for folder, specs in ((out.intermediate, [registry.intermediate_task(t) for t in intermediate_tasks]),
                          (out.finetune, [registry.finetune_task(t) for t in finetune])):
        for spec in specs:
            folder[f"{spec.name}.jsonl"] = split.cap(hub(spec.hub, ["en"]), max_train, seed)
            if spec.hub_dev:
                folder[f"{spec.name}.dev.jsonl"] = split.cap(hub(spec.hub_dev, ["en"]), max_dev, seed)
    for name, languages in targets.items():
        spec = registry.target(name)
        protocol = spec.protocol
        # QA targets need their English questions too: they are the code-switched (G-XLT) ones.
        langs = sorted(set(languages) | ({"en"} if protocol.english_test else set()))
        read = {lang: hub(spec.hub, [lang]) for lang in langs}
        clustering, capped = HUB_CLUSTERS[protocol.cluster_unit]
        per_lang = clustering(name, read, lambda: read["en"] if "en" in read else hub(spec.hub, ["en"]))
        for lang, rows in per_lang.items():
            out.test[f"{name}.{lang}.jsonl"] = capped(rows, max_test, seed)
        if protocol.english_test:
            # Capped per language, the languages of a non-parallel set (MLQA) keep different ids: keep every English
            # question that a kept translation needs, besides English's own cap when English is evaluated.
            needed = {r["id"] for lang in languages if lang != "en" for r in out.test[f"{name}.{lang}.jsonl"]}
            own = {r["id"] for r in out.test[f"{name}.en.jsonl"]} if "en" in languages else set()
            out.test[f"{name}.en.jsonl"] = [r for r in per_lang["en"] if r["id"] in needed | own]
    return out

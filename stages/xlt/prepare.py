"""From raw files to the prepared sets every later stage reads.

XQuAD is split by article (never one article's paragraphs on two sides): ``test`` articles are the zero-shot
test set in every language (same question ids everywhere); ``intermediate`` articles are the only source of
the English intermediate tasks (SQuAD-style QA plus the derived QNLI-style and sentence-choice tasks), and
``target_train`` articles are the English training data of the target task. Nothing of a test article
reaches training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stages.xlt.data import derived, split, squad, tatoeba
from stages.xlt.io import write_json, write_jsonl

SENTENCE_CHOICES = 4  # k of the derived multiple-choice task


@dataclass
class Prepared:
    """File name -> rows (``.jsonl``) or object (``.json``), per output folder."""

    intermediate: dict[str, object] = field(default_factory=dict)
    target_train: dict[str, object] = field(default_factory=dict)
    test: dict[str, object] = field(default_factory=dict)
    lexicons: dict[str, object] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        out = {}
        for part in ("intermediate", "target_train", "test", "lexicons"):
            for name, rows in getattr(self, part).items():
                out[f"{part}/{name}"] = len(rows)  # type: ignore[arg-type]
        return out


def write_folder(folder: Path, files: dict[str, object]) -> None:
    for name, content in sorted(files.items()):
        if name.endswith(".jsonl"):
            write_jsonl(folder / name, content)  # type: ignore[arg-type]
        else:
            write_json(folder / name, content)
    write_json(folder / "sizes.json", {name: len(rows) for name, rows in files.items()})  # type: ignore[arg-type]


def _cap_same_ids(per_lang: dict[str, list[dict]], n: int | None, seed: int) -> dict[str, list[dict]]:
    """Cap the English test questions, then keep exactly those ids in every language (paired comparisons)."""
    kept = {ex["id"] for ex in split.cap(per_lang["en"], n, seed)}
    return {lang: [ex for ex in examples if ex["id"] in kept] for lang, examples in per_lang.items()}


def prepare_offline(
    *,
    xquad_dir: Path,
    tatoeba_dir: Path,
    xquad_languages: Sequence[str],
    tatoeba_languages: Sequence[str],
    lexicon_languages: Sequence[str],
    n_test_articles: int,
    n_intermediate_articles: int,
    split_seed: int,
    max_intermediate_examples: int | None,
    max_target_train_examples: int | None,
    max_test_examples: int | None,
    max_tatoeba_pairs: int | None,
) -> Prepared:
    from stages.xlt.perturbations.lexicon import build_lexicon

    per_lang = squad.read_xquad(xquad_dir, list(xquad_languages))
    articles = split.split_articles(
        split.article_ids(per_lang["en"]),
        n_test=n_test_articles,
        n_intermediate=n_intermediate_articles,
        seed=split_seed,
    )
    out = Prepared()
    english_intermediate = split.select(per_lang["en"], articles, "intermediate")
    if english_intermediate:
        out.intermediate = {
            "squad.jsonl": split.cap(english_intermediate, max_intermediate_examples, split_seed),
            "qnli.jsonl": split.cap(derived.qnli_from_squad(english_intermediate, split_seed),
                                    max_intermediate_examples, split_seed),
            "sentence_choice.jsonl": split.cap(
                derived.sentence_choice_from_squad(english_intermediate, SENTENCE_CHOICES, split_seed),
                max_intermediate_examples, split_seed),
        }
    out.target_train = {
        "qa.en.jsonl": split.cap(split.select(per_lang["en"], articles, "target_train"),
                                 max_target_train_examples, split_seed)
    }
    test = _cap_same_ids(split.select_all_languages(per_lang, articles, "test"), max_test_examples, split_seed)
    out.test = {f"xquad.{lang}.jsonl": examples for lang, examples in test.items()}
    out.test["split.json"] = articles.to_dict()
    for lang in tatoeba_languages:
        out.test[f"tatoeba.{lang}.jsonl"] = split.cap(tatoeba.read_tatoeba(tatoeba_dir, lang), max_tatoeba_pairs,
                                                       split_seed)
    for lang in lexicon_languages:
        # All pairs, not the capped retrieval test set: the lexicon's quality grows with its parallel data.
        pairs = tatoeba.read_tatoeba(tatoeba_dir, lang)
        out.lexicons[f"{lang}-en.json"] = build_lexicon([p["source"] for p in pairs], [p["target"] for p in pairs],
                                                        source_lang=lang, target_lang="en")
    return out


def replace_with_hub_tasks(prepared: Prepared) -> Prepared:
    """The paper profile: intermediate tasks and the English QA training set come from the Hub."""
    from stages.xlt.data.hub_tasks import load_hub_task
    from stages.xlt.params import HUB_INTERMEDIATE_TASKS
    from stages.xlt.tasks.registry import get_task

    def train_split(task: str) -> list[dict]:
        return load_hub_task(task, get_task(task, "paper").splits["train"])  # e.g. ANLI's three rounds

    prepared.intermediate = {f"{task}.jsonl": train_split(task) for task in HUB_INTERMEDIATE_TASKS}
    prepared.target_train = {"qa.en.jsonl": train_split("squad")}
    return prepared

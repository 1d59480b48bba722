"""MLQA v1.0 dev set (SQuAD v1.1 format): same-language QA, G-XLT pairs, and a split by English article.

Files: ``<folder>/dev-context-<c>-question-<q>.json`` for c, q in en de es ar hi vi zh (``folder`` is
``MLQA_V1/dev``); ``c = q`` is same-language QA, ``c != q`` G-XLT (question in q, paragraph in c).

How the files relate (checked on the mirror, and re-checked by ``read_mlqa`` on every read):

* A question id names one question in every file that has it. MLQA is not fully parallel: each question exists
  in English and in 1-3 other languages (of the 1,148 English dev questions, 65 are in 2 languages, 263 in 3, 820
  in 4), so no id is in all 7 languages; every non-English id is also an English id.
* ``dev-context-<xx>-question-en`` has exactly the ids of ``dev-context-<xx>-question-<xx>``, with the same
  paragraphs and answers and the English file's question for that id (``context-en-question-<xx>`` likewise has
  the English paragraph and the xx question).
* Articles are aligned one to one: every article of a language's file holds ids of exactly one English article
  (the same Wikipedia article in another language). Paragraphs are not: a paragraph in one language can hold
  questions whose English paragraphs differ (mirror: 3-14 such paragraphs per language), so the English
  paragraph would not keep one context's questions together.

So the unit of independence is the English article: ``article`` of every MLQA example is the English article key
(its title; 520 in the English dev file), non-English examples keep their own title as ``native_article``, and
``cluster`` is ``mlqa:<English title>``, the same for all translations of a question. Example format: the QA
format of ``squad.read_squad`` (``id``, ``article``, ``lang``, ``context``, ``question``, ``answers``, ``cluster``);
G-XLT examples have ``lang`` = the paragraph's language and ``question_lang = "en"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from stages.xlt.data import split as article_split
from stages.xlt.data.groups import cap_groups, same_ids_as
from stages.xlt.data.squad import read_squad

Align = Literal["english", "intersection"]


def mlqa_path(folder: str | Path, context: str, question: str) -> Path:
    return Path(folder) / f"dev-context-{context}-question-{question}.json"


def mlqa_cluster(english_article: str) -> str:
    return f"mlqa:{english_article}"


@dataclass
class MLQA:
    """English examples, each requested language's own examples, and its G-XLT (English question) examples."""

    english: list[dict]
    native: dict[str, list[dict]] = field(default_factory=dict)
    gxlt: dict[str, list[dict]] = field(default_factory=dict)


def _english_article_of_native(native: list[dict], english_article: dict[str, str], path: Path) -> dict[str, str]:
    """Native article title -> the one English article its questions belong to."""
    targets: dict[str, set[str]] = {}
    for example in native:
        if example["id"] not in english_article:
            raise ValueError(f"{path}: question {example['id']!r} is not in the English file; MLQA ids must be "
                             "shared with dev-context-en-question-en.json")
        targets.setdefault(example["article"], set()).add(english_article[example["id"]])
    for title, english in targets.items():
        if len(english) != 1:
            raise ValueError(f"{path}: article {title!r} holds questions of {len(english)} English articles "
                             f"({sorted(english)[:3]}); MLQA articles must align one to one")
    return {title: english.pop() for title, english in targets.items()}


def _relabel(examples: list[dict], english_article: dict[str, str], native_to_english: dict[str, str]) -> None:
    for example in examples:
        article = english_article[example["id"]]
        if native_to_english.get(example["article"]) != article:
            raise ValueError(f"question {example['id']!r} ({example['lang']}) is in article {example['article']!r}, "
                             f"which is not the translation of its English article {article!r}")
        example["native_article"] = example["article"]
        example["article"] = article
        example["cluster"] = mlqa_cluster(article)


def _check_gxlt(gxlt: list[dict], native: list[dict], english: dict[str, dict], path: Path) -> None:
    by_id = {e["id"]: e for e in native}
    if sorted(by_id) != sorted(e["id"] for e in gxlt):
        raise ValueError(f"{path}: its question ids are not those of the same-language file")
    for example in gxlt:
        own = by_id[example["id"]]
        if example["context"] != own["context"] or example["answers"] != own["answers"]:
            raise ValueError(f"{path}: question {example['id']!r} has another paragraph or answer than in the "
                             "same-language file")
        if example["question"] != english[example["id"]]["question"]:
            raise ValueError(f"{path}: question {example['id']!r} is not the English file's question")


def read_mlqa(folder: str | Path, languages: Sequence[str], *, gxlt: bool = True) -> MLQA:
    """Read English (always) and each language's same-language file, plus with ``gxlt`` its
    ``context=<lang>, question=en`` file; check the id/article relations of the module docstring."""
    en_path = mlqa_path(folder, "en", "en")
    english = read_squad(en_path, "en", article_keys="title")
    english_article = {e["id"]: e["article"] for e in english}
    if len(english_article) != len(english):
        raise ValueError(f"{en_path}: duplicate question ids")
    for example in english:
        example["cluster"] = mlqa_cluster(example["article"])
    data = MLQA(english=english)
    english_by_id = {e["id"]: e for e in english}
    for lang in dict.fromkeys(languages):
        if lang == "en":
            data.native["en"] = english
            continue
        path = mlqa_path(folder, lang, lang)
        native = read_squad(path, lang, article_keys="title")
        native_to_english = _english_article_of_native(native, english_article, path)
        _relabel(native, english_article, native_to_english)
        data.native[lang] = native
        if gxlt:
            gxlt_path = mlqa_path(folder, lang, "en")
            cross = read_squad(gxlt_path, lang, article_keys="title")
            _check_gxlt(cross, native, english_by_id, gxlt_path)
            _relabel(cross, english_article, native_to_english)
            for example in cross:
                example["question_lang"] = "en"
            data.gxlt[lang] = cross
    return data


def _aligned(test_en: list[dict], data, languages: Sequence[str], align: Align) -> list[dict]:
    """The English test questions a language set is evaluated on (``align``: see ``prepare_mlqa``)."""
    if align != "intersection":
        return test_en
    common = set.intersection(*({e["id"] for e in data.native[lang]} for lang in languages))
    test_en = [e for e in test_en if e["id"] in common]
    if not test_en:
        raise ValueError(f"no MLQA test question is in all of {list(languages)}; each question exists in "
                         "English and 1-3 other languages: evaluate fewer languages or use align='english'")
    return test_en


def prepare_mlqa(
    folder: str | Path,
    languages: Sequence[str],
    *,
    seed: int,
    n_test_articles: int,
    max_test: int | None = None,
    max_train: int | None = None,
    align: Align = "english",
    gxlt: bool = True,
) -> dict:
    """Split MLQA by English article into ``test`` (evaluation only) and ``train`` (English QA training data).

    ``n_test_articles`` of the English articles (seeded, ``split.split_articles``) are the test articles; every
    question of them, in any language, is a test question, and only English questions of the other articles are
    ``train`` (capped to ``max_train`` questions by whole articles). ``max_test`` caps the English test questions
    by whole articles; each language keeps its questions with those ids, listed in the English file's order.

    ``align="english"``: each language is evaluated on all of its own test questions; their ids are a subset of
    the English test ids (paired comparisons with English are by id). ``align="intersection"``: only ids present
    in every language of ``languages`` (as XQuAD); raises if none are (no MLQA id is in more than 4 languages).

    Returns ``{"train": [en], "test": {lang: [...]}, "gxlt": {lang: [...]}, "split": {...}}``; ``gxlt[lang]``
    (for each non-English language, with ``gxlt``) has exactly the ids of ``test[lang]``, English questions and
    ``lang`` paragraphs.
    """
    if not languages:
        raise ValueError("no evaluation languages given")
    if align not in ("english", "intersection"):
        raise ValueError(f"align must be 'english' or 'intersection', got {align!r}")
    data = read_mlqa(folder, languages, gxlt=gxlt)
    english = data.english
    articles = article_split.split_articles(article_split.article_ids(english), n_test=n_test_articles,
                                            n_intermediate=0, seed=seed)
    train = cap_groups(article_split.select(english, articles, "target_train"), max_train, seed)
    test_en = cap_groups(_aligned(article_split.select(english, articles, "test"), data, languages, align),
                         max_test, seed)
    position = {e["id"]: i for i, e in enumerate(english)}

    def english_order(per_lang: dict[str, list[dict]]) -> dict[str, list[dict]]:
        return {lang: sorted(rows, key=lambda e: position[e["id"]]) for lang, rows in per_lang.items()}

    test = english_order(same_ids_as(test_en, {lang: data.native[lang] for lang in languages}))
    cross = english_order(same_ids_as(test_en, data.gxlt))
    record = {
        "task": "mlqa",
        "seed": seed,
        "unit": "English article (title in dev-context-en-question-en.json)",
        "align": align,
        "n_articles": len(articles.test) + len(articles.target_train),
        "test": list(articles.test),
        "train": list(articles.target_train),
        "questions": {"train": len(train), "test": {lang: len(rows) for lang, rows in test.items()},
                      "gxlt": {lang: len(rows) for lang, rows in cross.items()}},
        "caps": {"max_test": max_test, "max_train": max_train},
    }
    return {"train": train, "test": test, "gxlt": cross, "split": record}

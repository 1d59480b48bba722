"""Seeded, article-level splits of a QA corpus, and deterministic caps.

Three disjoint groups of articles: ``test`` (the zero-shot test set, all languages, same question ids),
``intermediate`` (the only source of English intermediate-task data, derived tasks included) and
``target_train`` (English target-task QA training data). Splitting by article keeps paragraphs (and
near-duplicate questions) of one article from landing on both sides.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Part = Literal["test", "intermediate", "target_train"]
PARTS: tuple[Part, ...] = ("test", "intermediate", "target_train")


@dataclass(frozen=True)
class ArticleSplit:
    test: tuple[str, ...]
    intermediate: tuple[str, ...]
    target_train: tuple[str, ...]

    def part(self, name: Part) -> tuple[str, ...]:
        if name not in PARTS:
            raise ValueError(f"unknown split part {name!r}; choose one of {PARTS}")
        return getattr(self, name)

    def to_dict(self) -> dict[str, list[str]]:
        return {name: list(self.part(name)) for name in PARTS}


def split_articles(article_ids: Iterable[str], *, n_test: int, n_intermediate: int, seed: int) -> ArticleSplit:
    """Shuffle the distinct article ids with ``seed`` and cut them into test / intermediate / target_train.

    The ids are sorted before shuffling, so the result depends only on the set of ids and the seed.
    ``target_train`` gets every article left over and must not be empty.
    """
    ids = sorted(set(article_ids))
    if n_test < 1 or n_intermediate < 0:
        raise ValueError(f"need n_test >= 1 and n_intermediate >= 0, got {n_test=} {n_intermediate=}")
    if n_test + n_intermediate >= len(ids):
        raise ValueError(
            f"{len(ids)} articles cannot give {n_test} test + {n_intermediate} intermediate articles and "
            "leave any for target_train; lower n_test or n_intermediate"
        )
    random.Random(seed).shuffle(ids)
    return ArticleSplit(
        test=tuple(sorted(ids[:n_test])),
        intermediate=tuple(sorted(ids[n_test : n_test + n_intermediate])),
        target_train=tuple(sorted(ids[n_test + n_intermediate :])),
    )


def article_ids(examples: Iterable[dict]) -> list[str]:
    """Distinct article keys in order of first appearance."""
    return list(dict.fromkeys(e["article"] for e in examples))


def select(examples: Iterable[dict], split: ArticleSplit, part: Part) -> list[dict]:
    """The examples whose article belongs to ``part`` of ``split`` (input order kept)."""
    wanted = set(split.part(part))
    return [e for e in examples if e["article"] in wanted]


def select_all_languages(per_lang: dict[str, list[dict]], split: ArticleSplit, part: Part) -> dict[str, list[dict]]:
    """``select`` applied per language; checks every language ends up with the same question ids."""
    chosen = {lang: select(examples, split, part) for lang, examples in per_lang.items()}
    id_sets = {lang: [e["id"] for e in examples] for lang, examples in chosen.items()}
    reference = next(iter(id_sets.values()), [])
    for lang, ids in id_sets.items():
        if sorted(ids) != sorted(reference):
            raise ValueError(f"language {lang!r} has different question ids in split part {part!r}")
    return chosen


def unit_key(example: dict, index: int) -> tuple:
    """What ``cap`` keeps together: the example's ``cluster`` if it has one (an XQuAD paragraph, an XNLI premise
    block, a PAWS-X sentence group, an MLQA article; see ``groups``); else a QA paragraph (article + context); the
    pairs of one question (sentence pairs with the same ``text_a``, e.g. a derived QNLI positive and its negative);
    otherwise the example."""
    if "cluster" in example:
        return ("cluster", example["cluster"])
    if "article" in example and "context" in example:
        return ("paragraph", example["article"], example["context"])
    if "text_a" in example:
        return ("pair", example["text_a"])
    return ("single", index)


def _units(examples: Sequence[dict]) -> list[list[int]]:
    """Indices of the examples grouped by ``unit_key``, in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, example in enumerate(examples):
        groups.setdefault(unit_key(example, i), []).append(i)
    return list(groups.values())


def cap(examples: Sequence[dict], n: int | None, seed: int) -> list[dict]:
    """At most ``n`` examples, chosen by whole units (``unit_key``: paragraphs for QA) in a seeded random order.

    Units are taken whole while they fit; the last slots are filled with the first examples of the next
    unit, so the result has exactly ``min(n, len(examples))`` examples. Input order is kept.
    ``n=None`` keeps everything.
    """
    if n is None or n >= len(examples):
        return list(examples)
    if n < 0:
        raise ValueError(f"cap must be >= 0 or None, got {n}")
    paragraphs = _units(examples)
    random.Random(seed).shuffle(paragraphs)
    kept: list[int] = []
    for indices in paragraphs:
        room = n - len(kept)
        if room <= 0:
            break
        if len(indices) <= room:
            kept.extend(indices)
    if len(kept) < n:  # nothing whole fits any more: top up from the first paragraph not yet used
        used = set(kept)
        for indices in paragraphs:
            if indices[0] not in used:
                kept.extend(indices[: n - len(kept)])
                if len(kept) >= n:
                    break
    return [examples[i] for i in sorted(kept)]

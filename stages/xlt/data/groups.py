"""Groups of examples that are not independent of each other, and splits and caps that keep them whole.

A group (``example["cluster"]``) is the unit of independence: the resampling cluster in scoring and the unit of
splitting. Rows of one group share text (an XNLI premise, a PAWS-X sentence, an MLQA article), so a group on both
sides of a train/test split would leak; a cap that cut a group would change the clusters scoring resamples.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Sequence

from stages.xlt.data.split import ArticleSplit, split_articles


class UnionFind:
    """Disjoint sets over hashable keys (path halving, union by size)."""

    def __init__(self) -> None:
        self._parent: dict[Hashable, Hashable] = {}
        self._size: dict[Hashable, int] = {}

    def find(self, key: Hashable) -> Hashable:
        parent = self._parent
        if key not in parent:
            parent[key] = key
            self._size[key] = 1
            return key
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(self, a: Hashable, b: Hashable) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]


def connected_components(keys_of_item: Sequence[Iterable[Hashable]]) -> list[int]:
    """Component number of each item, where items sharing any key are connected (transitively).

    Components are numbered 0, 1, ... in order of their first item, so the numbering depends only on the input.
    An item without keys is a component of its own.
    """
    uf = UnionFind()
    for index, keys in enumerate(keys_of_item):
        node = ("item", index)
        uf.find(node)
        for key in keys:
            uf.union(node, ("key", key))
    numbers: dict[Hashable, int] = {}
    return [numbers.setdefault(uf.find(("item", i)), len(numbers)) for i in range(len(keys_of_item))]


def split_groups(group_of_item: Iterable[str], *, n_test: int, n_intermediate: int, seed: int) -> ArticleSplit:
    """Seeded split of the distinct groups into ``test`` / ``intermediate`` / ``target_train`` (the rest).

    Sizes count groups. Same rule as ``split.split_articles`` (which it is): the distinct ids are sorted, then
    shuffled with ``seed``, so the result depends only on the set of groups and the seed.
    """
    return split_articles(group_of_item, n_test=n_test, n_intermediate=n_intermediate, seed=seed)


def select_groups(examples: Iterable[dict], groups: Iterable[str], key: str = "cluster") -> list[dict]:
    """The examples whose ``key`` is one of ``groups`` (input order kept)."""
    wanted = set(groups)
    return [e for e in examples if e[key] in wanted]


def cap_groups(examples: Sequence[dict], n: int | None, seed: int, key: str = "cluster") -> list[dict]:
    """At most ``n`` examples made of whole groups (``example[key]``), taken in a seeded random order.

    Groups are visited in a shuffled order (sorted first, so only the set of groups and the seed matter); each
    group that still fits is taken whole, one that does not is skipped. Unlike ``split.cap`` nothing is topped
    up from a partial group, so the result can fall short of ``n`` by less than the largest group. Input order
    is kept; ``n=None`` keeps everything.
    """
    if n is None:
        return list(examples)
    if n < 0:
        raise ValueError(f"cap must be >= 0 or None, got {n}")
    sizes: dict[str, int] = {}
    for example in examples:
        sizes[example[key]] = sizes.get(example[key], 0) + 1
    if n >= len(examples):
        return list(examples)
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    kept: set[str] = set()
    room = n
    for group in order:
        if sizes[group] <= room:
            kept.add(group)
            room -= sizes[group]
            if room == 0:
                break
    return [e for e in examples if e[key] in kept]


def same_ids_as(reference: Iterable[dict], per_lang: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """Each language's examples whose id is among ``reference``'s ids (input order kept)."""
    ids = {e["id"] for e in reference}
    return {lang: [e for e in examples if e["id"] in ids] for lang, examples in per_lang.items()}

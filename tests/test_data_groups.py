import pytest

from stages.xlt.data.groups import (UnionFind, cap_groups, connected_components, same_ids_as, select_groups,
                                    split_groups)
from stages.xlt.data.split import PARTS, cap


def _rows(sizes):
    """Examples in groups g0, g1, ... of the given sizes, interleaved so groups are not contiguous."""
    rows = [{"id": f"r{g}-{i}", "cluster": f"g{g}"} for g, n in enumerate(sizes) for i in range(n)]
    return sorted(rows, key=lambda r: (int(r["id"].split("-")[1]), r["id"]))


def test_union_find_merges_transitively():
    uf = UnionFind()
    uf.union("a", "b")
    uf.union("c", "d")
    assert uf.find("a") == uf.find("b") != uf.find("c")
    uf.union("b", "d")
    assert len({uf.find(x) for x in "abcd"}) == 1
    assert uf.find("z") == "z"


def test_connected_components_link_items_sharing_any_key_and_number_by_first_item():
    items = [("s1", "s2"), ("s3", "s4"), ("s2", "s5"), ("s6", "s6"), ("s5", "s4"), ()]
    assert connected_components(items) == [0, 0, 0, 1, 0, 2]
    assert connected_components([("x", "y"), ("z", "w")]) == [0, 1]


def test_split_groups_is_disjoint_complete_and_seeded():
    groups = [f"g{i % 40}" for i in range(200)]
    a = split_groups(groups, n_test=10, n_intermediate=5, seed=1)
    parts = [set(a.part(p)) for p in PARTS]
    assert [len(p) for p in parts] == [10, 5, 25] and set().union(*parts) == set(groups)
    assert a == split_groups(list(reversed(groups)), n_test=10, n_intermediate=5, seed=1)
    assert a != split_groups(groups, n_test=10, n_intermediate=5, seed=2)
    with pytest.raises(ValueError):
        split_groups(groups, n_test=30, n_intermediate=10, seed=1)


@pytest.mark.parametrize("n", [0, 1, 5, 9, 10, 17, 30])
def test_cap_groups_keeps_whole_groups_and_input_order(n):
    rows = _rows([1, 7, 2, 3, 1, 4, 2])  # 20 rows
    kept = cap_groups(rows, n, seed=3)
    assert len(kept) <= n
    sizes = {}
    for r in rows:
        sizes[r["cluster"]] = sizes.get(r["cluster"], 0) + 1
    for group in {r["cluster"] for r in kept}:
        assert sum(r["cluster"] == group for r in kept) == sizes[group]
    assert kept == [r for r in rows if r in kept]
    if n >= len(rows):
        assert kept == rows
    # greedy: any group left out is larger than the room that remained
    room = n - len(kept)
    assert all(sizes[g] > room for g in set(sizes) - {r["cluster"] for r in kept})


def test_cap_groups_is_deterministic_and_differs_from_the_partial_top_up_of_split_cap():
    rows = _rows([3] * 10)
    assert cap_groups(rows, 10, seed=5) == cap_groups(list(rows), 10, seed=5)
    assert len(cap_groups(rows, 10, seed=5)) == 9  # three whole groups; no partial fourth
    assert len(cap(rows, 10, seed=5)) == 10  # split.cap tops up with part of a group
    assert {r["cluster"] for r in cap_groups(rows, 9, 0)} != {r["cluster"] for r in cap_groups(rows, 9, 1)}
    assert cap_groups(rows, None, 0) == rows
    with pytest.raises(ValueError):
        cap_groups(rows, -1, 0)


def test_select_and_same_ids():
    rows = _rows([2, 2, 2])
    assert {r["cluster"] for r in select_groups(rows, ["g1"])} == {"g1"}
    de = [dict(r, lang="de") for r in rows]
    out = same_ids_as(rows[:2], {"de": de})
    assert [r["id"] for r in out["de"]] == [r["id"] for r in rows[:2]]

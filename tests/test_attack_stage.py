"""The attack stage's selection rule and its params: candidates from a seeded order of all ids, seeds attacked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stages.attack import candidate_ids
from stages.params import ParamsError, validate

TINY = yaml.safe_load((Path(__file__).resolve().parents[1] / "stages" / "presets" / "tiny.yaml").read_text("utf-8"))


def test_candidates_are_a_seeded_prefix_of_all_ids_whatever_their_order():
    ids = [f"q{i}" for i in range(50)]
    first = candidate_ids(ids, 0, "xquad", "de", 10)
    assert first == candidate_ids(list(reversed(ids)), 0, "xquad", "de", 10)
    assert first != ids[:10]  # a shuffled order, not the file order
    assert candidate_ids(ids, 0, "xquad", "de", 20)[:10] == first  # more candidates extend the same list
    assert candidate_ids(ids, 0, "xquad", "zh", 10) != first and candidate_ids(ids, 1, "xquad", "de", 10) != first


def test_attack_seeds_default_to_all_and_cannot_exceed_the_study():
    params = validate(TINY)
    assert params.attack.attacked_seeds(params.seeds) == params.seeds
    one = validate({**TINY, "attack": {**TINY["attack"], "seeds": 1}})
    assert one.attack.attacked_seeds([3, 4]) == [3]
    with pytest.raises(ParamsError, match="attack.seeds"):
        validate({**TINY, "attack": {**TINY["attack"], "seeds": len(TINY["seeds"]) + 1}})
    with pytest.raises(ParamsError, match="max_queries"):
        validate({**TINY, "attack": {**TINY["attack"], "max_queries": 1}})

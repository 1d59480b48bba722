"""The paper profile's GPU-time estimate (tests/benchmarks/gpu_estimate.py) counts what the pipeline trains."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

from gpu_estimate import XLMR_LARGE, estimate, forward_flops_per_token, hours, report  # noqa: E402

from stages.params import validate  # noqa: E402

PRESETS = Path(__file__).resolve().parents[1] / "stages" / "presets"


def _preset(name: str):
    return validate(yaml.safe_load((PRESETS / f"{name}.yaml").read_text(encoding="utf-8")))


def test_flops_per_token_are_twice_the_matmul_parameters_plus_attention():
    h, f, n = XLMR_LARGE["hidden"], XLMR_LARGE["ffn"], XLMR_LARGE["layers"]
    matmul_params = n * (4 * h * h + 2 * h * f)  # QKV + output projections, FFN in and out (biases aside)
    assert forward_flops_per_token(0) == 2 * matmul_params
    assert forward_flops_per_token(256) - forward_flops_per_token(0) == n * 4 * 256 * h
    assert round(hours(989e12 * 3600 * 0.5, 0.5)) == 1


def test_the_paper_estimate_follows_the_presets_lengths():
    params = _preset("paper")
    rows = {row["stage"]: row for row in estimate(params)["rows"]}
    assert rows["intermediate@multi"]["flops"] > rows["intermediate@squad"]["flops"] > 0
    assert rows["transfer@none_long"]["steps"] > rows["transfer@none"]["steps"] == rows["transfer@multi"]["steps"]
    assert "intermediate@none" not in rows  # no intermediate task, no training
    assert rows["evaluate_perturbed@<arm>-<seed>"]["runs"] == len(params.intermediate.arms) * len(params.seeds)
    text = report(PRESETS / "paper.yaml", [0.35, 0.45], markdown=True)
    assert "| **total** |" in text and "multi" in text and "35%" in text


def test_offline_tasks_have_no_sizes_to_count():
    with pytest.raises(ValueError, match="paper profile"):
        estimate(_preset("small"))

"""End to end: the tiny profile through `dvc repro` in a temp git repo (one run per session, see conftest.py).

Checks that every declared output exists with a value per arm x language x condition, that DVC re-runs exactly
what a change invalidates (nothing on a second repro; only perturb -> evaluate -> score on a perturbation
knob), that `dvc metrics diff` sees the change, and that retraining one arm from the same params and seed
reproduces the metrics byte for byte.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import TYPOS_RATE_KEY, Derived, KnobRun, Run
from pipeline_support import dvc, read_params, stages_run

QA_TASK, QA_METRIC = "xquad", "f1"


def _params(run: Run) -> dict:
    return read_params(run.repo)


def _arms(params: dict) -> list[str]:
    return list(params["intermediate"]["arms"])


def _run_names(params: dict) -> list[str]:
    return [f"{arm}-{seed}" for arm in _arms(params) for seed in params["seeds"]]


def _expected_stages(params: dict) -> set[str]:
    per_run = {f"{stage}@{run}" for stage in ("intermediate", "transfer", "evaluate", "attack")
               for run in _run_names(params)}
    return {"download", "encoder", "perturb", "score"} | per_run


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_first_repro_ran_every_stage_once(tiny_run: Run) -> None:
    ran = stages_run(tiny_run.repro)
    assert sorted(ran) == sorted(_expected_stages(_params(tiny_run))), tiny_run.repro.stdout[-3000:]
    print(f"tiny dvc repro took {tiny_run.seconds:.0f}s")


def test_dvc_lock_lists_every_stage(tiny_run: Run) -> None:
    lock = yaml.safe_load((tiny_run.repo / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == _expected_stages(_params(tiny_run))


def test_headline_has_every_arm_and_condition(tiny_run: Run) -> None:
    params = _params(tiny_run)
    headline = json.loads((tiny_run.repo / "metrics" / "headline.json").read_text(encoding="utf-8"))
    conditions = list(params["perturb"]["conditions"])
    missing = []
    for arm in _arms(params):
        missing += [k for k in [f"{QA_TASK}.{QA_METRIC}.{arm}.clean"] if not _is_number(headline.get(k))]
        for cond in conditions:
            for key in (f"{QA_TASK}.{QA_METRIC}.{arm}.{cond}", f"{QA_TASK}.{QA_METRIC}.{arm}.{cond}.drop"):
                if not _is_number(headline.get(key)):
                    missing.append(key)
    for a, b in params["score"]["comparisons"]:
        for cond in conditions:
            for field in ("delta", "ci_low", "ci_high", "p_value"):
                key = f"{QA_TASK}.{QA_METRIC}.{a}_vs_{b}.{cond}.{field}"
                if not _is_number(headline.get(key)):
                    missing.append(key)
    assert not missing, f"metrics/headline.json lacks numbers for {missing}"


def test_detailed_has_a_value_per_arm_language_condition(tiny_run: Run) -> None:
    params = _params(tiny_run)
    detailed = json.loads((tiny_run.repo / "metrics" / "detailed.json").read_text(encoding="utf-8"))
    cells = detailed["arms"][QA_TASK][QA_METRIC]
    missing = []
    for arm in _arms(params):
        for cond in params["perturb"]["conditions"]:
            for lang in params["evaluate"]["languages"]:
                cell = cells.get(arm, {}).get(cond, {}).get(lang, {})
                # "clean" inside every perturbed cell: conditions = clean + perturb.conditions, paired by id
                for field in ("clean", "perturbed", "drop"):
                    if not _is_number(cell.get(field)):
                        missing.append(f"{arm}/{cond}/{lang}/{field}")
                if cell.get("n_examples") != params["download"]["max_test_examples"]:
                    missing.append(f"{arm}/{cond}/{lang}/n_examples={cell.get('n_examples')}")
    assert not missing, f"metrics/detailed.json lacks {missing}"


def test_report_figures_and_plot_data_exist(tiny_run: Run) -> None:
    repo = tiny_run.repo
    report = (repo / "metrics" / "report.md").read_text(encoding="utf-8")
    assert len(report) > 200
    figures = sorted((repo / "plots" / "figures").glob("*.png"))
    assert figures, "no PNG in plots/figures"
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    params = _params(tiny_run)
    for cond in params["perturb"]["conditions"]:
        assert any(cond in f.name for f in figures), f"no figure for condition {cond!r}"
    for name in ("drop", "delta", "strength"):
        lines = (repo / "plots" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        assert len(lines) > 1, f"plots/{name}.csv has no rows"


def test_second_repro_runs_nothing(tiny_run: Run) -> None:
    status = dvc(tiny_run.repo, "status", "--json", env=tiny_run.env)
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    again = dvc(tiny_run.repo, "repro", env=tiny_run.env)
    assert stages_run(again) == [], again.stdout
    assert "up to date" in (again.stdout + again.stderr).lower()


def test_perturbation_knob_reruns_only_perturb_evaluate_score(knob_run: KnobRun) -> None:
    params = read_params(knob_run.repo)
    ran = set(stages_run(knob_run.repro))
    expected = {"perturb", "score"} | {f"evaluate@{run}" for run in _run_names(params)}
    assert ran == expected, f"{TYPOS_RATE_KEY} re-ran {sorted(ran)}; expected {sorted(expected)}"
    print(f"perturbation-knob and retrain repros (side by side) took {knob_run.seconds:.0f}s")


def test_metrics_diff_reports_the_changed_typos_values(knob_run: KnobRun) -> None:
    diff = json.loads(knob_run.metrics_diff.stdout)["metrics/headline.json"]
    changed = {key for key, entry in diff.items() if entry.get("diff") not in (0, None)}
    typos_keys = {key for key in changed if ".typos" in key}
    assert typos_keys, f"dvc metrics diff shows no typos change: {sorted(changed)}"
    params = read_params(knob_run.repo)
    for arm in _arms(params):
        assert f"{QA_TASK}.{QA_METRIC}.{arm}.typos" in changed
    untouched = {key for key in changed if ".clean" in key}
    assert not untouched, f"clean scores changed although no model was retrained: {sorted(untouched)}"


def test_retraining_one_arm_reproduces_headline_bytes(derived_runs: Derived) -> None:
    """`dvc repro --force --downstream intermediate@multi-0`: same params, same seed, so the same bytes."""
    run = derived_runs.retrain
    ran = set(stages_run(run.repro))
    assert {"intermediate@multi-0", "transfer@multi-0", "evaluate@multi-0", "attack@multi-0", "score"} == ran, ran
    before, after = derived_runs.headline_before_retrain, (run.repo / "metrics" / "headline.json").read_bytes()
    if after != before:
        old, new = json.loads(before), json.loads(after)
        moved = {k: (old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}
        pytest.fail(f"retraining multi-0 from the same params and seed changed metrics/headline.json: {moved}")

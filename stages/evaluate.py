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
from stages.runtime import check_run, load_params, main_guard, offline_hub, run_parser


def main() -> None:
    args = run_parser(__doc__.splitlines()[0], part=True).parse_args()
    params = load_params()
    check_run(params, args.arm, args.seed)
    offline_hub()

    from tqdm import tqdm

    from stages.xlt.perturbations.knobs import CLEAN
    from stages.xlt.inference import predict, sentence_embeddings
    from stages.xlt.io import atomic_path, read_jsonl, write_jsonl
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import load_trained
    from stages.xlt.tasks import registry
    from stages.xlt.tasks.retrieval import retrieval_hits

    cfg, depth = params.evaluate, params.prefix_depth()
    clean_dir = layout.clean_predictions(args.arm, args.seed)
    out_dir = clean_dir if args.part == CLEAN else layout.perturbed_predictions(args.arm, args.seed)
    models: dict[str, object] = {}

    def model_for(target: str):
        model_task = registry.target(target).model
        if model_task not in models:
            delta = (layout.transfer_model(args.arm, args.seed, model_task) if model_task
                     else layout.intermediate_model(args.arm, args.seed))
            models.clear()  # one model in memory at a time
            models[model_task] = load_trained(layout.ENCODER, delta)
        return models[model_task], model_task

    def states(cond: str, target: str, lang: str, side: str = ""):
        return prefix.load(layout.test_prefix(cond, target, lang, side)) if depth else None

    jobs = [(cond, target, lang) for target, langs in cfg.targets.items()
            for cond in ([CLEAN] if args.part == CLEAN else params.conditions_for(target)) for lang in langs]
    with atomic_path(out_dir, is_dir=True) as tmp:
        for cond, target, lang in tqdm(jobs, desc=f"evaluate {args.part} {args.arm}-{args.seed}", unit="set"):
            spec = registry.target(target)
            model, model_task = model_for(target)
            examples = read_jsonl(conditions.inputs(cond, target, lang))
            changed = [ex for ex in examples if conditions.applied(ex)]
            clean = {} if cond == CLEAN else {row["id"]: row for row in read_jsonl(clean_dir / target / f"{lang}.jsonl")}
            path = tmp / (target if cond == CLEAN else f"{cond}/{target}") / f"{lang}.jsonl"
            if spec.family == "retrieval":
                def embed(sentences, store):
                    return sentence_embeddings(model, sentences, pooling=cfg.retrieval_pooling,
                                               layer=cfg.retrieval_layer, batch_size=cfg.batch_size,
                                               max_length=cfg.retrieval_max_length, prefix=store)

                originals = read_jsonl(layout.test_set(target, lang))
                english = embed([ex["target"] for ex in originals], states(CLEAN, target, lang, "en"))
                sources = embed([ex["source"] for ex in originals], states(CLEAN, target, lang))
                if cond != CLEAN:  # only the changed sentences are embedded anew
                    row_of = {ex["id"]: i for i, ex in enumerate(originals)}
                    new = embed([ex["source"] for ex in changed], states(cond, target, lang))
                    for ex, vector in zip(changed, new, strict=True):
                        sources[row_of[ex["id"]]] = vector
                hits = retrieval_hits(sources, english)
                write_jsonl(path, ({"id": ex["id"], "src2tgt": bool(hits["src2tgt"][i]),
                                    "tgt2src": bool(hits["tgt2src"][i])} for i, ex in enumerate(originals)))
                continue
            window = params.transfer.train_for(model_task)
            predicted = predict(model, model_task, changed, max_length=window.max_seq_length,
                                doc_stride=window.doc_stride, batch_size=cfg.batch_size,
                                prefix=states(cond, target, lang))
            write_jsonl(path, ({"id": ex["id"], "prediction": predicted[ex["id"]]} if ex["id"] in predicted
                               else clean[ex["id"]] for ex in examples))


if __name__ == "__main__":
    main_guard(main)

"""attack@<arm>-<seed>: a model-aware attack (greedy word-importance search) on one arm's QA model.

    python -m stages.attack --arm multi --seed 0

Reads params ``attack.*``, ``evaluate.languages``, ``evaluate.batch_size`` and the QA window settings.
Writes data/attacks/<arm>-<seed>/<lang>.jsonl: per attacked question its status (succeeded / failed /
skipped when the clean prediction already scores 0), words changed, model queries and the adversarial question.
Every arm attacks the same questions: the first ``max_examples`` test questions of each language, by id.
"""

from __future__ import annotations

from stages import layout
from stages.runtime import check_run, load_params, main_guard, offline_hub, run_parser


def main() -> None:
    args = run_parser(__doc__.splitlines()[0]).parse_args()
    params = load_params()
    check_run(params, args.arm, args.seed)
    offline_hub()

    from tqdm import tqdm

    from stages import conditions
    from stages.xlt.inference import load_qa_model, predict_qa
    from stages.xlt.io import atomic_path, read_json, read_jsonl, write_jsonl
    from stages.xlt.perturbations.attack import attack_qa
    from stages.xlt.scoring.metrics import f1

    cfg, window = params.attack, params.transfer.train
    out = layout.attacks(args.arm, args.seed)
    with atomic_path(out, is_dir=True) as tmp:
        if not cfg.enabled:
            return
        model, tokenizer = load_qa_model(layout.transfer_model(args.arm, args.seed))

        def predict(examples: list[dict]) -> list[str]:
            # The search sends several variants of one question at once: give each its own id.
            variants = [{**ex, "id": f"{ex['id']}#{k}"} for k, ex in enumerate(examples)]
            answers = predict_qa(model, tokenizer, variants, max_length=window.max_seq_length,
                                 doc_stride=window.doc_stride, batch_size=params.evaluate.batch_size)
            return [answers[ex["id"]] for ex in variants]

        for lang in tqdm(params.evaluate.languages, desc=f"attack {args.arm}-{args.seed}", unit="lang"):
            examples = sorted(read_jsonl(conditions.qa_path(conditions.CLEAN, lang)), key=lambda ex: ex["id"])
            lexicons = {}
            if cfg.transformation == "lexicon" and lang != "en":
                lexicons[(lang, "en")] = read_json(layout.LEXICONS / f"{lang}-en.json")
            results = attack_qa(examples[: cfg.max_examples], predict, f1, max_words=cfg.max_words, seed=cfg.seed,
                                transformation=cfg.transformation, lexicons=lexicons)
            write_jsonl(tmp / f"{lang}.jsonl", (
                {"id": r.example["id"], "lang": lang, "status": r.status, "success": r.success,
                 "words_changed": r.words_changed, "queries": r.queries, "original_f1": r.original_score,
                 "final_f1": r.final_score, "changed_words": r.changed_words, "question": r.example["question"]}
                for r in results))


if __name__ == "__main__":
    main_guard(main)

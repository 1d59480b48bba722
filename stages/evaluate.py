"""evaluate@<arm>-<seed>: zero-shot predictions of one trained arm on the clean and every perturbed test set.

    python -m stages.evaluate --arm multi --seed 0

Reads params ``evaluate.*`` and the QA window settings ``transfer.train.{max_seq_length, doc_stride}``.
Writes data/predictions/<arm>-<seed>/xquad/<condition>/<lang>.jsonl ({"id", "prediction"}) with the arm's QA
model, and .../tatoeba/<condition>/<lang>.jsonl (per-pair retrieval hits) with the arm's intermediate encoder
(Tatoeba has no training data: XTREME evaluates the encoder's sentence embeddings directly). One language at a
time is held in memory and written out.
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
    from transformers import AutoModel, AutoTokenizer

    from stages import conditions
    from stages.xlt.inference import load_qa_model, predict_qa
    from stages.xlt.io import atomic_path, read_jsonl, write_jsonl
    from stages.xlt.tasks.retrieval import embed, retrieval_hits

    cfg = params.evaluate
    window = params.transfer.train
    qa_model, qa_tokenizer = load_qa_model(layout.transfer_model(args.arm, args.seed))
    with atomic_path(layout.predictions(args.arm, args.seed), is_dir=True) as out:
        jobs = [(cond, lang) for cond in conditions.qa_conditions(params) for lang in cfg.languages]
        for cond, lang in tqdm(jobs, desc=f"evaluate {args.arm}-{args.seed} xquad", unit="set"):
            examples = read_jsonl(conditions.qa_path(cond, lang))
            predictions = predict_qa(qa_model, qa_tokenizer, examples, max_length=window.max_seq_length,
                                     doc_stride=window.doc_stride, batch_size=cfg.batch_size)
            write_jsonl(out / "xquad" / cond / f"{lang}.jsonl",
                        ({"id": ex["id"], "prediction": predictions[ex["id"]]} for ex in examples))
        del qa_model

        if not cfg.tatoeba_languages:
            return
        encoder_dir = layout.intermediate_model(args.arm, args.seed)
        # No pooler: retrieval mean-pools hidden states, and e5 ships no pooler weights to load.
        encoder = AutoModel.from_pretrained(encoder_dir, add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
        def vectors(sentences: list[str]):
            return embed(encoder, tokenizer, sentences, pooling=cfg.retrieval_pooling, layer=cfg.retrieval_layer,
                         batch_size=cfg.batch_size)

        for lang in tqdm(cfg.tatoeba_languages, desc=f"evaluate {args.arm}-{args.seed} tatoeba", unit="lang"):
            # Perturbations touch the non-English side only: embed the English side once per language.
            english = [p["target"] for p in read_jsonl(conditions.retrieval_path(conditions.CLEAN, lang))]
            targets = vectors(english)
            for cond in conditions.retrieval_conditions(params):
                pairs = read_jsonl(conditions.retrieval_path(cond, lang))
                if [p["target"] for p in pairs] != english:
                    raise ValueError(f"{conditions.retrieval_path(cond, lang)}: the English side differs from the "
                                     "clean set; re-run `dvc repro perturb`")
                hits = retrieval_hits(vectors([p["source"] for p in pairs]), targets)
                write_jsonl(out / "tatoeba" / cond / f"{lang}.jsonl", (
                    {"id": p["id"], "src2tgt": bool(hits["src2tgt"][i]), "tgt2src": bool(hits["tgt2src"][i])}
                    for i, p in enumerate(pairs)))


if __name__ == "__main__":
    main_guard(main)

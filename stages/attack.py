"""attack@<target>: a model-aware attack (greedy word-importance search) on every arm, on the same items.

    python -m stages.attack --target xquad

Reads params ``attack``, ``seeds`` (the first seed's models are attacked), ``intermediate.arms``,
``evaluate.targets``, ``evaluate.batch_size`` and the window settings. Writes data/attacks/<target>/<lang>.jsonl: for
every arm and attacked item its status (succeeded / failed / skipped), words changed, model queries, clean score and
the adversarial input. The items are the same for every arm: those that EVERY arm gets right on the clean input
(QA F1 >= ``attack.eligibility``; classification: the gold label), read from the arms' clean predictions, in a seeded
order, the first ``attack.max_examples`` per language. One stage for all arms, so that (1) the shared items can be
chosen and (2) the bottom states of the many variants every arm queries (the question with a word deleted, the same
typo) are computed once; adding an arm re-runs the attack for all arms.
"""

from __future__ import annotations

import argparse
import random

from stages import layout
from stages.runtime import load_params, main_guard, offline_hub
from stages.xlt.io import atomic_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="an evaluated target (attacked if in attack.targets)")
    args = parser.parse_args()
    params = load_params()
    offline_hub()
    cfg = params.attack
    if args.target not in params.evaluate.targets:
        raise SystemExit(f"error: {args.target!r} is not in params.yaml evaluate.targets")
    if args.target not in params.attack_targets():
        with atomic_path(layout.ATTACKS / args.target, is_dir=True):
            pass  # an empty output: this target is evaluated but not attacked
        print(f"note: {args.target} is not attacked (attack.targets {cfg.targets}, attack.enabled {cfg.enabled})")
        return

    from tqdm import tqdm

    from stages.xlt.inference import predict
    from stages.xlt.io import read_json, read_jsonl, write_jsonl
    from stages.xlt.modeling.multitask import load_base, load_trained
    from stages.xlt.modeling.prefix import BottomCache
    from stages.xlt.perturbations.attack import attack_classification, attack_qa
    from stages.xlt.scoring.metrics import f1
    from stages.xlt.tasks import registry

    spec = registry.target(args.target)
    seed, arms = params.seeds[0], list(params.intermediate.arms)
    window = params.transfer.train_for(spec.model)
    depth = params.prefix_depth()
    lexicons = {}
    if cfg.transformation == "lexicon":
        lexicons = {(p.name.split("-")[0], "en"): read_json(p) for p in layout.LEXICONS.glob("*-en.json")}
    base, tokenizer = load_base(layout.ENCODER) if depth else (None, None)

    def clean_score(example: dict, prediction) -> float:
        if spec.family == "qa":
            return f1(prediction, example["answers"]["text"], example["lang"])
        return float(int(prediction) == int(example["label"]))

    with atomic_path(layout.ATTACKS / args.target, is_dir=True) as out:
        if not cfg.enabled:
            return
        for lang in tqdm(params.evaluate.targets[args.target], desc=f"attack {args.target}", unit="lang"):
            examples = {ex["id"]: ex for ex in read_jsonl(layout.test_set(args.target, lang))}
            clean = {arm: {row["id"]: row["prediction"] for row in
                           read_jsonl(layout.clean_predictions(arm, seed) / args.target / f"{lang}.jsonl")}
                     for arm in arms}
            eligible = sorted(i for i, ex in examples.items()
                              if all(clean_score(ex, clean[arm][i]) >= cfg.eligibility for arm in arms))
            random.Random(f"{cfg.seed}/{args.target}/{lang}").shuffle(eligible)
            chosen = [examples[i] for i in eligible[: cfg.max_examples]]
            cache = BottomCache(base, depth, pad_token_id=tokenizer.pad_token_id) if depth else None
            records = []
            for arm in arms:
                model = load_trained(layout.ENCODER, layout.transfer_model(arm, seed, spec.model))

                def query(batch: list[dict], probabilities: bool = False) -> list:
                    # The search sends several variants of one item at once: give each its own id.
                    variants = [{**ex, "id": f"{ex['id']}#{k}"} for k, ex in enumerate(batch)]
                    answers = predict(model, spec.model, variants, max_length=window.max_seq_length,
                                      doc_stride=window.doc_stride, batch_size=params.evaluate.batch_size,
                                      prefix=cache, probabilities=probabilities)
                    return [answers[ex["id"]] for ex in variants]

                if spec.family == "qa":
                    results = attack_qa(chosen, query, f1, max_words=cfg.max_words, seed=cfg.seed,
                                        transformation=cfg.transformation, lexicons=lexicons,
                                        min_clean_score=cfg.eligibility, clean_predictions=clean[arm])
                else:
                    results = attack_classification(
                        chosen, lambda batch: query(batch, probabilities=True), seed=cfg.seed, task=args.target,
                        max_words=cfg.max_words, transformation=cfg.transformation, lexicons=lexicons)
                for r in results:
                    item = examples[r.example["id"]]
                    records.append({"id": item["id"], "cluster": item.get("cluster", item["id"]), "lang": lang,
                                    "arm": arm, "seed": seed, "status": r.status, "success": r.success,
                                    "words_changed": r.words_changed, "queries": r.queries,
                                    "clean_score": clean_score(item, clean[arm][item["id"]]),
                                    "changed_words": r.changed_words,
                                    "adversarial": {k: r.example[k] for k in ("question", "text_a", "text_b")
                                                    if k in r.example}})
            if cache is not None:
                print(f"attack {args.target}/{lang}: {cache.computed} bottom states computed, "
                      f"{cache.reused} reused across queries and arms")
            write_jsonl(out / f"{lang}.jsonl", records)


if __name__ == "__main__":
    main_guard(main)

"""attack@<target>: a model-aware attack (greedy word-importance search) on every seed of every arm.

    python -m stages.attack --target xquad

Reads params ``attack``, ``seeds`` (the first ``attack.seeds`` of them, all by default), ``intermediate.arms``,
``evaluate.targets``, ``evaluate.batch_size`` and the window settings. Writes data/attacks/<target>/<lang>.jsonl: one
record per model (arm, seed) and candidate item: its status (succeeded / failed / skipped, TextAttack's terms),
words changed, words in the attacked text, model queries, the goal score (QA: the probability of the clean answer
span; classification: of the gold label) and the task metric (F1 / accuracy) before and after, the edits, the clean
and adversarial texts, and what the language's typo model rests on (``poolable``: False where no word list can
reject real-word edits, so scoring reports that language apart).

Selection, one rule for every arm: the candidates of a language are the first ``attack.max_examples`` of a seeded
order of ALL its test ids (the same list for every arm and seed). Each model attacks the candidates it gets right on
its STORED clean predictions (QA F1 >= ``attack.eligibility``; classification: the gold label) and skips the others
without a query, as TextAttack counts skipped examples. An arm's attacked items therefore depend on its own
predictions only; adding an arm adds its records and changes no other arm's. Comparisons use the items both arms
attacked (scoring). The attack recomputes each eligible item's clean prediction and stops with an error if it differs
from the stored one.

One stage for all arms and seeds, item by item, so that the bottom states of the variants every model queries (the
question with a word deleted, the same typo: typos are seeded by item and word, not by model) are computed once and
dropped when the item is done.
"""

from __future__ import annotations

import argparse
import random
import time

from stages import layout
from stages.runtime import load_params, main_guard, offline_hub
from stages.xlt.io import atomic_path, write_json
from stages.xlt.scoring.finite import finite_or_none


def candidate_ids(ids, seed: int, target: str, lang: str, n: int) -> list[str]:
    """The first ``n`` of a seeded order of all ``ids`` (sorted first, so the order does not depend on file order)."""
    order = sorted(ids)
    random.Random(f"{seed}/{target}/{lang}").shuffle(order)
    return order[:n]


def _skip(target: str, note: str) -> None:
    with atomic_path(layout.ATTACKS / target, is_dir=True) as out:
        write_json(out / "not_attacked.json", {"note": note})  # no <lang>.jsonl: nothing to score
    print(f"note: {note}")


def _record(item: dict, lang: str, key: tuple[str, int], result, stored_prediction, final_prediction,
            fields: tuple[str, ...], card: dict) -> dict:
    """One attack record: the model (arm, seed), the item's outcome, and the clean and adversarial texts."""
    return {
        "id": item["id"], "cluster": item.get("cluster", item["id"]), "lang": lang, "arm": key[0], "seed": key[1],
        "status": result.status, "success": result.success, "words_changed": result.words_changed,
        "n_words": result.n_words, "queries": result.queries, "budget_exhausted": result.budget_exhausted,
        "clean_score": finite_or_none(result.clean_score), "final_score": finite_or_none(result.final_score),
        "clean_metric": result.clean_metric, "final_metric": result.final_metric,
        "clean_prediction": stored_prediction, "final_prediction": final_prediction,
        "reason": result.example["perturbation"].get("reason"), "edits": result.edits,
        "clean": {f: item[f] for f in fields}, "adversarial": {f: result.example[f] for f in fields},
        "poolable": card["poolable"], "separate_because": card.get("separate_because")}


def _settings(cfg):
    from stages.xlt.attack_queries import AttackSettings
    from stages.xlt.io import read_json

    lexicons = {}
    if cfg.transformation == "lexicon":
        lexicons = {pair: read_json(path) for pair, path in layout.lexicons().items()}
    return AttackSettings(max_words=cfg.max_words, seed=cfg.seed, transformation=cfg.transformation,
                          lexicons=lexicons, max_queries=cfg.max_queries, candidates_per_word=cfg.candidates_per_word,
                          eligibility=cfg.eligibility)


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
        _skip(args.target, f"{args.target} is not attacked (attack.targets {cfg.targets}, attack.enabled "
                           f"{cfg.enabled})")
        return

    from tqdm import tqdm

    from stages.xlt.io import read_jsonl, write_jsonl
    from stages.xlt.modeling.multitask import load_base, load_trained
    from stages.xlt.modeling.prefix import BottomCache
    from stages.xlt.perturbations.attack_typos import typo_model
    from stages.xlt.perturbations.knobs import CLEAN
    from stages.inference_params import window
    from stages.xlt import attack_queries
    from stages.xlt.attack_queries import Victim
    from stages.xlt.tasks import registry

    spec = registry.target(args.target)
    attack = attack_queries.for_family(spec.family)
    models_of = [(arm, seed) for arm in params.intermediate.arms for seed in cfg.attacked_seeds(params.seeds)]
    depth = params.prefix_depth()
    settings = _settings(cfg)
    base, tokenizer = load_base(layout.ENCODER) if depth else (None, None)
    cut = window(params, spec.model)

    with atomic_path(layout.ATTACKS / args.target, is_dir=True) as out:
        models = {key: load_trained(layout.ENCODER, layout.transfer_model(*key, spec.model)) for key in models_of}
        for lang in params.evaluate.targets[args.target]:
            examples = {ex["id"]: ex for ex in read_jsonl(layout.test_set(args.target, lang))}
            stored = {key: {row["id"]: row["prediction"] for row in read_jsonl(
                layout.predictions(*key, CLEAN, args.target, lang))} for key in models_of}
            chosen = candidate_ids(examples, cfg.seed, args.target, lang, cfg.max_examples)
            card = typo_model(lang).card() if cfg.transformation == "typo" else {"poolable": True}
            cache = BottomCache(base, depth, pad_token_id=tokenizer.pad_token_id) if depth else None
            records, queries, started = [], 0, time.perf_counter()
            for item_id in tqdm(chosen, desc=f"attack {args.target}/{lang}", unit="item"):
                item = examples[item_id]
                for key in models_of:
                    victim = Victim(models[key], spec.model, cut, params.evaluate.batch_size, cache)
                    result, final_prediction = attack(victim, item, stored[key][item_id], settings, args.target)
                    queries += result.queries
                    records.append(_record(item, lang, key, result, stored[key][item_id], final_prediction,
                                           spec.protocol.attack_fields, card))
                if cache is not None:
                    cache.clear()  # no later item queries this item's variants
            seconds = time.perf_counter() - started
            attacked = sum(r["status"] != "skipped" for r in records)
            print(f"attack {args.target}/{lang}: {len(chosen)} candidates x {len(models_of)} models, {attacked} "
                  f"attacked, {queries} queries in {seconds:.1f} s ({seconds / max(attacked, 1):.2f} s per attacked "
                  f"item, {1000 * seconds / max(queries, 1):.1f} ms per query)")
            write_jsonl(out / f"{lang}.jsonl", records)


if __name__ == "__main__":
    main_guard(main)

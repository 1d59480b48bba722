"""What the model-aware attack costs per attacked item and per query, on a trained small-profile model.

    XLT_BENCH_RUN=/path/to/a/small/run python -m pytest -m benchmark tests/benchmarks/test_bench_attack_cost.py -s

``XLT_BENCH_RUN`` is a repository whose small-profile run has reached the transfer stage (``data/encoder``,
``data/transfer/<arm>-<seed>/``, ``data/prepared/test``); default: this repository. For each target (XQuAD, XNLI)
and language (de, hi, zh) the first ``XLT_BENCH_ATTACK_ITEMS`` (default 12) candidates of the stage's seeded order
are predicted clean (standing in for the stored predictions), and the attack runs as the stage runs it (the
params' word and query budgets, a bottom-state cache dropped after each item). Prints a table and writes
.notes/bench_attack_cost.json with the machine's matmul speed and load: wall times scale with them; the process CPU
seconds (both threads added up) are what a busy, shared machine can still measure.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench_support import REPO, machine, table, write_result

pytestmark = pytest.mark.benchmark
LANGUAGES = ("de", "hi", "zh")


def _run_dir() -> Path:
    run = Path(os.environ.get("XLT_BENCH_RUN", REPO))
    if not any((run / "data" / "transfer").glob("*/qa")):
        pytest.skip(f"{run} has no trained transfer model (data/transfer/<arm>-<seed>/qa): set XLT_BENCH_RUN")
    return run


def test_attack_cost_per_item_and_query():
    import torch

    from stages.attack import candidate_ids
    from stages.params import load
    from stages.xlt.inference import predict, predict_spans
    from stages.xlt.io import read_jsonl
    from stages.xlt.modeling.multitask import load_base, load_trained
    from stages.xlt.modeling.prefix import BottomCache
    from stages.xlt.perturbations.attack import attack_classification, attack_qa
    from stages.xlt.scoring.metrics import f1
    from stages.xlt.tasks import registry

    torch.set_num_threads(2)
    run = _run_dir()
    params = load(run / "params.yaml")
    cfg, n_items = params.attack, int(os.environ.get("XLT_BENCH_ATTACK_ITEMS", "12"))
    model_dir = sorted((run / "data" / "transfer").glob("*/qa"))[0].parent
    base, tokenizer = load_base(run / "data" / "encoder")
    depth = params.prefix_depth()
    rows = []
    for target in ("xquad", "xnli"):
        spec = registry.target(target)
        model = load_trained(run / "data" / "encoder", model_dir / spec.model)
        window = params.transfer.train_for(spec.model)
        common = dict(max_length=window.max_seq_length, doc_stride=window.doc_stride,
                      batch_size=params.evaluate.batch_size)
        settings = dict(max_words=cfg.max_words, seed=cfg.seed, max_queries=cfg.max_queries,
                        candidates_per_word=cfg.candidates_per_word)
        for lang in LANGUAGES:
            test_set = run / "data" / "prepared" / "test" / f"{target}.{lang}.jsonl"
            examples = {ex["id"]: ex for ex in read_jsonl(test_set)}
            chosen = [examples[i] for i in candidate_ids(examples, cfg.seed, target, lang, n_items)]
            stored = predict(model, spec.model, chosen, **common)
            cache = BottomCache(base, depth, pad_token_id=tokenizer.pad_token_id) if depth else None
            attacked = queries = succeeded = 0
            seconds = cpu = 0.0
            for item in chosen:
                began, began_cpu = time.perf_counter(), time.process_time()
                if spec.family == "qa":
                    def query(batch, targets):
                        variants = [{**ex, "id": f"{ex['id']}#{k}"} for k, ex in enumerate(batch)]
                        spans = predict_spans(model, spec.model, variants, targets, prefix=cache, **common)
                        return [spans[ex["id"]] for ex in variants]

                    (r,) = attack_qa([item], query, f1, min_clean_score=cfg.eligibility,
                                     stored_predictions={item["id"]: stored[item["id"]]}, **settings)
                else:
                    def query(batch):
                        variants = [{**ex, "id": f"{ex['id']}#{k}"} for k, ex in enumerate(batch)]
                        answers = predict(model, spec.model, variants, prefix=cache, probabilities=True, **common)
                        return [answers[ex["id"]] for ex in variants]

                    (r,) = attack_classification([item], query, task=target,
                                                 stored_predictions={item["id"]: stored[item["id"]]}, **settings)
                if cache is not None:
                    cache.clear()
                if r.status != "skipped":
                    seconds += time.perf_counter() - began
                    cpu += time.process_time() - began_cpu
                    attacked += 1
                    queries += r.queries
                    succeeded += r.success
            rows.append({"target": target, "lang": lang, "candidates": len(chosen), "attacked": attacked,
                         "succeeded": succeeded, "queries": queries,
                         "queries_per_item": queries / attacked if attacked else float("nan"),
                         "s_per_item": seconds / attacked if attacked else float("nan"),
                         "ms_per_query": 1000 * seconds / queries if queries else float("nan"),
                         "cpu_s_per_item": cpu / attacked if attacked else float("nan"),
                         "cpu_ms_per_query": 1000 * cpu / queries if queries else float("nan")})
    columns = ["target", "lang", "candidates", "attacked", "succeeded", "queries_per_item", "s_per_item",
               "ms_per_query", "cpu_s_per_item", "cpu_ms_per_query"]
    print(f"\nmodel {model_dir.name}; {machine()}\n" + table(rows, columns))
    path = write_result("attack_cost", {"model": model_dir.name, "machine": machine(), "rows": rows,
                                        "max_queries": cfg.max_queries, "max_words": cfg.max_words,
                                        "candidates_per_word": cfg.candidates_per_word})
    print(f"wrote {path}")
    assert any(r["attacked"] for r in rows)

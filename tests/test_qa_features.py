"""QA featurisation and decoding (``tasks/qa.py``): answers survive the trip to token positions and back, across
windows."""

from __future__ import annotations

import numpy as np
import pytest

try:
    from test_training_tiny import build_tokenizer, qa_examples
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import build_tokenizer, qa_examples

from stages.xlt.tasks import qa
from stages.xlt.tasks.family import model_family

MAX_LENGTH, STRIDE = 40, 12
QA = model_family("qa")


def train_features(examples, tokenizer, max_length=MAX_LENGTH, stride=STRIDE):
    return QA.train_features(examples, tokenizer, max_length=max_length, doc_stride=stride)


def eval_features(examples, tokenizer, max_length=MAX_LENGTH, stride=STRIDE):
    return QA.eval_features(examples, tokenizer, max_length=max_length, doc_stride=stride)


def outputs_from(start: np.ndarray, end: np.ndarray, features) -> list[np.ndarray]:
    """Per-feature (length, 2) logits, unpadded, as ``ExtractiveQA.output_rows`` hands them to ``decode``."""
    return [np.stack([start[i, : len(f["input_ids"])], end[i, : len(f["input_ids"])]], axis=-1)
            for i, f in enumerate(features)]


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


@pytest.fixture(scope="module")
def examples():
    return qa_examples(30, seed=3, min_words=5, max_words=70)


def test_train_positions_cover_exactly_the_gold_answer(tokenizer, examples):
    features = train_features(examples, tokenizer)
    evaluation = eval_features(examples, tokenizer)
    assert len(features) == len(evaluation) > len(examples)  # long contexts overflow into several windows
    by_example: dict[int, list[int]] = {}
    for f, e in zip(features, evaluation):
        assert f["input_ids"] == e["input_ids"] and len(f["input_ids"]) <= MAX_LENGTH
        assert len(e["allowed"]) == len(e["offsets"]) == len(e["input_ids"])
        by_example.setdefault(e["example_index"], []).append(f["start_positions"])
        example = examples[e["example_index"]]
        s, t = f["start_positions"], f["end_positions"]
        if s == 0:  # CLS: the answer is not (entirely) inside this window
            assert t == 0
            continue
        assert e["allowed"][s] and e["allowed"][t]  # context tokens
        offsets = e["offsets"]
        assert example["context"][offsets[s][0]: offsets[t][1]] == example["answers"]["text"][0]
    assert sorted(by_example) == list(range(len(examples)))
    assert all(any(p != 0 for p in positions) for positions in by_example.values())
    assert any(positions.count(0) > 0 for positions in by_example.values())  # some windows miss the answer


def test_allowed_positions_are_the_context_and_cls(tokenizer, examples):
    (feature, *_) = eval_features(examples[:1], tokenizer)
    encoded = tokenizer(examples[0]["question"], examples[0]["context"], truncation="only_second",
                        max_length=MAX_LENGTH, stride=STRIDE, return_overflowing_tokens=True)
    sequence_ids = encoded.sequence_ids(0)
    assert feature["allowed"] == [s == 1 or i == 0 for i, s in enumerate(sequence_ids)]


def test_decode_returns_gold_text_from_hand_set_logits(tokenizer, examples):
    train = train_features(examples, tokenizer)
    features = eval_features(examples, tokenizer)
    rng = np.random.default_rng(0)
    start = rng.normal(size=(len(features), MAX_LENGTH)).astype(np.float32)
    end = rng.normal(size=(len(features), MAX_LENGTH)).astype(np.float32)
    for i, f in enumerate(train):
        if f["start_positions"] != 0:
            start[i, f["start_positions"]] += 20.0
            end[i, f["end_positions"]] += 20.0
        # CLS takes part in the softmax (as in the v4 pipeline) but is never an answer, even when it scores best.
        start[i, 0] = end[i, 0] = 30.0
    predictions = QA.decode(examples, features, outputs_from(start, end, features))
    assert predictions == {x["id"]: x["answers"]["text"][0] for x in examples}


def test_decode_respects_max_answer_length_and_context_only(tokenizer):
    example = {"id": "x", "question": "what is the castle ?", "context": "alpha bravo castle paris london golf",
               "answers": {"text": ["paris"], "answer_start": [19]}}
    (feature,) = eval_features([example], tokenizer, 64, 16)
    context_positions = [i for i, allowed in enumerate(feature["allowed"]) if allowed and i > 0]
    n = len(feature["input_ids"])
    start, end = np.zeros((1, n), dtype=np.float32), np.zeros((1, n), dtype=np.float32)
    first, last = context_positions[0], context_positions[-1]
    start[0, first], end[0, last] = 10.0, 10.0  # the best pair spans the whole context...
    start[0, 1] = end[0, 1] = 50.0  # ...question tokens score higher but are not context
    end[0, first] = 5.0
    whole = QA.decode([example], [feature], outputs_from(start, end, [feature]))
    assert whole == {"x": example["context"]}
    allowed = np.asarray(feature["allowed"])
    s, e, _ = qa.best_span_in_window(start[0], end[0], allowed, max_answer_length=1)
    assert (s, e) == (first, first)
    longest = qa.best_span_in_window(start[0], end[0], allowed, max_answer_length=qa.MAX_ANSWER_TOKENS)
    assert longest[:2] == (first, last)


def test_decode_keeps_the_best_window_and_the_earlier_one_on_ties(tokenizer):
    words = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet " * 4).split()
    example = {"id": "x", "question": "what is the castle ?", "context": " ".join(words)}
    features = eval_features([example], tokenizer, 40, 8)
    assert len(features) >= 3
    # -1e4 everywhere but one token per window: that token takes all the probability, every window scores 1.0.
    outputs = [np.full((len(f["input_ids"]), 2), -1e4, dtype=np.float32) for f in features]
    spans = []
    for f, out in zip(features, outputs):
        position = max(i for i, allowed in enumerate(f["allowed"]) if allowed)  # each window's last context token
        out[position] = 0.0
        spans.append(example["context"][f["offsets"][position][0]: f["offsets"][position][1]])
    assert spans[0] != spans[1]
    assert QA.decode([example], features, outputs) == {"x": spans[0]}  # equal scores: the first window
    first_context = min(i for i, allowed in enumerate(features[0]["allowed"]) if allowed and i > 0)
    outputs[0][first_context] = 0.0  # window 0 now splits its probability: its best span scores 0.25
    assert QA.decode([example], features, outputs) == {"x": spans[1]}


def test_answer_ending_a_window_maps_to_its_last_context_token(tokenizer):
    context = "alpha bravo castle paris"
    example = {"id": "x", "question": "what is the castle ?", "context": context,
               "answers": {"text": ["paris"], "answer_start": [context.index("paris")]}}
    (feature,) = train_features([example], tokenizer, 64, 16)
    (eval_feature,) = eval_features([example], tokenizer, 64, 16)
    offsets = eval_feature["offsets"]
    assert context[offsets[feature["start_positions"]][0]: offsets[feature["end_positions"]][1]] == "paris"
    sequence_ids = [None] + [0] * 5 + [None, 1, 1, 1, 1, None]
    answer = qa.answer_token_span([(0, 0)] * 7 + [(0, 5), (6, 11), (12, 18), (19, 24), (0, 0)], sequence_ids, 19, 24)
    assert answer == (10, 10)


def test_missing_fields_bad_padding_side_and_slow_tokenizers_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="lacks"):
        train_features([{"id": "a", "question": "q", "context": "c"}], tokenizer, 32, 8)
    left = build_tokenizer()
    left.padding_side = "left"
    with pytest.raises(ValueError, match="padding_side"):
        eval_features([{"id": "a", "question": "q", "context": "c"}], left, 32, 8)

    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer"):
        eval_features([{"id": "a", "question": "q", "context": "c"}], Slow(), 32, 8)


def test_segment_ids_follow_the_tokenizers_declared_inputs(examples):
    bert_like = build_tokenizer()
    assert "token_type_ids" in train_features(examples[:2], bert_like)[0]
    xlmr_like = build_tokenizer()
    xlmr_like.model_input_names = ["input_ids", "attention_mask"]
    features = train_features(examples[:2], xlmr_like) + eval_features(examples[:2], xlmr_like)
    assert all("token_type_ids" not in f for f in features)


def test_loss_leaves_padded_positions_out():
    """The loss of a padded batch is the mean of its windows' unpadded losses, whatever the padding holds (from
    cached states padded rows start from zeros, from token ids from pad-token embeddings)."""
    import torch

    lengths, padded = [7, 5, 3], 10
    logits = torch.randn(len(lengths), padded, 2, generator=torch.Generator().manual_seed(0))
    mask = (torch.arange(padded)[None] < torch.tensor(lengths)[:, None]).long()
    batch = {"attention_mask": mask, "start_positions": torch.tensor([1, 4, 0]),
             "end_positions": torch.tensor([3, 4, 2])}
    per_window = [qa.qa_loss(logits[i:i + 1, :n], batch["start_positions"][i:i + 1], batch["end_positions"][i:i + 1])
                  for i, n in enumerate(lengths)]
    loss = QA.loss(logits, batch)
    torch.testing.assert_close(loss, torch.stack(per_window).mean())
    noisy = logits.masked_fill(~mask.bool().unsqueeze(-1), 50.0)
    torch.testing.assert_close(QA.loss(noisy, batch), loss)

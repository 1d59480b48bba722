"""``predict_spans``: the attack's QA goal score (the probability of a given answer span) on a tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

try:
    from test_inference_qa import MAX_LENGTH, STRIDE, qa_model, scored_predict
    from test_training_tiny import build_tiny_encoder, qa_examples, single_thread
except ImportError:  # tests/ imported as a package
    from tests.test_inference_qa import MAX_LENGTH, STRIDE, qa_model, scored_predict
    from tests.test_training_tiny import build_tiny_encoder, qa_examples, single_thread

from stages.xlt.inference import _forward, _window_probabilities, predict_spans
from stages.xlt.tasks.qa import answer_token_span

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)
KWARGS = dict(max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=4)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    import torch

    torch.manual_seed(1)  # the QA head's initialisation: the same model in every run of the suite
    return qa_model(build_tiny_encoder(tmp_path_factory.mktemp("bert"), seed=1))


@pytest.fixture(scope="module")
def examples():
    return qa_examples(10, seed=11, min_words=5, max_words=70)


def test_answers_and_their_probabilities_are_the_decoders(model, examples):
    answers, scores = scored_predict(model, examples, **KWARGS)
    spans = predict_spans(model, "squad", examples, **KWARGS)
    for example in examples:
        out = spans[example["id"]]
        assert out.answer == answers[example["id"]]
        assert example["context"][out.span[0]:out.span[1]] == out.answer
        assert out.probability == pytest.approx(scores[example["id"]], rel=1e-5)


def test_the_probability_of_a_target_is_the_best_window_and_at_most_the_answers(model, examples):
    own = predict_spans(model, "squad", examples, **KWARGS)
    golds = [(e["answers"]["answer_start"][0], e["answers"]["answer_start"][0] + len(e["answers"]["text"][0]))
             for e in examples]
    scored = predict_spans(model, "squad", examples, golds, **KWARGS)
    again = predict_spans(model, "squad", examples, [own[e["id"]].span for e in examples], **KWARGS)
    family, features, outputs = _forward(model, "squad", examples, max_length=MAX_LENGTH, doc_stride=STRIDE,
                                         batch_size=4, max_tokens=None, prefix=None)
    cls_id = model.tokenizer.cls_token_id
    for k, example in enumerate(examples):
        out = scored[example["id"]]
        assert out.answer == own[example["id"]].answer  # a target changes the score, never the answer
        assert 0.0 <= out.probability <= own[example["id"]].probability + 1e-9
        assert again[example["id"]].probability == pytest.approx(own[example["id"]].probability, rel=1e-6)
        by_window = []
        for feature, logits in zip(features, outputs):
            if feature["example_index"] != k:
                continue
            context = [1 if ok and t != cls_id else None for ok, t in zip(feature["allowed"], feature["input_ids"])]
            tokens = answer_token_span(feature["offsets"], context, *golds[k])
            if tokens is not None:
                p_start, p_end = _window_probabilities(logits, np.asarray(feature["allowed"]))
                by_window.append(p_start[tokens[0]] * p_end[tokens[1]])
        assert by_window and out.probability == pytest.approx(max(by_window), rel=1e-6)


def test_deleting_a_question_word_moves_the_score_continuously(model, examples):
    example = examples[0]
    target = predict_spans(model, "squad", [example], **KWARGS)[example["id"]].span
    words = example["question"].split()
    variants = [{**example, "id": f"v{i}", "question": " ".join(words[:i] + words[i + 1:])} for i in range(len(words))]
    scores = {out.probability for out in predict_spans(model, "squad", variants, [target] * len(variants),
                                                         **KWARGS).values()}
    # distinct values, not a 0/1 outcome; a random tiny model may give a span a probability below float32's range (0)
    assert len({s for s in scores if s > 0}) > 1 and all(0 <= s < 1 for s in scores)


def test_bad_targets_are_refused(model, examples):
    with pytest.raises(ValueError, match="targets"):
        predict_spans(model, "squad", examples, [None], **KWARGS)

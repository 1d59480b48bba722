"""Batched QA inference must pick exactly the answers transformers' QA pipeline picks.

transformers 5 removed `pipeline("question-answering")` (it raises KeyError), so the reference below is a
line-by-line port of the v4 pipeline (transformers 4.x `pipelines/question_answering.py`: fast-tokenizer
`preprocess`, one unpadded window per forward pass, `select_starts_ends`, `decode_spans`, `get_indices`,
answers sorted by score), run on transformers' own `*ForQuestionAnswering` model carrying our weights.
`inference.predict` batches, sorts by length, pads and runs the encoder layer by layer (``modeling/layers.py``),
and must still agree, for a BERT and an XLM-R architecture.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

try:
    from test_training_tiny import (build_tiny_encoder, build_tiny_xlmr, choice_examples, classification_examples,
                                    qa_examples, single_thread)
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import (build_tiny_encoder, build_tiny_xlmr, choice_examples, classification_examples,
                                          qa_examples, single_thread)

from stages.xlt.inference import predict
from stages.xlt.modeling.multitask import MultiTaskModel, load_trained
from stages.xlt.tasks import qa
from stages.xlt.tasks.family import model_family

MAX_LENGTH, STRIDE, MAX_ANSWER = 48, 16, qa.MAX_ANSWER_TOKENS
HEADS = {"squad": ("qa", 2), "nli": ("classification", 2), "choice": ("multiple_choice", 4)}
BUILDERS = {"bert": build_tiny_encoder, "xlmr": build_tiny_xlmr}

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


# ---- reference: the transformers 4.x QuestionAnsweringPipeline, fast-tokenizer path, top_k=1 ------------------
def _decode_spans(start, end, topk, max_answer_len, undesired_tokens):
    if start.ndim == 1:
        start = start[None]
    if end.ndim == 1:
        end = end[None]
    outer = np.matmul(np.expand_dims(start, -1), np.expand_dims(end, 1))
    candidates = np.tril(np.triu(outer), max_answer_len - 1)
    scores_flat = candidates.flatten()
    idx_sort = [np.argmax(scores_flat)]  # topk == 1
    starts, ends = np.unravel_index(idx_sort, candidates.shape)[1:]
    desired_spans = np.isin(starts, undesired_tokens.nonzero()) & np.isin(ends, undesired_tokens.nonzero())
    starts, ends = starts[desired_spans], ends[desired_spans]
    return starts, ends, candidates[0, starts, ends]


def _select_starts_ends(start, end, p_mask, attention_mask, max_answer_len):
    undesired_tokens = np.abs(np.array(p_mask) - 1)
    if attention_mask is not None:
        undesired_tokens = undesired_tokens & attention_mask
    undesired_tokens_mask = undesired_tokens == 0.0
    start = np.where(undesired_tokens_mask, -10000.0, start)
    end = np.where(undesired_tokens_mask, -10000.0, end)
    start = np.exp(start - start.max(axis=-1, keepdims=True))
    start = start / start.sum()
    end = np.exp(end - end.max(axis=-1, keepdims=True))
    end = end / end.sum()
    start[0, 0] = end[0, 0] = 0.0
    return _decode_spans(start, end, 1, max_answer_len, undesired_tokens)


def _get_indices(enc, s, e, sequence_index, align_to_words):
    if align_to_words:
        try:
            start_word = enc.token_to_word(s)
            end_word = enc.token_to_word(e)
            return (enc.word_to_chars(start_word, sequence_index=sequence_index)[0],
                    enc.word_to_chars(end_word, sequence_index=sequence_index)[1])
        except Exception:
            pass
    return enc.offsets[s][0], enc.offsets[e][1]


def reference_pipeline(model, tokenizer, question, context, max_seq_len, doc_stride, max_answer_len, align_to_words):
    encoded = tokenizer(text=question, text_pair=context, padding="do_not_pad", truncation="only_second",
                        max_length=max_seq_len, stride=doc_stride, return_token_type_ids=True,
                        return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True)
    num_spans = len(encoded["input_ids"])
    p_mask = [[tok != 1 for tok in encoded.sequence_ids(span_id)] for span_id in range(num_spans)]
    for span_idx in range(num_spans):
        cls_indices = np.nonzero(np.array(encoded["input_ids"][span_idx]) == tokenizer.cls_token_id)[0]
        for cls_index in cls_indices:
            p_mask[span_idx][cls_index] = 0
    answers = []
    for span in range(num_spans):
        # The v4 pipeline feeds the model the tokenizer's declared inputs only (XLM-R's declare no segment ids).
        inputs = {k: torch.tensor(encoded[k][span]).unsqueeze(0) for k in tokenizer.model_input_names}
        with torch.inference_mode():
            out = model(**inputs)
        starts, ends, scores = _select_starts_ends(out.start_logits.numpy(), out.end_logits.numpy(),
                                                   np.array(p_mask[span])[None],
                                                   inputs["attention_mask"].numpy(), max_answer_len)
        for s, e, score in zip(starts, ends, scores):
            start_index, end_index = _get_indices(encoded[span], s, e, 1, align_to_words)
            answers.append({"score": score.item(), "start": start_index, "end": end_index,
                            "answer": context[start_index:end_index]})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:1]
    return answers[0] if answers else None


# ---- fixtures ---------------------------------------------------------------------------------------------------
def qa_model(encoder_dir) -> MultiTaskModel:
    """A multi-head model whose QA head gives well-spread logits (init std 0.5)."""
    model = MultiTaskModel(encoder_dir, HEADS, seed=3)
    with torch.no_grad():
        model.heads["squad"].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    return model.eval()


def reference_model(encoder_dir, model: MultiTaskModel):
    """transformers' own *ForQuestionAnswering with our encoder and QA head (HF's `qa_outputs` has its shape)."""
    from transformers import AutoModelForQuestionAnswering

    reference = AutoModelForQuestionAnswering.from_pretrained(encoder_dir)
    reference.base_model.load_state_dict(model.encoder.state_dict(), strict=True)
    reference.qa_outputs.load_state_dict(model.heads["squad"].state_dict(), strict=True)
    return reference.eval()


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def models(request, tmp_path_factory):
    encoder_dir = BUILDERS[request.param](tmp_path_factory.mktemp(request.param), seed=1)
    model = qa_model(encoder_dir)
    return encoder_dir, model, reference_model(encoder_dir, model)


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """The BERT model, and the same model saved as a delta (as the transfer stage does) and reloaded."""
    encoder_dir = build_tiny_encoder(tmp_path_factory.mktemp("bert"), seed=1)
    model = qa_model(encoder_dir)
    out = tmp_path_factory.mktemp("delta") / "model"
    model.save(out, sorted(HEADS))
    return model, load_trained(encoder_dir, out)


@pytest.fixture(scope="module")
def examples():
    return qa_examples(12, seed=11, min_words=5, max_words=70)


def scored_predict(model, examples, **kwargs) -> tuple[dict[str, str], dict[str, float]]:
    """``predict``'s answers and, from the logits it decoded, the score of each answer (p_start * p_end)."""
    family = model_family("qa")
    scores: dict[str, float] = {}

    def decode(examples_, features, outputs):
        for feature, logits in zip(features, outputs, strict=True):
            found = qa.best_span_in_window(logits[:, 0], logits[:, 1], np.asarray(feature["allowed"]))
            key = examples_[feature["example_index"]]["id"]
            if found is not None:
                scores[key] = max(scores.get(key, -1.0), found[2])
        return type(family).decode(family, examples_, features, outputs)

    family.decode = decode  # an instance attribute, removed below: the family object is shared
    try:
        answers = predict(model, "squad", examples, **kwargs)
    finally:
        del family.decode
    return answers, scores


def test_predict_equals_the_v4_pipeline(models, examples):
    _, model, reference = models
    ours, scores = scored_predict(model, examples, max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=5)
    n_windows = len(model.tokenizer([e["question"] for e in examples], [e["context"] for e in examples],
                                    truncation="only_second", max_length=MAX_LENGTH, stride=STRIDE,
                                    return_overflowing_tokens=True)["input_ids"])
    assert n_windows > len(examples)  # overflowing windows really happen
    for example in examples:
        ref = reference_pipeline(reference, model.tokenizer, example["question"], example["context"], MAX_LENGTH,
                                 STRIDE, MAX_ANSWER, align_to_words=False)
        assert ours[example["id"]] == ref["answer"], example["id"]
        assert scores[example["id"]] == pytest.approx(ref["score"], rel=1e-4)


def test_pipeline_task_is_gone_in_transformers_5():
    from transformers import pipeline

    with pytest.raises(KeyError, match="removed"):  # if this fails, compare against the real pipeline instead
        pipeline("question-answering")


def test_predict_same_in_memory_reloaded_one_by_one_and_in_small_batches(bert, examples):
    model, reloaded = bert
    kwargs = dict(max_length=MAX_LENGTH, doc_stride=STRIDE)
    batched = predict(model, "squad", examples, batch_size=4, **kwargs)
    from_delta = predict(reloaded, "squad", examples, batch_size=4, **kwargs)
    one_by_one = predict(model, "squad", examples, batch_size=1, **kwargs)
    token_bounded = predict(model, "squad", examples, batch_size=64, max_tokens=100, **kwargs)
    assert batched == from_delta == one_by_one == token_bounded
    assert list(batched) == [e["id"] for e in examples]
    assert all(text and text in e["context"] for e, text in zip(examples, batched.values()))


def test_predict_classification_and_multiple_choice_give_one_label_per_example(bert):
    model, _ = bert
    cls = predict(model, "nli", classification_examples(7), max_length=32, batch_size=3)
    mc = predict(model, "choice", choice_examples(5), max_length=32, batch_size=2)
    assert list(cls) == [f"c{i}" for i in range(7)] and set(cls.values()) <= {0, 1}
    assert list(mc) == [f"m{i}" for i in range(5)] and set(mc.values()) <= {0, 1, 2, 3}
    probabilities = predict(model, "nli", classification_examples(7), max_length=32, probabilities=True)
    assert all(len(p) == 2 and sum(p) == pytest.approx(1.0) for p in probabilities.values())
    assert {k: int(np.argmax(p)) for k, p in probabilities.items()} == cls


def test_window_decoding_breaks_ties_like_the_pipeline_and_skips_cls():
    allowed = np.array([True, False, True, True, True, True])  # CLS, a question token, four context tokens
    flat = np.zeros(6, dtype=np.float32)
    s, e, score = qa.best_span_in_window(flat, flat, allowed, max_answer_length=3)
    assert (s, e) == (2, 2)  # equal scores: the first span in (start, end) row-major order
    peaked = np.array([9, 9, 0, 0, 0, 0], dtype=np.float32)  # CLS and the question token score highest
    s, e, _ = qa.best_span_in_window(peaked, peaked, allowed, max_answer_length=3)
    assert allowed[s] and allowed[e] and s > 0
    start = np.array([0, 0, 5, 0, 0, 0], dtype=np.float32)
    end = np.array([0, 0, 0, 0, 0, 5], dtype=np.float32)
    assert qa.best_span_in_window(start, end, allowed, max_answer_length=4)[:2] == (2, 5)
    assert qa.best_span_in_window(start, end, allowed, max_answer_length=3)[:2] != (2, 5)  # too long now


def test_duplicate_ids_unknown_heads_and_empty_inputs(bert, examples):
    model, _ = bert
    with pytest.raises(ValueError, match="duplicate"):
        predict(model, "squad", [examples[0], examples[0]], max_length=MAX_LENGTH, doc_stride=STRIDE)
    with pytest.raises(ValueError, match="unknown task"):
        predict(model, "xquad", examples[:1], max_length=MAX_LENGTH, doc_stride=STRIDE)
    assert predict(model, "squad", [], max_length=MAX_LENGTH) == {}

"""Batched QA inference must pick exactly the answers transformers' QA pipeline picks.

transformers 5 removed `pipeline("question-answering")` (it raises KeyError), so the reference below is a
line-by-line port of the v4 pipeline (transformers 4.x `pipelines/question_answering.py`: fast-tokenizer
`preprocess`, one unpadded window per forward pass, `select_starts_ends`, `decode_spans`, `get_indices`,
answers sorted by score). `predict_qa` batches, sorts by length and pads, and must still agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

try:
    from test_training_tiny import build_tiny_encoder, choice_examples, classification_examples, qa_examples
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import build_tiny_encoder, choice_examples, classification_examples, qa_examples

from stages.xlt.inference import predict_classification, predict_multiple_choice, predict_qa, predict_qa_scored
from stages.xlt.training.model import MultiTaskModel

MAX_LENGTH, STRIDE, MAX_ANSWER = 48, 16, 15


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
        inputs = {k: torch.tensor(encoded[k][span]).unsqueeze(0)
                  for k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.inference_mode():
            out = model(**inputs)
        starts, ends, scores = _select_starts_ends(out.start_logits.numpy(), out.end_logits.numpy(),
                                                   torch.tensor(p_mask[span]).unsqueeze(0),
                                                   inputs["attention_mask"].numpy(), max_answer_len)
        for s, e, score in zip(starts, ends, scores):
            start_index, end_index = _get_indices(encoded[span], s, e, 1, align_to_words)
            answers.append({"score": score.item(), "start": start_index, "end": end_index,
                            "answer": context[start_index:end_index]})
    answers = sorted(answers, key=lambda x: x["score"], reverse=True)[:1]
    return answers[0] if answers else None


# ---- fixtures ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa_dir(tmp_path_factory):
    """A tiny QA model folder whose head gives well-spread logits (init std 0.5), saved like transfer does."""
    encoder_dir = build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=1)
    model = MultiTaskModel(encoder_dir, {"squad": ("qa", 2), "nli": ("classification", 2),
                                         "choice": ("multiple_choice", 4)}, seed=3)
    with torch.no_grad():
        model.heads["squad"].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    out = tmp_path_factory.mktemp("qa") / "model"
    model.save_question_answering("squad", out)
    return out, model


@pytest.fixture(scope="module")
def examples():
    return qa_examples(12, seed=11, min_words=5, max_words=70)


@pytest.mark.parametrize("align_to_words", [False, True])
def test_predict_qa_equals_the_v4_pipeline(qa_dir, examples, align_to_words):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    folder, _ = qa_dir
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ours = predict_qa_scored(folder, None, examples, max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=5,
                             max_answer_length=MAX_ANSWER, align_to_words=align_to_words)
    n_windows = len(tokenizer([e["question"] for e in examples], [e["context"] for e in examples],
                              truncation="only_second", max_length=MAX_LENGTH, stride=STRIDE,
                              return_overflowing_tokens=True)["input_ids"])
    assert n_windows > len(examples)  # overflowing windows really happen
    for example in examples:
        ref = reference_pipeline(model, tokenizer, example["question"], example["context"], MAX_LENGTH, STRIDE,
                                 MAX_ANSWER, align_to_words)
        got = ours[example["id"]]
        assert (got.text, got.start, got.end) == (ref["answer"], ref["start"], ref["end"]), example["id"]
        assert got.score == pytest.approx(ref["score"], rel=1e-4)


def test_pipeline_task_is_gone_in_transformers_5():
    from transformers import pipeline

    with pytest.raises(KeyError, match="removed"):  # if this fails, compare against the real pipeline instead
        pipeline("question-answering")


def test_predict_qa_same_from_folder_model_object_and_multitask_head(qa_dir, examples):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    folder, multitask = qa_dir
    kwargs = dict(max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=4)
    from_folder = predict_qa(folder, None, examples, **kwargs)
    from_object = predict_qa(AutoModelForQuestionAnswering.from_pretrained(folder),
                             AutoTokenizer.from_pretrained(folder), examples, **kwargs)
    from_head = predict_qa(multitask, multitask.tokenizer, examples, task="squad", **kwargs)
    one_by_one = predict_qa(folder, None, examples, max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=1)
    assert from_folder == from_object == from_head == one_by_one
    assert set(from_folder) == {e["id"] for e in examples}
    assert all(text and text in e["context"] for e, text in zip(examples, from_folder.values()))


def test_predict_classification_and_multiple_choice_give_one_label_per_example(qa_dir):
    _, model = qa_dir
    cls = predict_classification(model, "nli", classification_examples(7), max_length=32, batch_size=3)
    mc = predict_multiple_choice(model, "choice", choice_examples(5), max_length=32, batch_size=2)
    assert list(cls) == [f"c{i}" for i in range(7)] and set(cls.values()) <= {0, 1}
    assert list(mc) == [f"m{i}" for i in range(5)] and set(mc.values()) <= {0, 1, 2, 3}


def test_window_decoding_breaks_ties_like_the_pipeline_and_skips_cls():
    from stages.xlt.inference import best_span_in_window

    allowed = np.array([True, False, True, True, True, True])  # CLS, a question token, four context tokens
    flat = np.zeros(6, dtype=np.float32)
    s, e, score = best_span_in_window(flat, flat, allowed, max_answer_length=3)
    assert (s, e) == (2, 2)  # equal scores: the first span in (start, end) row-major order
    peaked = np.array([9, 9, 0, 0, 0, 0], dtype=np.float32)  # CLS and the question token score highest
    s, e, _ = best_span_in_window(peaked, peaked, allowed, max_answer_length=3)
    assert allowed[s] and allowed[e] and s > 0
    start = np.array([0, 0, 5, 0, 0, 0], dtype=np.float32)
    end = np.array([0, 0, 0, 0, 0, 5], dtype=np.float32)
    assert best_span_in_window(start, end, allowed, max_answer_length=4)[:2] == (2, 5)
    assert best_span_in_window(start, end, allowed, max_answer_length=3)[:2] != (2, 5)  # too long now


def test_duplicate_ids_are_rejected(qa_dir, examples):
    folder, _ = qa_dir
    with pytest.raises(ValueError, match="duplicate"):
        predict_qa(folder, None, [examples[0], examples[0]], max_length=MAX_LENGTH, doc_stride=STRIDE)

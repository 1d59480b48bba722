"""The tagging family (UD-POS, PAN-X): XTREME's first-sub-token labelling, the loss that ignores the other tokens,
one tag per word decoded back, and score rows with one word each, clustered by sentence."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from stages.xlt.tasks.collate import IGNORED_LABEL, collate  # noqa: E402
from stages.xlt.tasks.family import model_family  # noqa: E402

SENTENCES = [{"id": "s1", "lang": "de", "tokens": ["Unterhaltungselektronik", "ist", "teuer", "."],
              "tags": [7, 3, 0, 12]},
             {"id": "s2", "lang": "de", "tokens": ["Berlin"], "tags": [11]}]


@pytest.fixture(scope="module")
def tokenizer():
    from stages.xlt.sources.encoder import bundled_tokenizer

    return bundled_tokenizer()


def test_each_word_is_labelled_on_its_first_sub_token_only(tokenizer):
    tagging = model_family("tagging")
    (long, short) = tagging.train_features(SENTENCES, tokenizer, max_length=64, doc_stride=0)
    labelled = [(k, label) for k, label in enumerate(long["token_labels"]) if label != IGNORED_LABEL]
    assert [label for _, label in labelled] == SENTENCES[0]["tags"]  # one label per word, in order
    assert len(long["input_ids"]) > len(SENTENCES[0]["tokens"]) + 2  # the long word has several sub-tokens
    assert long["token_labels"][0] == IGNORED_LABEL and long["token_labels"][-1] == IGNORED_LABEL  # <s>, </s>
    assert [k for k, _ in labelled] == [k for _, k in long["word_positions"]]
    assert short["token_labels"].count(IGNORED_LABEL) == len(short["token_labels"]) - 1


def test_loss_ignores_unlabelled_tokens_and_decoding_gives_one_tag_per_word(tokenizer):
    tagging = model_family("tagging")
    features = tagging.train_features(SENTENCES, tokenizer, max_length=64, doc_stride=0)
    batch = collate(features, tokenizer.pad_token_id)
    assert batch["token_labels"].shape == batch["input_ids"].shape
    logits = torch.zeros(*batch["input_ids"].shape, 17)
    # Perfect scores on the labelled tokens, garbage elsewhere: the loss must not see the garbage.
    for row, feature in enumerate(features):
        for k, label in enumerate(feature["token_labels"]):
            logits[row, k, label if label != IGNORED_LABEL else 0] = 50.0 if label != IGNORED_LABEL else -50.0
    assert float(tagging.loss(logits, batch)) < 1e-6
    outputs = [logits[row, : len(f["input_ids"])].numpy() for row, f in enumerate(features)]
    decoded = tagging.decode(SENTENCES, tagging.eval_features(SENTENCES, tokenizer, max_length=64, doc_stride=0),
                             outputs)
    assert decoded == {"s1": SENTENCES[0]["tags"], "s2": SENTENCES[1]["tags"]}


def test_words_past_the_window_get_no_prediction(tokenizer):
    tagging = model_family("tagging")
    words = {"id": "long", "lang": "en", "tokens": ["word"] * 40, "tags": [0] * 40}
    (feature,) = tagging.eval_features([words], tokenizer, max_length=16, doc_stride=0)
    decoded = tagging.decode([words], [feature], [np.zeros((len(feature["input_ids"]), 17))])["long"]
    assert decoded[:5] == [0] * 5 and decoded[-1] == -1 and decoded.count(-1) == 40 - len(feature["word_positions"])


def test_mismatched_tags_fail_with_the_example_named(tokenizer):
    with pytest.raises(ValueError, match="'bad' has 2 words but 1 tags"):
        model_family("tagging").train_features([{"id": "bad", "tokens": ["a", "b"], "tags": [0]}], tokenizer,
                                               max_length=16, doc_stride=0)


def test_score_rows_are_words_clustered_by_sentence(tmp_path):
    from stages.xlt.scoring.collect import score_rows

    (tmp_path / "p.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "s1", "prediction": [7, 3, 1, -1]}, {"id": "s2", "prediction": [11]}]) + "\n", encoding="utf-8")
    rows = list(score_rows("tagging", task="udpos", arm="a", seed=0, lang="de", condition="clean",
                           predictions=tmp_path / "p.jsonl", gold={s["id"]: s for s in SENTENCES}, inputs=None,
                           clusters={"s1": "c1", "s2": "c2"}))
    assert [r["id"] for r in rows] == ["s1#000", "s1#001", "s1#002", "s1#003", "s2#000"]
    assert [r["value"] for r in rows] == [1.0, 1.0, 0.0, 0.0, 1.0]
    assert {r["cluster"] for r in rows[:4]} == {"c1"} and {r["metric"] for r in rows} == {"accuracy"}
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "s2", "prediction": [1, 2]}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="2 predicted tags for 1 words"):
        list(score_rows("tagging", task="udpos", arm="a", seed=0, lang="de", condition="clean",
                        predictions=tmp_path / "p.jsonl", gold={s["id"]: s for s in SENTENCES}, inputs=None))

import numpy as np
import pytest

from stages.xlt.tasks.retrieval import retrieval_accuracy, retrieval_hits


def test_permuted_identity_with_noise_gives_known_accuracy():
    rng = np.random.default_rng(0)
    n = 50
    src = np.eye(n) + 0.01 * rng.standard_normal((n, n))
    tgt = np.eye(n) + 0.01 * rng.standard_normal((n, n))
    assert retrieval_accuracy(src, tgt) == {"src2tgt": 1.0, "tgt2src": 1.0}
    # scramble the gold of the first 10 targets: exactly 10 misses in each direction
    perm = np.arange(n)
    perm[:10] = np.roll(perm[:10], 1)
    result = retrieval_accuracy(src, tgt[perm])
    assert result == {"src2tgt": 0.8, "tgt2src": 0.8}


def test_directions_differ_when_a_hub_target_attracts_everyone():
    src = np.array([[1.0, 0.0], [0.9, 0.1]])
    tgt = np.array([[1.0, 0.0], [0.0, 1.0]])
    hits = retrieval_hits(src, tgt)
    assert hits["src2tgt"].tolist() == [True, False]  # both sources pick target 0
    assert hits["tgt2src"].tolist() == [True, True]
    assert retrieval_accuracy(src, tgt) == {"src2tgt": 0.5, "tgt2src": 1.0}


def test_cosine_ignores_scale():
    src = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert retrieval_accuracy(src * 100, np.array([[0.001, 0.0], [0.0, 5.0]]))["src2tgt"] == 1.0


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        retrieval_accuracy(np.zeros((3, 4)), np.zeros((2, 4)))


SENTENCES = ["a cat sat", "the dog ran far away today", "hello", "a bird sang a very long song today",
             "cats and dogs", "far away"]


@pytest.fixture(scope="module")
def tiny_encoder():
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=0)
    return BertModel(config).eval(), tokenizer


def test_embed_shape_and_order_invariance(tiny_encoder):
    from stages.xlt.tasks.retrieval import embed

    model, tokenizer = tiny_encoder
    full = embed(model, tokenizer, SENTENCES, batch_size=2)
    assert full.shape == (len(SENTENCES), 32) and full.dtype == np.float32
    reordered = embed(model, tokenizer, SENTENCES[::-1], batch_size=4)
    np.testing.assert_allclose(reordered[::-1], full, atol=1e-5)
    one_by_one = np.stack([embed(model, tokenizer, [s], batch_size=1)[0] for s in SENTENCES])
    np.testing.assert_allclose(one_by_one, full, atol=1e-5)  # padding does not leak into the mean
    assert not np.allclose(full[0], full[1])


def test_embed_layer_and_pooling_options(tiny_encoder):
    from stages.xlt.tasks.retrieval import embed

    model, tokenizer = tiny_encoder
    last = embed(model, tokenizer, SENTENCES, layer=-1)
    first = embed(model, tokenizer, SENTENCES, layer=0)
    cls = embed(model, tokenizer, SENTENCES, pooling="cls")
    assert not np.allclose(last, first) and not np.allclose(last, cls)
    assert embed(model, tokenizer, SENTENCES, layer=2).tolist() == last.tolist()  # 2 layers: index 2 is the last
    with pytest.raises(ValueError):
        embed(model, tokenizer, SENTENCES, pooling="max")
    with pytest.raises(ValueError, match="layer 14"):
        embed(model, tokenizer, SENTENCES, layer=14)

"""Retrieval accuracy (``tasks/retrieval.py``) and the sentence embeddings it ranks
(``inference.sentence_embeddings``)."""

import re

import numpy as np
import pytest

from stages.xlt.tasks.retrieval import retrieval_hits


def retrieval_accuracy(src_emb: np.ndarray, tgt_emb: np.ndarray) -> dict[str, float]:
    """The accuracy of each direction (what the score rows average): a reference built on ``retrieval_hits``."""
    return {direction: float(hits.mean()) for direction, hits in retrieval_hits(src_emb, tgt_emb).items()}


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


@pytest.mark.parametrize(("src", "tgt"), [((3, 4), (2, 4)), ((3, 4), (3, 5)), ((0, 4), (0, 4)), ((4,), (4,))],
                         ids=["rows", "columns", "empty", "one-dimensional"])
def test_misshapen_embeddings_raise_naming_both_shapes(src, tgt):
    with pytest.raises(ValueError, match=rf"two non-empty aligned matrices of the same shape, got "
                                         rf"{re.escape(str(src))} and {re.escape(str(tgt))}"):
        retrieval_accuracy(np.ones(src), np.ones(tgt))


try:
    from test_training_tiny import single_thread
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import single_thread

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)

SENTENCES = ["a cat sat", "the dog ran far away today", "hello", "a bird sang a very long song today",
             "cats and dogs", "far away"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("torch")
    try:
        from test_training_tiny import build_tiny_encoder
    except ImportError:  # tests/ imported as a package
        from tests.test_training_tiny import build_tiny_encoder
    from stages.xlt.modeling.multitask import MultiTaskModel

    folder = build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=0)
    # No heads: retrieval reads the encoder's states. Embeddings and layer 0 frozen, as an intermediate model that
    # was trained above them, so cached bottom states after 1 layer fit it.
    return MultiTaskModel(folder, {}, freeze_embeddings=True, freeze_layers=1)


def test_embeddings_shape_and_order_invariance(model):
    from stages.xlt.inference import sentence_embeddings

    full = sentence_embeddings(model, SENTENCES, batch_size=2)
    assert full.shape == (len(SENTENCES), 32) and full.dtype == np.float32
    reordered = sentence_embeddings(model, SENTENCES[::-1], batch_size=4)
    np.testing.assert_allclose(reordered[::-1], full, atol=1e-5)
    one_by_one = np.stack([sentence_embeddings(model, [s], batch_size=1)[0] for s in SENTENCES])
    np.testing.assert_allclose(one_by_one, full, atol=1e-5)  # padding does not leak into the mean
    assert not np.allclose(full[0], full[1])


def test_embeddings_layer_and_pooling_options(model):
    from stages.xlt.inference import sentence_embeddings

    last = sentence_embeddings(model, SENTENCES, layer=-1)
    first = sentence_embeddings(model, SENTENCES, layer=1)
    cls = sentence_embeddings(model, SENTENCES, pooling="cls")
    assert not np.allclose(last, first) and not np.allclose(last, cls)
    assert sentence_embeddings(model, SENTENCES, layer=2).tolist() == last.tolist()  # 2 layers: layer 2 is the last
    with pytest.raises(ValueError, match="pooling"):
        sentence_embeddings(model, SENTENCES, pooling="max")
    for layer in (0, 14):
        with pytest.raises(ValueError, match=f"layer {layer}"):
            sentence_embeddings(model, SENTENCES, layer=layer)


def test_embeddings_ignore_training_mode(model):
    from stages.xlt.inference import sentence_embeddings

    reference = sentence_embeddings(model, SENTENCES)
    model.train()  # dropout on: embeddings must still be the eval-mode ones
    try:
        np.testing.assert_array_equal(sentence_embeddings(model, SENTENCES), reference)
        assert model.training  # and the mode is handed back
    finally:
        model.eval()


def test_embeddings_from_cached_bottom_states_equal_the_full_forward(model):
    from stages.xlt.inference import sentence_embeddings, sentence_features
    from stages.xlt.modeling import prefix

    features = sentence_features(model.tokenizer, SENTENCES)
    store = prefix.compute(model.encoder, features, 1, pad_token_id=model.tokenizer.pad_token_id)
    for layer, pooling in ((-1, "mean"), (1, "mean"), (2, "cls")):
        full = sentence_embeddings(model, SENTENCES, layer=layer, pooling=pooling)
        cached = sentence_embeddings(model, SENTENCES, layer=layer, pooling=pooling, prefix=store)
        np.testing.assert_allclose(cached, full, atol=1e-5)
    with pytest.raises(ValueError, match="cached"):
        sentence_embeddings(model, SENTENCES[::-1], prefix=store)  # other inputs than the states were made from

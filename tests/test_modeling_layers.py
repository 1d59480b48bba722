"""The encoder's forward cut at a layer (``modeling/layers.py``): ``top(bottom(x, k), k) == full(x)`` for every k,
and both equal transformers' own forward, for BERT (e5's architecture) and XLM-R's (position ids counted from the
padding id, no segment ids)."""

from __future__ import annotations

import pytest
import torch

try:
    from test_training_tiny import build_tiny_encoder, build_tiny_xlmr, qa_examples, single_thread
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import build_tiny_encoder, build_tiny_xlmr, qa_examples, single_thread

from stages.xlt.modeling import layers
from stages.xlt.modeling.multitask import load_base
from stages.xlt.tasks.collate import collate

ATOL = 1e-5
BUILDERS = {"bert": build_tiny_encoder, "xlmr": build_tiny_xlmr}

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def encoder(request, tmp_path_factory):
    folder = BUILDERS[request.param](tmp_path_factory.mktemp(request.param), seed=2, layers=3)
    encoder, tokenizer = load_base(folder)
    return request.param, encoder.eval(), tokenizer


@pytest.fixture(scope="module")
def batch(encoder):
    """Question-context pairs of different lengths, right-padded: the mask and the padding really matter."""
    _, _, tokenizer = encoder
    examples = qa_examples(5, seed=4, min_words=3, max_words=30)
    encoded = tokenizer([e["question"] for e in examples], [e["context"] for e in examples], truncation=True,
                        max_length=64)
    rows = [{k: encoded[k][i] for k in tokenizer.model_input_names if k != "attention_mask"}
            for i in range(len(examples))]
    out = collate(rows, tokenizer.pad_token_id)
    assert out["attention_mask"].sum(1).unique().numel() > 1  # several lengths in one padded batch
    return out


def test_bottom_then_top_equals_full_and_transformers_forward(encoder, batch):
    name, model, tokenizer = encoder
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
    assert (types is not None) == (name == "bert")  # BERT's tokenizer declares segment ids, XLM-R's does not
    n = layers.layer_count(model)
    with torch.inference_mode():
        reference = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
        full = layers.full(model, ids, mask, types)
        torch.testing.assert_close(full, reference, atol=ATOL, rtol=0)
        for k in range(n + 1):
            bottom = layers.bottom(model, ids, mask, k, types)
            top = layers.run_layers(model, bottom, mask, k)
            torch.testing.assert_close(top, full, atol=ATOL, rtol=0, msg=f"{name}: cut at layer {k}")
        # Cutting twice is the same as cutting once.
        middle = layers.run_layers(model, layers.bottom(model, ids, mask, 1, types), mask, 1, 2)
        torch.testing.assert_close(layers.run_layers(model, middle, mask, 2), full, atol=ATOL, rtol=0)
        assert torch.equal(layers.bottom(model, ids, mask, 0, types), layers.embed(model, ids, types))


def test_rows_do_not_depend_on_their_batch(encoder, batch):
    """A row's states are the same alone (unpadded) as in a padded batch: what lets cached rows be re-batched."""
    _, model, _ = encoder
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
    with torch.inference_mode():
        together = layers.bottom(model, ids, mask, 2, types)
        for i in range(ids.shape[0]):
            n = int(mask[i].sum())
            alone = layers.bottom(model, ids[i:i + 1, :n], mask[i:i + 1, :n], 2,
                                  None if types is None else types[i:i + 1, :n])
            torch.testing.assert_close(alone[0], together[i, :n], atol=ATOL, rtol=0)


def test_layer_ranges_are_checked(encoder, batch):
    _, model, _ = encoder
    hidden = torch.zeros(1, 4, model.config.hidden_size)
    mask = torch.ones(1, 4, dtype=torch.long)
    for start, stop in ((2, 1), (0, 4), (-1, 2)):
        with pytest.raises(ValueError, match="do not exist"):
            layers.run_layers(model, hidden, mask, start, stop)
    assert layers.run_layers(model, hidden, mask, 3) is hidden  # nothing left to run
    with pytest.raises(ValueError, match="transformer layers"):
        layers.layer_count(torch.nn.Linear(2, 2))


def test_fingerprint_covers_exactly_the_bottom(encoder):
    _, model, _ = encoder
    prints = [layers.fingerprint(model, k) for k in range(4)]
    assert len(set(prints)) == 4  # the depth is part of what is fingerprinted
    with torch.no_grad():
        top = layers.transformer_layers(model)[2].output.dense.weight
        saved = top.clone()
        top.add_(1.0)  # a layer above depth 2: the bottom's states do not change
        assert [layers.fingerprint(model, k) for k in range(3)] == prints[:3]
        assert layers.fingerprint(model, 3) != prints[3]
        top.copy_(saved)
        embeddings = model.embeddings.word_embeddings.weight
        saved = embeddings[5, 0].clone()
        embeddings[5, 0] += 1e-3  # one number of the embeddings: every depth's states change
        assert all(layers.fingerprint(model, k) != prints[k] for k in range(4))
        embeddings[5, 0] = saved
    assert [layers.fingerprint(model, k) for k in range(4)] == prints
    names = layers.frozen_parameters(model, 1)
    assert any(k.startswith("embeddings.") for k in names) and any(k.startswith("encoder.layer.0.") for k in names)
    assert not any(k.startswith("encoder.layer.1.") for k in names)

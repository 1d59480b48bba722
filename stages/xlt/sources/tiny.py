"""A small, randomly initialised BERT encoder (same family as multilingual-e5-small) for fast pipeline runs."""

from __future__ import annotations

from typing import Any

import numpy as np

TINY_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
             "max_position_embeddings")


def tiny_config_kwargs(tiny: dict[str, Any], *, vocab_size: int, pad_id: int, bos_id: int, eos_id: int) -> dict:
    """BertConfig arguments for the `tiny` profile dict (head-neutral: no labels)."""
    missing = [k for k in TINY_KEYS if k not in tiny]
    unknown = sorted(set(tiny) - set(TINY_KEYS))
    if missing or unknown:
        raise ValueError(f"tiny encoder config: missing keys {missing}, unknown keys {unknown}; "
                         f"fix: give exactly {list(TINY_KEYS)}")
    sizes = {k: int(tiny[k]) for k in TINY_KEYS}
    if sizes["hidden_size"] % sizes["num_attention_heads"]:
        raise ValueError(f"tiny encoder config: hidden_size {sizes['hidden_size']} is not a multiple of "
                         f"num_attention_heads {sizes['num_attention_heads']}; fix one of them")
    return dict(vocab_size=vocab_size, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu",
                pad_token_id=pad_id, bos_token_id=bos_id, eos_token_id=eos_id, **sizes)


def tiny_state_dict(config_kwargs: dict, seed: int) -> dict[str, np.ndarray]:
    """BertModel weights initialised from ``seed`` (seeded before the model is built; global RNG left untouched)."""
    import torch
    from transformers import BertConfig, BertModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertModel(BertConfig(**config_kwargs), add_pooling_layer=False)
    return {name: tensor.detach().to(torch.float32).numpy().copy() for name, tensor in model.state_dict().items()}

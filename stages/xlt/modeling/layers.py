"""The encoder's forward pass cut at a layer boundary: embeddings + layers [0, k) ("bottom"), layers [k, n) ("top").

With the embeddings and the bottom k layers frozen, the bottom's output for an input is a pure function of its tokens:
it can be computed once, stored, and shared by every model that starts from the same base encoder and freezes the
same layers (every arm and seed of the study). ``top`` continues exactly where ``bottom`` stopped, so
``top(bottom(x, k), k) == full(x)`` up to float rounding (tested). The pieces are transformers' own modules
(``embeddings``, ``encoder.layer[i]``) and mask builder, so BERT (e5) and XLM-R behave exactly as in their ``forward``.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from . import flops
from .flops import LEDGER


def transformer_layers(encoder: nn.Module) -> nn.ModuleList:
    layers = getattr(getattr(encoder, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"cannot find the transformer layers of {type(encoder).__name__} (expected .encoder.layer)")
    return layers


def layer_count(encoder: nn.Module) -> int:
    return len(transformer_layers(encoder))


def _mask(encoder: nn.Module, attention_mask: torch.Tensor, hidden: torch.Tensor):
    """The attention mask in the form the layers expect (4-D, per attention implementation), as ``forward`` builds it."""
    mask, _ = encoder._create_attention_masks(attention_mask=attention_mask, encoder_attention_mask=None,
                                              embedding_output=hidden, encoder_hidden_states=None, cache=None)
    return mask


def run_layers(encoder: nn.Module, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int,
               stop: int | None = None) -> torch.Tensor:
    """Layers [start, stop) applied to ``hidden`` (the output of layer start - 1, or the embeddings when start is 0)."""
    layers = transformer_layers(encoder)
    stop = len(layers) if stop is None else stop
    if not 0 <= start <= stop <= len(layers):
        raise ValueError(f"layers [{start}, {stop}) do not exist: the encoder has {len(layers)}")
    if start == stop:
        return hidden
    LEDGER.started()
    input_gradient = hidden.requires_grad
    mask = _mask(encoder, attention_mask, hidden)
    for layer in layers[start:stop]:
        hidden = layer(hidden, mask)
    _count(encoder, layers[start:stop], attention_mask, hidden, input_gradient)
    return hidden


def _count(encoder: nn.Module, ran: nn.ModuleList, attention_mask: torch.Tensor, hidden: torch.Tensor,
           input_gradient: bool) -> None:
    """Add this call's useful FLOPs to the process's ledger (``flops.py``), from the real tokens of every row: every
    layer forward and, with gradients on, the backward each layer will run (its weights trained or not, a gradient
    flowing into it from below or not)."""
    if attention_mask.dim() == 2:
        lengths = attention_mask.sum(dim=1)
        tokens, squared = int(lengths.sum()), int((lengths * lengths).sum())
    else:  # an already expanded mask: every position counts
        rows, length = hidden.shape[0], hidden.shape[1]
        tokens, squared = rows * length, rows * length * length
    width = hidden.shape[-1]
    ffn = getattr(encoder.config, "intermediate_size", 4 * width)
    backward, flowing = 0, input_gradient
    if torch.is_grad_enabled():
        for layer in ran:
            trained = any(p.requires_grad for p in layer.parameters())
            backward += flops.layer_backward_flops(tokens, squared, width, ffn, weights=trained, inputs=flowing)
            flowing = flowing or trained
    LEDGER.add(len(ran) * flops.layer_forward_flops(tokens, squared, width, ffn), backward, len(ran) * tokens)


def embed(encoder: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    return encoder.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)


def bottom(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, depth: int,
           token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Hidden states after the first ``depth`` layers (the embeddings when depth is 0)."""
    return run_layers(encoder, embed(encoder, input_ids, token_type_ids), attention_mask, 0, depth)


def full(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
         token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    return bottom(encoder, input_ids, attention_mask, layer_count(encoder), token_type_ids)


def frozen_parameters(encoder: nn.Module, depth: int, embeddings: bool = True) -> dict[str, torch.Tensor]:
    """The parameters that decide the bottom's output: embeddings (unless ``embeddings`` is False) and layers
    [0, depth)."""
    names = {f"encoder.layer.{i}." for i in range(depth)}
    return {name: p for name, p in encoder.named_parameters()
            if (embeddings and name.startswith("embeddings.")) or any(name.startswith(prefix) for prefix in names)}


_FINGERPRINTS: dict[tuple, tuple[list[torch.Tensor], str]] = {}


def fingerprint(encoder: nn.Module, depth: int, embeddings: bool = True) -> str:
    """sha256 over the bottom's parameters (names, shapes, bytes): two models whose fingerprints agree compute the
    same bottom states, so cached states of one are valid for the other. ``embeddings=False`` leaves the embeddings
    out (a delta that holds trained embeddings relies on the base's layers only).

    Memoised per process by tensor identity and version counter: models built from one cached base share its frozen
    tensors (``multitask.load_base``), so e5's 96M-parameter embedding matrix is hashed once, not once per model. The
    memo keeps the tensors alive, so an identity cannot be reused by another tensor; an in-place change bumps the
    version and misses the memo."""
    params = frozen_parameters(encoder, depth, embeddings)
    key = (depth, embeddings, tuple((name, id(p), p._version) for name, p in sorted(params.items())))
    if key in _FINGERPRINTS:
        return _FINGERPRINTS[key][1]
    value = _digest(params, depth, embeddings)
    _FINGERPRINTS[key] = (list(params.values()), value)
    return value


def _digest(params: dict[str, torch.Tensor], depth: int, embeddings: bool) -> str:
    digest = hashlib.sha256(f"depth={depth}".encode() if embeddings else f"depth={depth},no-embeddings".encode())
    for name, tensor in sorted(params.items()):
        data = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(data.shape)}".encode())
        digest.update(data.numpy().tobytes())
    return digest.hexdigest()

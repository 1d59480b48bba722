"""The FLOP model (stages/xlt/modeling/flops.py) against torch's own FLOP counter, which counts every matrix product
that actually runs: on a layer stack with eager attention (whose products torch can see), forward and backward, with
and without trained layers and input gradients, the ledger that ``layers.run_layers`` fills must agree exactly."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import BertConfig, BertModel

from stages.xlt.modeling import layers
from stages.xlt.modeling.flops import LEDGER, layer_forward_flops

HIDDEN, FFN, LENGTH = 32, 48, 10


@pytest.fixture
def encoder() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=HIDDEN, num_hidden_layers=3, num_attention_heads=2,
                        intermediate_size=FFN, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        attn_implementation="eager")
    return BertModel(config, add_pooling_layer=False)


def counted(run) -> tuple[int, int]:
    """(torch's FLOP count, the ledger's useful FLOPs) of ``run``."""
    LEDGER.reset()
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops(), LEDGER.forward_flops + LEDGER.backward_flops


def test_forward_matches_torch_and_the_formula(encoder: BertModel) -> None:
    hidden, mask = torch.randn(1, LENGTH, HIDDEN), torch.ones(1, LENGTH, dtype=torch.long)
    with torch.inference_mode():
        torch_flops, ours = counted(lambda: layers.run_layers(encoder, hidden, mask, 1))
    assert ours == torch_flops == 2 * layer_forward_flops(LENGTH, LENGTH**2, HIDDEN, FFN)
    assert LEDGER.backward_flops == 0 and LEDGER.token_layers == 2 * LENGTH


@pytest.mark.parametrize(("frozen", "input_gradient"), [(1, False), (0, False), (1, True), (3, True)])
def test_forward_and_backward_match_torch(encoder: BertModel, frozen: int, input_gradient: bool) -> None:
    """frozen=1 without input gradient: the cached-bottom training path (a frozen layer, then trained ones);
    input gradient with frozen layers: gradients pass through layers that have no weights to train."""
    for i, layer in enumerate(layers.transformer_layers(encoder)):
        layer.requires_grad_(i >= frozen)
    encoder.train()
    hidden = torch.randn(2, LENGTH, HIDDEN, requires_grad=input_gradient)
    mask = torch.ones(2, LENGTH, dtype=torch.long)
    torch_flops, ours = counted(lambda: layers.run_layers(encoder, hidden, mask, 0).sum().backward())
    assert ours == torch_flops
    assert LEDGER.backward_flops > 0


def test_padding_is_not_useful_work(encoder: BertModel) -> None:
    rows = [torch.randn(1, n, HIDDEN) for n in (LENGTH, 4)]
    with torch.inference_mode():
        separate = sum(counted(lambda r=r: layers.run_layers(encoder, r, torch.ones(1, r.shape[1]), 0))[1]
                       for r in rows)
        padded = torch.zeros(2, LENGTH, HIDDEN)
        padded[0], padded[1, :4] = rows[0][0], rows[1][0]
        mask = torch.tensor([[1] * LENGTH, [1] * 4 + [0] * (LENGTH - 4)])
        _, together = counted(lambda: layers.run_layers(encoder, padded, mask, 0))
    assert together == separate


def test_the_ledger_times_its_first_and_last_layer_call(encoder: BertModel) -> None:
    LEDGER.reset()
    assert LEDGER.totals()["first_layer_started"] is None
    with torch.inference_mode():
        for _ in range(2):
            layers.run_layers(encoder, torch.randn(1, 4, HIDDEN), torch.ones(1, 4), 0)
    totals = LEDGER.totals()
    assert totals["first_layer_started"] <= totals["last_layer_finished"]
    assert totals["useful_flops"] == 2 * 3 * layer_forward_flops(4, 16, HIDDEN, FFN)

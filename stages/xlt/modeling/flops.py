"""The useful arithmetic of the encoder's layers, counted from the tokens they process: the FLOP model behind the
per-stage table's "useful GFLOP" and utilisation (tests/benchmarks/time_stages.py).

One transformer layer over a sequence of L real tokens, hidden size H and feed-forward size F, a multiply-add
counted as 2 FLOPs:

* query, key, value and output projections: 4 x 2LH^2 = 8LH^2;
* attention scores QK^T and their weighted sum of V, over all heads: 2 x 2L^2H = 4L^2H;
* the feed-forward pair H -> F -> H: 2 x 2LHF = 4LHF.

Softmax, layer norms, GELU, biases and the embedding lookup are elementwise (O(LH)) and left out, and so are the
task heads (at most 2H x labels per token: under 0.1% of a layer for e5-small) and the optimiser (about 10 FLOPs per
trained parameter and step, under 0.2% of a training step). Padding is not useful work: only the attention mask's
real tokens count.

Backward, per layer: the gradients of attention scores and context (2 x 4L^2H) whenever a gradient passes through the
layer; its weights' gradients (8LH^2 + 4LHF) if it is trained; its input's gradient (8LH^2 + 4LHF) if something below
it is trained, else all of it but the query, key and value projections' (6LH^2 less). A trained layer above a frozen,
cached bottom thus costs twice its forward minus 6LH^2, the layers above it twice their forward, and frozen layers
below the first trained one nothing. Layers whose states come from the cache (``prefix.py``) cost nothing where they
are read, only in the stage that computed them. (Checked against torch's own FLOP counter on eager attention,
forward and backward: tests/test_modeling_flops.py.)

``LEDGER`` is the process's running total; ``layers.run_layers`` adds to it, so every caller (prefix stages,
training, evaluation, the attack) is counted without knowing about it. Nothing here imports torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def layer_forward_flops(tokens: int, squared_tokens: int, hidden: int, ffn: int) -> int:
    """Forward FLOPs of ONE layer over a batch of sequences with ``tokens`` = sum of their real lengths L and
    ``squared_tokens`` = sum of L^2 (the attention term is quadratic in each sequence's own length)."""
    return _linear(tokens, hidden, ffn) + _attention(squared_tokens, hidden)


def layer_backward_flops(tokens: int, squared_tokens: int, hidden: int, ffn: int, *, weights: bool,
                         inputs: bool) -> int:
    """Backward FLOPs of ONE layer: ``weights``, its weights are trained; ``inputs``, its input needs a gradient
    (a layer below it is trained)."""
    if not (weights or inputs):
        return 0
    linear = _linear(tokens, hidden, ffn)
    input_gradient = linear if inputs else linear - 6 * hidden * hidden * tokens
    return 2 * _attention(squared_tokens, hidden) + (linear if weights else 0) + input_gradient


def _linear(tokens: int, hidden: int, ffn: int) -> int:
    return (8 * hidden * hidden + 4 * hidden * ffn) * tokens


def _attention(squared_tokens: int, hidden: int) -> int:
    return 4 * hidden * squared_tokens


@dataclass
class Ledger:
    forward_flops: int = 0
    backward_flops: int = 0
    token_layers: int = 0  # real tokens x layers they went through, forward
    first_started: float | None = None  # time.time() when the first counted layer call began
    last_finished: float | None = None  # ... and when the last one ended

    def started(self) -> float:
        now = time.time()
        if self.first_started is None:
            self.first_started = now
        return now

    def add(self, forward_flops: int, backward_flops: int, token_layers: int) -> None:
        self.forward_flops += forward_flops
        self.backward_flops += backward_flops
        self.token_layers += token_layers
        self.last_finished = time.time()

    def totals(self) -> dict:
        return {"forward_flops": self.forward_flops, "backward_flops": self.backward_flops,
                "useful_flops": self.forward_flops + self.backward_flops, "token_layers": self.token_layers,
                "first_layer_started": self.first_started, "last_layer_finished": self.last_finished}

    def reset(self) -> None:
        self.__init__()


LEDGER = Ledger()

"""The paper profile's speed on your hardware: training and inference tokens/s of the paper encoder, the model-FLOP
utilisation (MFU) they amount to, and the profile's per-stage GPU hours at that MFU (``gpu_estimate.py``).

    python tests/benchmarks/bench_gpu.py                       # XLM-R Large's architecture, random weights
    python tests/benchmarks/bench_gpu.py --batch 4 --length 256 --json out.json   # the intermediate batch
    python tests/benchmarks/gpu_estimate.py                    # the estimate alone, at a stated MFU (no GPU needed)

Speed does not depend on the weights, so the model is built from XLM-R Large's configuration (hidden 1024, 24 layers,
16 heads, FFN 4096, vocabulary 250,002) with random weights: nothing is downloaded. What it measures is what the
pipeline uses on a GPU: bf16 autocast where supported, PyTorch's scaled-dot-product attention, fused AdamW,
optional gradient checkpointing, and token-bounded inference batches. MFU = measured tokens/s x FLOPs per
token (``gpu_estimate.forward_flops_per_token``: 3x for training) / the device's dense BF16 peak (``--peak-tflops``;
H200/H100 SXM: 989). The per-stage table is ``gpu_estimate.py``'s FLOP count at the measured training MFU, so it is
as good as that module's stated lengths and sizes. On a CPU it runs too (``--tiny`` for a smoke test).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

XLMR_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  vocab_size=250002, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                  pad_token_id=1, bos_token_id=0, eos_token_id=2)
TINY = dict(XLMR_LARGE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            vocab_size=1000)


def build(config: dict, device: torch.device):
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(**config, attn_implementation="sdpa")
    model = XLMRobertaModel(config, add_pooling_layer=False).to(device)
    head = torch.nn.Linear(config.hidden_size, 2).to(device)
    return model, head, config


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_speed(model, head, config, device, *, batch: int, length: int, steps: int, bf16: bool,
                checkpointing: bool) -> float:
    """Training tokens/s: forward, QA-style loss, backward, fused AdamW step."""
    if checkpointing:
        model.gradient_checkpointing_enable()
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=device.type == "cuda")
    ids = torch.randint(5, config.vocab_size, (batch, length), device=device)
    mask = torch.ones_like(ids)
    target = torch.randint(0, length, (batch,), device=device)
    model.train()
    enabled = bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported()

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled):
            logits = head(model(input_ids=ids, attention_mask=mask).last_hidden_state)
            loss = torch.nn.functional.cross_entropy(logits[..., 0].float(), target)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up (kernel selection, allocator)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    if checkpointing:
        model.gradient_checkpointing_disable()
    return steps * batch * length / (time.perf_counter() - start)


def inference_speed(model, config, device, *, tokens_per_batch: int, length: int, batches: int, bf16: bool) -> float:
    batch = max(1, tokens_per_batch // length)
    ids = torch.randint(5, config.vocab_size, (batch, length), device=device)
    mask = torch.ones_like(ids)
    model.eval()
    enabled = bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported()
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled):
        model(input_ids=ids, attention_mask=mask)
        _sync(device)
        start = time.perf_counter()
        for _ in range(batches):
            model(input_ids=ids, attention_mask=mask)
        _sync(device)
    return batches * batch * length / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "stages" / "presets" / "paper.yaml")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=384)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a tiny model (smoke test on any machine)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense BF16 peak")
    args = parser.parse_args(argv)
    from gpu_estimate import forward_flops_per_token, report

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, head, config = build(TINY if args.tiny else XLMR_LARGE, device)
    bf16 = not args.no_bf16
    train = train_speed(model, head, config, device, batch=args.batch, length=args.length, steps=args.steps,
                        bf16=bf16, checkpointing=args.checkpointing)
    infer = inference_speed(model, config, device, tokens_per_batch=65536 if device.type == "cuda" else 2048,
                            length=args.length, batches=args.steps, bf16=bf16)
    shape = {"hidden": config.hidden_size, "ffn": config.intermediate_size, "layers": config.num_hidden_layers}
    per_token = forward_flops_per_token(args.length, shape)
    peak = args.peak_tflops * 1e12
    train_mfu = train * (4 if args.checkpointing else 3) * per_token / peak
    infer_mfu = infer * per_token / peak
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "model": "tiny" if args.tiny else "xlm-roberta-large (random weights)", "bf16": bf16,
              "gradient_checkpointing": args.checkpointing, "batch": args.batch, "length": args.length,
              "train_tokens_per_s": round(train), "inference_tokens_per_s": round(infer),
              "train_mfu": round(train_mfu, 4), "inference_mfu": round(infer_mfu, 4),
              "peak_tflops": args.peak_tflops}
    print(json.dumps(result, indent=2))
    if not args.tiny and train_mfu > 0:
        print(report(args.params, [train_mfu], markdown=True))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

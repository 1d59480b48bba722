"""The paper profile's speed on your hardware: training and inference tokens/s of the paper encoder, and an
estimate of the profile's GPU hours.

    python tests/benchmarks/bench_gpu.py                       # XLM-R Large's architecture, random weights
    python tests/benchmarks/bench_gpu.py --params stages/presets/paper.yaml --json out.json

Speed does not depend on the weights, so the model is built from XLM-R Large's configuration (hidden 1024, 24 layers,
16 heads, FFN 4096, vocabulary 250,002) with random weights: nothing is downloaded. What it measures is what the
pipeline uses on a GPU: bf16 autocast where supported, PyTorch's scaled-dot-product attention, fused AdamW,
optional gradient checkpointing, and token-bounded inference batches. The estimate multiplies the measured tokens/s
by the tokens the profile processes (training steps x batch x the tasks' typical lengths, for every arm, seed and
fine-tuning task; inference over every test set, condition, arm and seed), so it is as good as those lengths (README).
On a CPU it runs too (``--tiny`` for a smoke test).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

XLMR_LARGE = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  vocab_size=250002, max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                  pad_token_id=1, bos_token_id=0, eos_token_id=2)
TINY = dict(XLMR_LARGE, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
            vocab_size=1000)
# Typical tokens per training feature / test item of each task (XLM-R tokenizer), for the estimate.
TRAIN_TOKENS = {"qa": 230, "classification": 60, "multiple_choice": 4 * 60}
TEST_TOKENS = {"qa": 230, "classification": 60, "retrieval": 20}


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


def profile_tokens(params_path: Path) -> dict[str, float]:
    """Training and inference tokens of a profile (see TRAIN_TOKENS / TEST_TOKENS for the lengths assumed)."""
    from stages.params import validate
    from stages.xlt.tasks import registry

    params = validate(yaml.safe_load(params_path.read_text(encoding="utf-8")), params_path)
    seeds, arms = len(params.seeds), params.intermediate.arms
    train = 0.0
    for name in arms:
        arm = params.intermediate.arm(name)
        cfg = params.intermediate.train
        if arm.tasks:
            mix = [TRAIN_TOKENS[registry.intermediate_task(t).family] for t in arm.tasks]
            train += cfg.max_steps * cfg.batch_size * cfg.grad_accum_steps * sum(mix) / len(mix)
        for task in params.transfer.targets:
            ft = params.transfer.train_for(task)
            steps = ft.max_steps + (cfg.max_steps if arm.compute_matched else 0)
            train += steps * ft.batch_size * ft.grad_accum_steps * TRAIN_TOKENS[registry.finetune_task(task).family]
    # Test sizes of the Hub sets (XTREME): XQuAD 1,190; MLQA ~5,000 per language; XNLI 5,010; PAWS-X 2,000;
    # Tatoeba 1,000 pairs.
    sizes = {"xquad": 1190, "mlqa": 5000, "xnli": 5010, "pawsx": 2000, "tatoeba": 2000, "tydiqa": 1000, "bucc": 2000}
    test = 0.0
    for target, langs in params.evaluate.targets.items():
        spec = registry.target(target)
        conditions = 1 + len(params.conditions_for(target))
        test += sizes[target] * len(langs) * conditions * TEST_TOKENS[spec.family]
    return {"train_tokens": train * seeds, "test_tokens": test * seeds * len(arms)}


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
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model, head, config = build(TINY if args.tiny else XLMR_LARGE, device)
    bf16 = not args.no_bf16
    train = train_speed(model, head, config, device, batch=args.batch, length=args.length, steps=args.steps,
                        bf16=bf16, checkpointing=args.checkpointing)
    infer = inference_speed(model, config, device, tokens_per_batch=65536 if device.type == "cuda" else 2048,
                            length=args.length, batches=args.steps, bf16=bf16)
    tokens = profile_tokens(args.params)
    hours = tokens["train_tokens"] / train / 3600 + tokens["test_tokens"] / infer / 3600
    result = {"device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
              "model": "tiny" if args.tiny else "xlm-roberta-large (random weights)", "bf16": bf16,
              "gradient_checkpointing": args.checkpointing, "batch": args.batch, "length": args.length,
              "train_tokens_per_s": round(train), "inference_tokens_per_s": round(infer), **tokens,
              "estimated_device_hours": round(hours, 2)}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

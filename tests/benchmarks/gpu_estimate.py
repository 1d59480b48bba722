"""The paper profile's GPU time per stage, by FLOP count: tokens x layers x widths, at a stated model-FLOP
utilisation (MFU) of one GPU's dense bf16 peak.

    python tests/benchmarks/gpu_estimate.py                         # paper preset, H200, MFU 35% and 45%
    python tests/benchmarks/gpu_estimate.py --mfu 0.40 --markdown   # one MFU, a README table

What is counted (per token, XLM-R Large: hidden h = 1024, FFN f = 4096, 24 layers; L = the padded length):
forward = layers x (8 h^2 + 4 h f + 4 L h) FLOPs (QKV and output projections, the FFN, attention scores and
values; embeddings are lookups and the heads are negligible); training = 3 x forward (backward twice the forward),
4 x with gradient checkpointing. Where tokens come from: the preset's lengths (epochs or steps, batches, compute
matching, dev evaluations every select_every steps), the pinned data sets' sizes (``DATA``: training examples per
task, test items per language; from the data sets' cards and papers) and typical lengths in XLM-R tokens
(``DATA``: assumptions, not measurements; stated so they can be checked). Evaluation runs every condition on every
item (an upper bound: unchanged items reuse their clean predictions); the attack assumes ``ATTACK_QUERIES`` forward
passes per attacked item. What is not counted: data loading, tokenisation, the optimizer step (memory-bound, about
2% of a step at these batches) and process start-up.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

H200_BF16_DENSE = 989e12  # FLOP/s, NVIDIA's dense (no sparsity) BF16 Tensor Core figure for H200 SXM (= H100 SXM)
XLMR_LARGE = {"hidden": 1024, "ffn": 4096, "layers": 24}
ATTACK_QUERIES = 40  # forward passes per attacked item: word importance (~15 words) + <= 3 words x ~8 candidates


@dataclass(frozen=True)
class Data:
    examples: int  # training examples (train split) or test items per language
    tokens: float  # typical XLM-R tokens per feature (per choice set for multiple choice: all choices)
    windows: float = 1.0  # features per example (QA: sliding windows at the profile's length)


# Training sets (English) at their pinned revisions, and typical lengths (assumed; see the module docstring).
TRAIN = {
    "squad": Data(87_599, 175, windows=1.05),  # SQuAD v1.1 train; ~1.05 windows at 384/128 (more at 256: below)
    "mnli": Data(392_702, 45),
    "anli": Data(162_865, 90),  # rounds 1-3: 16,946 + 45,460 + 100,459
    "qqp": Data(363_846, 35),
    "sst2": Data(67_349, 25),
    "hellaswag": Data(39_905, 4 * 60),
    "commonsenseqa": Data(9_741, 5 * 25),
    "cosmosqa": Data(25_262, 4 * 110),
    "pawsx": Data(49_175, 60),  # google/xtreme PAWS-X.en train
    # TyDiQA-GoldP's English train: the 'english-' rows of google/xtreme tydiqa/train (49,881 rows in nine languages);
    # 3,696 as remembered from XTREME's Table 1, not checked here; gold passages as long as SQuAD's (assumed)
    "tydiqa": Data(3_696, 175, windows=1.05),
    "udpos": Data(21_253, 35),  # google/xtreme udpos.English train (XTREME's English treebanks), ~25 words
    "panx": Data(20_000, 25),  # google/xtreme PAN-X.en train, ~12 words
}
# Windows per question by max length (doc stride 128), assumed, where a task's length matters: SQuAD's paragraphs.
WINDOWS_AT = {"squad": {256: 1.25, 384: 1.05}}
# Test items per language (MLQA: the English test set is larger; its other languages about 5,000) and lengths.
TEST = {"xquad": Data(1_190, 210), "mlqa": Data(5_000, 230), "xnli": Data(5_010, 50), "pawsx": Data(2_000, 60),
        "tatoeba": Data(1_000, 15), "tydiqa": Data(1_000, 230), "bucc": Data(9_000, 30),
        "udpos": Data(1_500, 35), "panx": Data(10_000, 25)}  # tagging: sentences per language (they vary)
MLQA_EN_TEST = 11_590


def forward_flops_per_token(length: float, model: dict = XLMR_LARGE, layers: int | None = None) -> float:
    h, f = model["hidden"], model["ffn"]
    return (layers or model["layers"]) * (8 * h * h + 4 * h * f + 4 * length * h)


def train_flops(tokens_per_feature: float, features: float, checkpointing: bool = False) -> float:
    return (4 if checkpointing else 3) * features * tokens_per_feature * forward_flops_per_token(tokens_per_feature)


def _train_data(task: str, max_length: int) -> Data:
    if task not in TRAIN:
        raise ValueError(f"no size for training task {task!r}: the estimate covers the Hub tasks of the paper "
                         f"profile ({sorted(TRAIN)})")
    data = TRAIN[task]
    windows = WINDOWS_AT.get(task, {}).get(max_length, data.windows)
    return Data(data.examples, min(data.tokens, max_length), windows)


def _features(task: str, max_length: int, cap: int | None) -> float:
    data = _train_data(task, max_length)
    return min(data.examples, cap or data.examples) * data.windows


def _steps(params, train, sizes: dict[str, float], max_steps: int | None, epochs: float | None) -> int:
    from stages.xlt.training.length import steps_for_epochs

    if max_steps is not None:
        return max_steps
    return steps_for_epochs({t: max(1, round(n)) for t, n in sizes.items()}, epochs, train.effective_batch)


def _dev_flops(train, steps: int, tasks: list[str], dev_examples: int) -> float:
    if train.select_every is None:
        return 0.0
    evaluations = steps // train.select_every + (steps % train.select_every != 0)
    per_eval = sum(dev_examples * _train_data(t, train.max_seq_length).tokens *
                   forward_flops_per_token(_train_data(t, train.max_seq_length).tokens) for t in tasks)
    return evaluations * per_eval


def estimate(params) -> dict:
    """FLOPs of every stage of ``params`` (a validated Params), per run, with the runs each stage has."""
    from stages.xlt.tasks import registry

    seeds = len(params.seeds)
    inter = params.intermediate.train
    cap, dev_n = params.download.max_hub_train, params.download.max_hub_dev or 500
    rows: list[dict] = []
    intermediate_features: dict[str, float] = {}
    for arm in params.intermediate.arms:
        tasks = params.intermediate.arm(arm).tasks
        if not tasks:
            continue
        sizes = {t: _features(t, inter.max_seq_length, cap) for t in tasks}
        steps = _steps(params, inter, sizes, *params.intermediate.length(arm))
        # Proportional sampling: each task's share of the steps is its share of the features.
        total = sum(sizes.values())
        flops = sum(train_flops(_train_data(t, inter.max_seq_length).tokens,
                                steps * inter.effective_batch * n / total, inter.gradient_checkpointing)
                    for t, n in sizes.items())
        flops += _dev_flops(inter, steps, tasks, dev_n)
        intermediate_features[arm] = steps * inter.effective_batch
        rows.append({"stage": f"intermediate@{arm}", "runs": seeds, "steps": steps,
                     "features": steps * inter.effective_batch, "flops": flops})
    for arm in params.intermediate.arms:
        spec = params.intermediate.arm(arm)
        matched = 0.0
        if spec.compute_matched is True:
            matched = inter.max_steps * inter.effective_batch
        elif spec.matched_tasks:
            sizes = {t: _features(t, inter.max_seq_length, cap) for t in spec.matched_tasks}
            matched = _steps(params, inter, sizes, inter.max_steps, inter.epochs) * inter.effective_batch
        flops, steps_total, parts = 0.0, 0, []
        for task in params.finetune_targets():
            train = params.transfer.train_for(task)
            source = registry.finetune_task(task).hub.split(":")[0]  # its Hub training set's loader
            data = _train_data(source, train.max_seq_length)
            steps = _steps(params, train, {task: _features(source, train.max_seq_length, cap)},
                           train.max_steps, train.epochs) + math.ceil(matched / train.effective_batch)
            flops += train_flops(data.tokens, steps * train.effective_batch, train.gradient_checkpointing)
            flops += _dev_flops(train, steps, [source], dev_n)
            steps_total += steps
            parts.append(f"{task} {steps:,}")
        rows.append({"stage": f"transfer@{arm}", "runs": seeds, "steps": steps_total, "detail": ", ".join(parts),
                     "flops": flops})
    clean, perturbed = 0.0, 0.0
    for target, langs in params.evaluate.targets.items():
        spec = registry.target(target)
        data = TEST[target]
        items = sum(MLQA_EN_TEST if (target == "mlqa" and lang == "en") else data.examples for lang in langs)
        if not spec.protocol.trainable:  # retrieval: no head, it compares the encoder's states of both sides
            depth = params.evaluate.retrieval_layer if params.evaluate.retrieval_layer > 0 else None
            per_item = 2 * data.tokens * forward_flops_per_token(data.tokens, layers=depth)  # both sides
            per_condition = data.tokens * forward_flops_per_token(data.tokens, layers=depth)  # the changed side
        else:
            per_item = per_condition = data.tokens * forward_flops_per_token(data.tokens)
        clean += items * per_item
        perturbed += items * per_condition * len(params.conditions_for(target))
    arms = len(params.intermediate.arms)
    rows.append({"stage": "evaluate_clean@<arm>-<seed>", "runs": arms * seeds, "flops": clean})
    rows.append({"stage": "evaluate_perturbed@<arm>-<seed>", "runs": arms * seeds, "flops": perturbed})
    if params.attack.enabled:
        for target in params.attack.targets:
            data = TEST[target]
            langs = len(params.evaluate.targets[target])
            flops = (arms * langs * params.attack.max_examples * ATTACK_QUERIES * data.tokens
                     * forward_flops_per_token(data.tokens))
            rows.append({"stage": f"attack@{target}", "runs": 1, "flops": flops})
    return {"rows": rows, "intermediate_features": intermediate_features}


def hours(flops: float, mfu: float, peak: float = H200_BF16_DENSE) -> float:
    return flops / (peak * mfu) / 3600


def report(params_path: Path, mfus: list[float], markdown: bool) -> str:
    from stages.params import validate

    params = validate(yaml.safe_load(params_path.read_text(encoding="utf-8")), params_path)
    result = estimate(params)
    lines = []
    head = ["stage", "runs", "steps per run", "PFLOP per run", *[f"h per run @{m:.0%}" for m in mfus],
            *[f"h total @{m:.0%}" for m in mfus]]
    if markdown:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    else:
        lines.append("  ".join(head))
    totals = [0.0] * len(mfus)
    for row in result["rows"]:
        per_run = [hours(row["flops"], m) for m in mfus]
        total = [h * row["runs"] for h in per_run]
        totals = [a + b for a, b in zip(totals, total, strict=True)]
        steps = f"{row['steps']:,}" if "steps" in row else ""
        if row.get("detail"):
            steps += f" ({row['detail']})"
        cells = [f"`{row['stage']}`", str(row["runs"]), steps, f"{row['flops'] / 1e15:,.1f}",
                 *[f"{h:,.2f}" for h in per_run], *[f"{h:,.1f}" for h in total]]
        lines.append(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))
    cells = ["**total**", "", "", "", *[""] * len(mfus), *[f"**{h:,.0f}**" for h in totals]]
    lines.append(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))
    features = result["intermediate_features"]
    if {"squad", "multi"} <= set(features):
        lines.append("")
        lines.append(f"Intermediate training features processed: multi {features['multi']:,.0f}, squad "
                     f"{features['squad']:,.0f} ({features['multi'] / features['squad']:.1f}x).")
    mfu_list = ", ".join(f"{m:.0%}" for m in mfus)
    lines.append(f"GPU: one H200 (dense BF16 peak {H200_BF16_DENSE / 1e12:.0f} TFLOP/s); MFU {mfu_list}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=REPO / "stages" / "presets" / "paper.yaml")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.35, 0.45])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if not all(0 < m <= 1 for m in args.mfu):
        parser.error("--mfu takes fractions in (0, 1], e.g. 0.35 0.45")
    print(report(args.params, args.mfu, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the two training stages share: params -> TrainConfig (a length in epochs resolved into steps), the cached
features of a training set, the English dev scorer for checkpoint selection, and a dvclive logger for training
curves."""

from __future__ import annotations

from pathlib import Path

from stages.params import SamplerParams, TrainParams


def train_config(train: TrainParams, seed: int, sampler: SamplerParams | None = None, *, max_steps: int | None = None):
    import torch

    from stages.xlt.training.config import TrainConfig

    values = train.model_dump(exclude={"checkpoint_every", "num_threads", "gradient_checkpointing", "bf16", "epochs"})
    values.update(num_threads=train.num_threads or torch.get_num_threads(), seed=seed,
                  checkpoint_every=train.checkpoint_every, gradient_checkpointing=train.gradient_checkpointing,
                  bf16=train.bf16)
    if max_steps is not None:
        values["max_steps"] = max_steps
    if values["max_steps"] is None:
        raise ValueError("a training length in epochs must be resolved into steps first (stages.training.steps)")
    if sampler is not None:
        values.update(sampler=sampler.kind, temperature=sampler.temperature, sampler_cap=sampler.cap)
    return TrainConfig(**values)


def steps(max_steps: int | None, epochs: float | None, sizes: dict[str, int], train: TrainParams) -> int:
    """A length given as steps, or as epochs over ``sizes`` (training features per task) at ``train``'s batch."""
    from stages.xlt.training.length import steps_for_epochs

    return max_steps if max_steps is not None else steps_for_epochs(sizes, epochs, train.effective_batch)


def feature_count(folder: Path, task: str) -> int:
    """Training features of ``task`` as the prefix stage wrote them (one JSON line each)."""
    with open(folder / f"{task}.features.jsonl", "rb") as handle:
        return sum(1 for _ in handle)


def dev_scorer(model, folder: Path, windows: dict[str, TrainParams]):
    """The English dev score of ``model``'s heads (mean over tasks), from the dev sets the prefix stage copied."""
    from stages.xlt.io import read_jsonl
    from stages.xlt.training.selection import dev_scorer as scorer

    missing = [t for t in windows if not (folder / f"{t}.dev.jsonl").exists()]
    if missing:
        raise ValueError(f"checkpoint selection needs English dev sets for {missing} in {folder}; fix: re-run the "
                         "download and prefix stages with download.source hub")
    return scorer(model, {t: read_jsonl(folder / f"{t}.dev.jsonl") for t in windows},
                  {t: (w.max_seq_length, w.doc_stride) for t, w in windows.items()})


def training_features(folder: Path, task: str) -> tuple[list[dict], int, str | None]:
    """A training set as the prefix stage featurised it: (features with cached states attached when there are any,
    the cache depth, the base encoder's fingerprint)."""
    from stages.xlt.io import read_jsonl
    from stages.xlt.modeling import prefix

    features = read_jsonl(folder / f"{task}.features.jsonl")
    states = folder / f"{task}.safetensors"
    if not states.exists():
        return features, 0, None
    store = prefix.load(states)
    return store.attach(features), store.depth, store.fingerprint


class DVCLiveLogger:
    """Training curves (loss, lr per task) as dvclive TSVs under plots/training/, declared as DVC plots."""

    def __init__(self, folder: Path, summary: bool = True):
        from dvclive import Live

        self.live = Live(dir=str(folder), save_dvc_exp=False, dvcyaml=None, report=None)
        self.summary = summary  # metrics.json beside the curves (off where a stage writes its own summary)

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        self.live.step = step
        for name, value in sorted(metrics.items()):
            # dvclive nests metrics on "/": "loss" and "loss/squad" would collide, so keep names flat.
            self.live.log_metric(name.replace("/", "_"), float(value))
        if self.summary:
            self.live.make_summary()

    def close(self) -> None:
        if self.summary:
            self.live.end()

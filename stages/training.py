"""What the two training stages share: params -> TrainConfig, and a dvclive logger for training curves."""

from __future__ import annotations

from pathlib import Path

from stages.xlt.params import SamplerParams, TrainParams


def train_config(train: TrainParams, seed: int, sampler: SamplerParams | None = None):
    import torch

    from stages.xlt.training.config import TrainConfig

    values = train.model_dump()
    values["num_threads"] = values["num_threads"] or torch.get_num_threads()
    values["seed"] = seed
    if sampler is not None:
        values.update(sampler=sampler.kind, temperature=sampler.temperature, sampler_cap=sampler.cap)
    return TrainConfig.from_dict(values)


class DVCLiveLogger:
    """Training curves (loss, lr per task) as dvclive TSVs under plots/training/, declared as DVC plots."""

    def __init__(self, folder: Path):
        from dvclive import Live

        self.live = Live(dir=str(folder), save_dvc_exp=False, dvcyaml=None, report=None)

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        self.live.step = step
        for name, value in sorted(metrics.items()):
            # dvclive nests metrics on "/": "loss" and "loss/squad" would collide, so keep names flat.
            self.live.log_metric(name.replace("/", "_"), float(value))
        self.live.make_summary()

    def close(self) -> None:
        self.live.end()

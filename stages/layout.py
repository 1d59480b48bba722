"""Where every stage reads and writes: the one place that spells the paths dvc.yaml also names."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RAW = DATA / "raw"  # the mirror layout: raw/xquad/xquad.<lang>.json, raw/tatoeba/v1/tatoeba.<xxx>-eng.<side>
RAW_XQUAD = RAW / "xquad"
RAW_TATOEBA = RAW / "tatoeba" / "v1"
PREPARED = DATA / "prepared"
INTERMEDIATE_DATA = PREPARED / "intermediate"  # <task>.jsonl: English intermediate tasks
TARGET_TRAIN = PREPARED / "target_train"  # qa.en.jsonl: English target-task training data
TEST = PREPARED / "test"  # xquad.<lang>.jsonl, tatoeba.<lang>.jsonl: zero-shot test sets
LEXICONS = PREPARED / "lexicons"  # <lang>-en.json: bilingual lexicons for code-switching
ENCODER = DATA / "encoder"  # the pretrained multilingual encoder as a transformers folder
PERTURBED = DATA / "perturbed"  # <condition>/xquad.<lang>.jsonl (+ tatoeba.<lang>.jsonl)
CHECKPOINTS = DATA / "checkpoints"  # resumable training state; not a DVC output, removed on success
METRICS = Path("metrics")
PLOTS = Path("plots")  # CSV plot data for `dvc plots`
FIGURES = PLOTS / "figures"  # matplotlib PNGs for the report (names depend on arms and conditions)


def provenance_of(output: Path) -> Path:
    """A small record of what made ``output``, beside it rather than inside it: stages downstream depend on the
    output alone, so a new git commit or an unrelated knob recorded here never invalidates their cache."""
    return output.with_name(output.name + ".provenance.json")


def run_name(arm: str, seed: int) -> str:
    return f"{arm}-{seed}"


def intermediate_model(arm: str, seed: int) -> Path:
    return DATA / "intermediate" / run_name(arm, seed)


def transfer_model(arm: str, seed: int) -> Path:
    return DATA / "transfer" / run_name(arm, seed)


def predictions(arm: str, seed: int) -> Path:
    """<run>/xquad/<condition>/<lang>.jsonl and <run>/tatoeba/<condition>/<lang>.jsonl."""
    return DATA / "predictions" / run_name(arm, seed)


def attacks(arm: str, seed: int) -> Path:
    return DATA / "attacks" / run_name(arm, seed)


def training_log(stage: str, arm: str, seed: int) -> Path:
    return PLOTS / "training" / stage / run_name(arm, seed)


def checkpoint(stage: str, arm: str, seed: int) -> Path:
    return CHECKPOINTS / stage / run_name(arm, seed)

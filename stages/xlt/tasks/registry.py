"""Every task of the study, declared once.

Two task sets (profiles ``tiny`` and ``small`` share the first):
* ``small``: runs offline on the mirror. ``squad`` is SQuAD-format English QA from the XQuAD articles of the
  ``intermediate`` / ``target_train`` parts of the article split (``data.split``); ``qnli`` and
  ``sentence_choice`` are derived from the intermediate articles (``data.derived``); targets ``xquad``
  (``test`` articles, 12 languages) and ``tatoeba`` (XTREME's 36 languages).
* ``paper``: the X-STILTs tasks from the Hugging Face Hub (``data.hub_tasks``), plus the same mirror copies of
  XQuAD and Tatoeba. CCG (CCGbank) is licensed through the LDC and not openly available: declared, not
  loadable. PAN-X and UD-POS (tagging) are declared but have no loader yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.xlt.languages import TATOEBA_XTREME, XQUAD_LANGUAGES

Family = Literal["qa", "classification", "multiple_choice", "retrieval", "tagging"]
Metric = Literal["em_f1", "accuracy", "retrieval_accuracy", "f1"]
Role = Literal["intermediate", "target", "both"]
Source = Literal["offline", "derived", "hub", "unavailable"]


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: Family
    metric: Metric
    languages: tuple[str, ...]
    splits: dict[str, str]  # purpose -> split name (article-split part for offline QA, Hub split otherwise)
    num_labels: int | None
    role: Role
    source: Source
    hub_id: str | None = None
    hub_config: str | None = None  # may hold "{lang}" for per-language configs
    label_names: tuple[str, ...] = ()
    notes: str = ""
    implemented: bool = True

    @property
    def derived(self) -> bool:
        return self.source == "derived"

    @property
    def offline(self) -> bool:
        return self.source in ("offline", "derived")


TATOEBA_LANGUAGES = tuple(sorted(TATOEBA_XTREME))

_XQUAD = TaskSpec("xquad", "qa", "em_f1", XQUAD_LANGUAGES, {"test": "test"}, None, "target", "offline",
                  hub_id="google/xquad", hub_config="xquad.{lang}",
                  notes="mirror JSON; test = the 'test' articles of the article split, all languages, same ids")
_TATOEBA = TaskSpec("tatoeba", "retrieval", "retrieval_accuracy", TATOEBA_LANGUAGES, {"test": "test"}, None,
                    "target", "offline", hub_id="mteb/tatoeba-bitext-mining", hub_config="{xxx}-eng",
                    notes="mirror of LASER's files; no training, nearest-neighbour xx->en (and en->xx)")

SMALL: dict[str, TaskSpec] = {
    "squad": TaskSpec("squad", "qa", "em_f1", ("en",), {"intermediate": "intermediate",
                      "target_train": "target_train"}, None, "both", "offline",
                      notes="English XQuAD articles as SQuAD v1.1 training data (XQuAD en is a SQuAD dev subset)"),
    "qnli": TaskSpec("qnli", "classification", "accuracy", ("en",), {"train": "intermediate"}, 2,
                     "intermediate", "derived", label_names=("entailment", "not_entailment"),
                     notes="data.derived.qnli_from_squad on the intermediate articles"),
    "sentence_choice": TaskSpec("sentence_choice", "multiple_choice", "accuracy", ("en",),
                                {"train": "intermediate"}, None, "intermediate", "derived",
                                notes="data.derived.sentence_choice_from_squad(k=4) on the intermediate articles"),
    "xquad": _XQUAD,
    "tatoeba": _TATOEBA,
}

_NLI3 = ("entailment", "neutral", "contradiction")
PAPER: dict[str, TaskSpec] = {
    "squad": TaskSpec("squad", "qa", "em_f1", ("en",), {"train": "train", "validation": "validation"}, None,
                      "both", "hub", hub_id="rajpurkar/squad", hub_config="plain_text"),
    "mnli": TaskSpec("mnli", "classification", "accuracy", ("en",), {"train": "train",
                     "validation": "validation_matched"}, 3, "intermediate", "hub", hub_id="nyu-mll/glue",
                     hub_config="mnli", label_names=_NLI3),
    "anli": TaskSpec("anli", "classification", "accuracy", ("en",), {"train": "train_r1+train_r2+train_r3",
                     "validation": "dev_r1+dev_r2+dev_r3"}, 3, "intermediate", "hub", hub_id="facebook/anli",
                     hub_config="plain_text", label_names=_NLI3),
    "qqp": TaskSpec("qqp", "classification", "accuracy", ("en",), {"train": "train", "validation": "validation"},
                    2, "intermediate", "hub", hub_id="nyu-mll/glue", hub_config="qqp",
                    label_names=("not_duplicate", "duplicate")),
    "sst2": TaskSpec("sst2", "classification", "accuracy", ("en",), {"train": "train", "validation": "validation"},
                     2, "intermediate", "hub", hub_id="nyu-mll/glue", hub_config="sst2",
                     label_names=("negative", "positive")),
    "hellaswag": TaskSpec("hellaswag", "multiple_choice", "accuracy", ("en",), {"train": "train",
                          "validation": "validation"}, None, "intermediate", "hub", hub_id="Rowan/hellaswag",
                          hub_config="default"),
    "commonsenseqa": TaskSpec("commonsenseqa", "multiple_choice", "accuracy", ("en",), {"train": "train",
                              "validation": "validation"}, None, "intermediate", "hub",
                              hub_id="tau/commonsense_qa", hub_config="default"),
    "cosmosqa": TaskSpec("cosmosqa", "multiple_choice", "accuracy", ("en",), {"train": "train",
                         "validation": "validation"}, None, "intermediate", "hub", hub_id="allenai/cosmos_qa",
                         hub_config="default"),
    "ccg": TaskSpec("ccg", "tagging", "accuracy", ("en",), {}, None, "intermediate", "unavailable",
                    notes="CCGbank is LDC-licensed, not openly available; X-STILTs' CCG arm cannot be reproduced",
                    implemented=False),
    "xquad": _XQUAD,
    "mlqa": TaskSpec("mlqa", "qa", "em_f1", ("en", "ar", "de", "es", "hi", "vi", "zh"), {"validation":
                     "validation", "test": "test"}, None, "target", "hub", hub_id="facebook/mlqa",
                     hub_config="mlqa.{lang}.{lang}"),
    "tydiqa": TaskSpec("tydiqa", "qa", "em_f1", ("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"),
                       {"train": "train", "test": "validation"}, None, "target", "hub",
                       hub_id="google-research-datasets/tydiqa", hub_config="secondary_task",
                       notes="TyDiQA-GoldP; XTREME evaluates on the dev set"),
    "xnli": TaskSpec("xnli", "classification", "accuracy", ("en", "ar", "bg", "de", "el", "es", "fr", "hi", "ru",
                     "sw", "th", "tr", "ur", "vi", "zh"), {"train": "train", "validation": "validation",
                     "test": "test"}, 3, "target", "hub", hub_id="facebook/xnli", hub_config="{lang}",
                     label_names=_NLI3),
    "pawsx": TaskSpec("pawsx", "classification", "accuracy", ("en", "de", "es", "fr", "ja", "ko", "zh"),
                      {"train": "train", "validation": "validation", "test": "test"}, 2, "target", "hub",
                      hub_id="google-research-datasets/paws-x", hub_config="{lang}"),
    "tatoeba": _TATOEBA,
    "bucc": TaskSpec("bucc", "retrieval", "retrieval_accuracy", ("de", "fr", "ru", "zh"), {"test": "test"}, None,
                     "target", "hub", hub_id="mteb/bucc-bitext-mining", hub_config="{lang}-en",
                     notes="MTEB's gold-pair version: accuracy, not XTREME's mining F1 with thresholds"),
    "panx": TaskSpec("panx", "tagging", "f1", (), {}, None, "target", "hub", hub_id="google/xtreme",
                     hub_config="PAN-X.{lang}", notes="token classification: no loader yet", implemented=False),
    "udpos": TaskSpec("udpos", "tagging", "f1", (), {}, None, "target", "hub", hub_id="google/xtreme",
                      hub_config="udpos.{lang}", notes="token classification: no loader yet", implemented=False),
}

# "tiny" (the smoke-test preset) runs the small profile's tasks on fewer examples.
PROFILES: dict[str, dict[str, TaskSpec]] = {"tiny": SMALL, "small": SMALL, "paper": PAPER}


def get_task(name: str, profile: str = "small") -> TaskSpec:
    """The spec of ``name`` in ``profile``; a typo names the known tasks."""
    if profile not in PROFILES:
        raise ValueError(f"unknown task profile {profile!r}; known: {sorted(PROFILES)}")
    tasks = PROFILES[profile]
    if name not in tasks:
        raise ValueError(f"unknown task {name!r} in profile {profile!r}; known: {sorted(tasks)}")
    return tasks[name]


def task_names(profile: str = "small", *, role: Role | None = None) -> list[str]:
    """Task names of a profile, optionally only those usable in ``role`` ("both" counts for either)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown task profile {profile!r}; known: {sorted(PROFILES)}")
    return [n for n, s in PROFILES[profile].items() if role is None or s.role in (role, "both")]

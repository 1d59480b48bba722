"""Every task of the study, declared once: its family, metric, languages, and where its data come from.

Three roles:
* intermediate tasks (English, trained before the target; X-STILTs' phase 2),
* fine-tuning tasks (the English target-task training data; phase 3): ``qa``, ``xnli``, ``pawsx``,
* evaluation targets (zero-shot, every language; phase 4), each predicted by the model of one fine-tuning task
  (``model``): XQuAD and MLQA by the QA model, as XTREME does; Tatoeba and BUCC by the intermediate encoder itself.

Where the data come from, per profile: ``offline`` (tiny, small: the mirror files, split by ``data/``; intermediate
tasks and fine-tuning sets are held-out English parts of the same data sets, never a test item's group) or ``hub``
(paper: the Hugging Face Hub through ``data/hub_tasks.py``). This module imports nothing heavy: params validation
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stages.xlt.languages import MLQA_LANGUAGES, PAWSX_LANGUAGES, TATOEBA_XTREME, XNLI_LANGUAGES, XQUAD_LANGUAGES

Family = Literal["qa", "classification", "multiple_choice", "retrieval", "tagging"]
Metric = Literal["em_f1", "accuracy", "retrieval_accuracy"]
Kind = Literal["qa", "pair", "sentence"]  # what a perturbation edits: question+context, a sentence pair, one sentence
NLI_LABELS = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: Family
    metric: Metric
    num_labels: int | None = None
    label_names: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)
    offline: str | None = None  # how the offline profiles build it (None: Hub only)
    hub: str | None = None  # the Hub loader (data/hub_tasks.LAYOUTS key) and split, "<loader>:<split>"
    model: str | None = None  # evaluation targets: the fine-tuning task whose model predicts it
    notes: str = ""

    @property
    def kind(self) -> Kind:
        return {"qa": "qa", "classification": "pair", "retrieval": "sentence"}.get(self.family, "pair")


_TATOEBA_LANGUAGES = tuple(sorted(TATOEBA_XTREME))

INTERMEDIATE: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("squad", "qa", "em_f1", offline="English XQuAD articles of the intermediate part of the article split",
             hub="squad:train"),
    TaskSpec("qnli", "classification", "accuracy", 2, ("entailment", "not_entailment"),
             offline="QNLI-style pairs derived from the intermediate XQuAD articles (data/derived.py)"),
    TaskSpec("sentence_choice", "multiple_choice", "accuracy",
             offline="4-way answer-sentence choice derived from the intermediate XQuAD articles (data/derived.py)"),
    TaskSpec("nli", "classification", "accuracy", 3, NLI_LABELS,
             offline="XNLI-en dev rows of the intermediate premise groups (never a test premise)"),
    TaskSpec("paraphrase", "classification", "accuracy", 2, ("different", "paraphrase"),
             offline="PAWS-X-en dev rows of the intermediate sentence groups (never a test group)"),
    TaskSpec("mnli", "classification", "accuracy", 3, NLI_LABELS, hub="mnli:train"),
    TaskSpec("anli", "classification", "accuracy", 3, NLI_LABELS, hub="anli:train_r1+train_r2+train_r3"),
    TaskSpec("qqp", "classification", "accuracy", 2, ("not_duplicate", "duplicate"), hub="qqp:train"),
    TaskSpec("sst2", "classification", "accuracy", 2, ("negative", "positive"), hub="sst2:train"),
    TaskSpec("hellaswag", "multiple_choice", "accuracy", hub="hellaswag:train"),
    TaskSpec("commonsenseqa", "multiple_choice", "accuracy", hub="commonsenseqa:train"),
    TaskSpec("cosmosqa", "multiple_choice", "accuracy", hub="cosmosqa:train"),
)}
# X-STILTs' ninth intermediate task, CCG supertagging, needs CCGbank (LDC-licensed, not openly available).
UNAVAILABLE = {"ccg": "CCGbank is licensed through the LDC and not openly available"}

FINETUNE: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("qa", "qa", "em_f1", offline="English XQuAD articles of the target_train part, plus English MLQA "
             "articles outside its test split", hub="squad:train"),
    TaskSpec("xnli", "classification", "accuracy", 3, NLI_LABELS,
             offline="XNLI-en dev rows of the target_train premise groups",
             hub="mnli:train", notes="XTREME fine-tunes XNLI on MNLI"),
    TaskSpec("pawsx", "classification", "accuracy", 2, ("different", "paraphrase"),
             offline="PAWS-X-en dev rows of the target_train groups", hub="pawsx:train"),
)}

TARGETS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("xquad", "qa", "em_f1", languages=XQUAD_LANGUAGES, model="qa",
             offline="XQuAD test articles (same question ids in every language)", hub="xquad:validation"),
    TaskSpec("mlqa", "qa", "em_f1", languages=MLQA_LANGUAGES, model="qa",
             offline="MLQA dev, test articles", hub="mlqa:test"),
    TaskSpec("xnli", "classification", "accuracy", 3, NLI_LABELS, languages=XNLI_LANGUAGES, model="xnli",
             offline="XNLI dev rows of the test premise groups", hub="xnli:test"),
    TaskSpec("pawsx", "classification", "accuracy", 2, ("different", "paraphrase"), languages=PAWSX_LANGUAGES,
             model="pawsx", offline="PAWS-X dev rows of the test groups", hub="pawsx:test"),
    TaskSpec("tatoeba", "retrieval", "retrieval_accuracy", languages=_TATOEBA_LANGUAGES,
             offline="LASER's Tatoeba test pairs", hub="tatoeba:test"),
    TaskSpec("tydiqa", "qa", "em_f1", languages=("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"), model="qa",
             hub="tydiqa:validation", notes="TyDiQA-GoldP (XTREME evaluates the dev set); its offline copy has "
             "blanked answers"),
    TaskSpec("bucc", "retrieval", "retrieval_accuracy", languages=("de", "fr", "ru", "zh"), hub="bucc:test",
             notes="MTEB's gold-pair version: accuracy, not XTREME's mining F1 with thresholds"),
)}


def intermediate_task(name: str) -> TaskSpec:
    if name in UNAVAILABLE:
        raise ValueError(f"intermediate task {name!r} is not available: {UNAVAILABLE[name]}")
    if name not in INTERMEDIATE:
        raise ValueError(f"unknown intermediate task {name!r}; known: {sorted(INTERMEDIATE)}")
    return INTERMEDIATE[name]


def finetune_task(name: str) -> TaskSpec:
    if name not in FINETUNE:
        raise ValueError(f"unknown fine-tuning task {name!r}; known: {sorted(FINETUNE)}")
    return FINETUNE[name]


def target(name: str) -> TaskSpec:
    if name not in TARGETS:
        raise ValueError(f"unknown evaluation target {name!r}; known: {sorted(TARGETS)}")
    return TARGETS[name]


def available(spec: TaskSpec, source: str) -> bool:
    """Whether ``spec`` can be built from ``source`` ("offline" or "hub")."""
    return (spec.offline if source == "offline" else spec.hub) is not None

"""Every task of the study, declared once: its family (whose protocol owns its metric), languages, and where its
data come from.

Three roles:
* intermediate tasks (English, trained before the target; X-STILTs' phase 2),
* fine-tuning tasks (the English target-task training data; phase 3): ``qa``, ``xnli``, ``pawsx``, ``tydiqa``,
* evaluation targets (zero-shot, every language; phase 4), each predicted by the model of one fine-tuning task
  (``model``): XQuAD and MLQA by the QA model, as XTREME does, TyDiQA by its own (jiant's XTREME setup); Tatoeba and
  BUCC by the intermediate encoder itself.

Where the data come from, per profile: ``offline`` (tiny, small: the mirror files, split by ``data/``; intermediate
tasks and fine-tuning sets are held-out English parts of the same data sets, never a test item's group) or ``hub``
(paper: the Hugging Face Hub through ``data/hub_tasks.py``). This module imports nothing heavy: params validation
reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stages.xlt.languages import (MLQA_LANGUAGES, PANX_LANGUAGES, PAWSX_LANGUAGES, TATOEBA_XTREME, UDPOS_LANGUAGES,
                                  XNLI_LANGUAGES, XQUAD_LANGUAGES)
from stages.xlt.tasks.protocol import Protocol, protocol

Family = Literal["qa", "classification", "multiple_choice", "retrieval"]  # protocol.PROTOCOLS
NLI_LABELS = ("entailment", "neutral", "contradiction")
# The ClassLabel names of google/xtreme's udpos.* pos_tags and PAN-X.* ner_tags, in their integer order.
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
             "SCONJ", "SYM", "VERB", "X")
PANX_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: Family  # its protocol (tasks/protocol.py) owns the metric, clusters, scoring, inference, attack
    num_labels: int | None = None
    label_names: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)
    offline: str | None = None  # how the offline profiles build it (None: Hub only)
    hub: str | None = None  # the Hub loader (data/hub_tasks.LAYOUTS key) and split, "<loader>:<split>"
    hub_dev: str | None = None  # its English dev set on the Hub, "<loader>:<split>" (checkpoint selection)
    model: str | None = None  # evaluation targets: the fine-tuning task whose model predicts it
    offline_split: str | None = None  # the download.<key> that splits and sizes its offline data
    # Built from the mirror on every profile (LASER's Tatoeba pairs, also the source of the code-switching
    # lexicons: its own sentences get none, and the paper profile reads it from the mirror too).
    from_mirror: bool = False
    native_gxlt: bool = False  # offline, its own cross-lingual (English-question) test files are prepared (MLQA)
    # Its items in other languages are translations of English items under the same ids (XQuAD, MLQA), so a question
    # can be swapped for its English original (perturbations/knobs.py ENGLISH_ORIGINAL_FAMILIES). False: every
    # language has its own items (TyDiQA).
    english_originals: bool = True
    notes: str = ""

    @property
    def protocol(self) -> Protocol:
        return protocol(self.family)

    @property
    def kind(self) -> str:
        """What a perturbation edits in its inputs (perturbations/knobs.py KINDS)."""
        return self.protocol.input_kind


_TATOEBA_LANGUAGES = tuple(sorted(TATOEBA_XTREME))

INTERMEDIATE: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("squad", "qa", offline="English XQuAD articles of the intermediate part of the article split",
             hub="squad:train", hub_dev="squad:validation"),
    TaskSpec("qnli", "classification", 2, ("entailment", "not_entailment"),
             offline="QNLI-style pairs derived from the intermediate XQuAD articles (data/derived.py)"),
    TaskSpec("sentence_choice", "multiple_choice",
             offline="4-way answer-sentence choice derived from the intermediate XQuAD articles (data/derived.py)"),
    TaskSpec("nli", "classification", 3, NLI_LABELS,
             offline="XNLI-en dev rows of the intermediate premise groups (never a test premise)"),
    TaskSpec("paraphrase", "classification", 2, ("different", "paraphrase"),
             offline="PAWS-X-en dev rows of the intermediate sentence groups (never a test group)"),
    TaskSpec("mnli", "classification", 3, NLI_LABELS, hub="mnli:train",
             hub_dev="mnli:validation_matched"),
    TaskSpec("anli", "classification", 3, NLI_LABELS, hub="anli:train_r1+train_r2+train_r3",
             hub_dev="anli:dev_r1+dev_r2+dev_r3"),
    TaskSpec("qqp", "classification", 2, ("not_duplicate", "duplicate"), hub="qqp:train",
             hub_dev="qqp:validation"),
    TaskSpec("sst2", "classification", 2, ("negative", "positive"), hub="sst2:train",
             hub_dev="sst2:validation"),
    TaskSpec("hellaswag", "multiple_choice", hub="hellaswag:train", hub_dev="hellaswag:validation"),
    TaskSpec("commonsenseqa", "multiple_choice", hub="commonsenseqa:train",
             hub_dev="commonsenseqa:validation"),
    TaskSpec("cosmosqa", "multiple_choice", hub="cosmosqa:train", hub_dev="cosmosqa:validation"),
)}
# X-STILTs' ninth intermediate task, CCG supertagging, needs CCGbank (LDC-licensed, not openly available).
UNAVAILABLE = {"ccg": "CCGbank is licensed through the LDC and not openly available"}

FINETUNE: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("qa", "qa", offline="English XQuAD articles of the target_train part, plus English MLQA "
             "articles outside its test split", hub="squad:train",
             hub_dev="squad:validation"),
    TaskSpec("xnli", "classification", 3, NLI_LABELS,
             offline_split="xnli", offline="XNLI-en dev rows of the target_train premise groups",
             hub="mnli:train", hub_dev="xnli:validation", notes="XTREME fine-tunes XNLI on MNLI; selection on XNLI's "
             "English dev set"),
    TaskSpec("pawsx", "classification", 2, ("different", "paraphrase"),
             offline_split="pawsx", offline="PAWS-X-en dev rows of the target_train groups", hub="pawsx:train",
             hub_dev="pawsx:validation"),
    # As jiant's XTREME setup (scripts/benchmarks/xtreme/xtreme_runconfig_writer.py, TRAIN_TASK_DICT "tydiqa":
    # "tydiqa_en"): TyDiQA-GoldP's English train set, selected on its English dev set. XTREME tests TyDiQA on that
    # dev set, so English TyDiQA scores are measured on the items the checkpoint was selected on.
    TaskSpec("tydiqa", "qa", hub="tydiqa:train", hub_dev="tydiqa:validation",
             notes="TyDiQA-GoldP English train (the train split's 'english-' ids); selection on the English dev "
             "questions, which are also the English test items"),
    TaskSpec("udpos", "tagging", 17, UPOS_TAGS, hub="udpos:train", hub_dev="udpos:validation",
             notes="the English UD treebanks' train set, as XTREME (selection on their English dev set)"),
    TaskSpec("panx", "tagging", 7, PANX_TAGS, hub="panx:train", hub_dev="panx:validation",
             notes="PAN-X (WikiANN) English train set, as XTREME"),
)}

TARGETS: dict[str, TaskSpec] = {t.name: t for t in (
    TaskSpec("xquad", "qa", languages=XQUAD_LANGUAGES, model="qa",
             offline_split="xquad", offline="XQuAD test articles (same question ids in every language)",
             hub="xquad:validation"),
    TaskSpec("mlqa", "qa", languages=MLQA_LANGUAGES, model="qa",
             offline_split="mlqa", native_gxlt=True, offline="MLQA dev, test articles", hub="mlqa:test"),
    TaskSpec("xnli", "classification", 3, NLI_LABELS, languages=XNLI_LANGUAGES, model="xnli",
             offline_split="xnli", offline="XNLI dev rows of the test premise groups", hub="xnli:test"),
    TaskSpec("pawsx", "classification", 2, ("different", "paraphrase"), languages=PAWSX_LANGUAGES,
             model="pawsx", offline_split="pawsx", offline="PAWS-X dev rows of the test groups", hub="pawsx:test"),
    TaskSpec("tatoeba", "retrieval", languages=_TATOEBA_LANGUAGES,
             from_mirror=True, offline="LASER's Tatoeba test pairs", hub="tatoeba:test"),
    TaskSpec("tydiqa", "qa", languages=("en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"), model="tydiqa",
             hub="tydiqa:validation", english_originals=False, notes="TyDiQA-GoldP (XTREME evaluates the dev set; "
             "each language's questions are its own, written without translation); its offline copy has blanked "
             "answers"),
    TaskSpec("udpos", "tagging", 17, UPOS_TAGS, languages=UDPOS_LANGUAGES, model="udpos", hub="udpos:test",
             notes="UD 2.5 treebanks as XTREME selects them; scored by word accuracy (XTREME's F1 over one-word tags)"),
    TaskSpec("panx", "tagging", 7, PANX_TAGS, languages=PANX_LANGUAGES, model="panx", hub="panx:test",
             notes="PAN-X (WikiANN); scored by word accuracy, not XTREME's entity F1 (README, Tagging)"),
    TaskSpec("bucc", "retrieval", languages=("de", "fr", "ru", "zh"), hub="bucc:test",
             notes="MTEB's current gold-pair version (BUCC 2018 training gold pairs, one per row): retrieval "
             "accuracy among the gold pairs, not XTREME's mining F1 (that needs the full corpora with non-parallel "
             "sentences and a threshold; see mteb/BUCC)"),
)}


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face Hub repository read at one commit, so that the data cannot change under a committed dvc.lock."""

    repo: str
    revision: str  # a commit hash (40 hex digits; abbreviated only where no full hash was found, see ``evidence``)
    evidence: str  # where the revision and the file layout were seen

    @property
    def full_hash(self) -> bool:
        return len(self.revision) == 40


_XTREME = "google/xtreme"
# The last of the commits that converted google/xtreme to parquet ("Add udpos.Yoruba data files"): every config's
# parquet files exist at it (MLQA.*, PAWS-X.*, tydiqa, udpos.*, PAN-X.*, XNLI, XQuAD, bucc18, tatoeba.*).
_XTREME_REVISION = "68bd9e06bf4bbe671073c975ccd61d754e1bd3d6"

# Keyed by loader (the "<loader>" of TaskSpec.hub). README "Hub sources" gives the evidence in full.
HUB_SOURCES: dict[str, HubSource] = {
    "squad": HubSource("rajpurkar/squad", "7b6d24c440a36b6815f21b70d25016731768db1f",
                       "revision pinned in public evaluation code; plain_text/{split}-00000-of-00001.parquet on main"),
    "mnli": HubSource("nyu-mll/glue", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c", "revision pinned in public code"),
    "qqp": HubSource("nyu-mll/glue", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c", "revision pinned in public code"),
    "sst2": HubSource("nyu-mll/glue", "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c", "revision pinned in public code"),
    "anli": HubSource("facebook/anli", "8e4813d81f46d313dac7892e1c28076917cfcdf9", "revision pinned in public code"),
    "hellaswag": HubSource("Rowan/hellaswag", "218ec52e09a7e7462a5400043bb9a69a41d06b76",
                           "revision pinned in public evaluation code (several projects)"),
    "commonsenseqa": HubSource("tau/commonsense_qa", "94630fe30dad47192a8546eb75f094926d47e155",
                               "revision pinned in public code"),
    # allenai/cosmos_qa holds only its loading script; this repository is a parquet export of it: the same columns
    # and label encoding (int 0-3) and the original release's split sizes (25,262 / 2,985 / 6,963).
    "cosmosqa": HubSource("Samsoup/cosmos_qa", "5511553160809abc4f9c11d12421ec0a9681ee75",
                          "its only data commit ('Upload dataset': "
                          "data/{train,validation,test}-00000-of-00001.parquet)"),
    "xquad": HubSource("google/xquad", "51adfef1c1287aab1d2d91b5bead9bcfb9c68583", "revision pinned in public code"),
    "mlqa": HubSource(_XTREME, _XTREME_REVISION, "commit history of google/xtreme (parquet conversion, Feb 2024)"),
    "pawsx": HubSource(_XTREME, _XTREME_REVISION, "commit history of google/xtreme (parquet conversion, Feb 2024)"),
    "tydiqa": HubSource(_XTREME, _XTREME_REVISION, "commit history of google/xtreme (parquet conversion, Feb 2024)"),
    "xnli": HubSource("facebook/xnli", "b8dd5d7af51114dbda02c0e3f6133f332186418e",
                      "its 'Convert dataset to Parquet (#10)' commit, the head of main"),
    "udpos": HubSource(_XTREME, _XTREME_REVISION, "commit history of google/xtreme (parquet conversion, Feb 2024)"),
    "panx": HubSource(_XTREME, _XTREME_REVISION, "commit history of google/xtreme (parquet conversion, Feb 2024)"),
    "tatoeba": HubSource("mteb/tatoeba-bitext-mining", "69e8f12da6e31d59addadda9a9c8a2e601a0e282",
                         "revision pinned by MTEB's Tatoeba task (fast-loading format: one pair per row)"),
    "bucc": HubSource("mteb/bucc-bitext-mining", "1739dc11ffe9b7bfccd7f3d585aeb4c544fc6677",
                      "revision pinned by MTEB's BUCC.v2 task (test/{pair}.jsonl.gz, one gold pair per row)"),
}

# Encoders loaded by Hub id. A local folder needs no pin (its files are what they are).
HUB_MODELS: dict[str, HubSource] = {
    "FacebookAI/xlm-roberta-large": HubSource(
        "FacebookAI/xlm-roberta-large", "5bc772e",
        "abbreviated hash of the commit that added model.safetensors (#13, sha256 2dfa19f1...); no full hash "
        "found in public code or pages"),
}


def hub_source(loader: str) -> HubSource:
    if loader not in HUB_SOURCES:
        raise ValueError(f"no pinned Hub source for loader {loader!r}; known: {sorted(HUB_SOURCES)}")
    return HUB_SOURCES[loader]


def model_revision(name_or_path: str) -> str | None:
    """The pinned revision of a Hub encoder id (None for ids without a pin, e.g. a local folder)."""
    source = HUB_MODELS.get(name_or_path) or HUB_MODELS.get(f"FacebookAI/{name_or_path}")
    return source.revision if source else None


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

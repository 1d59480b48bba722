"""What a task family decides beyond its model head, declared once per family (extractive QA, classification,
multiple choice, retrieval, word tagging):

* its primary metric, and the scorer of one prediction with it (``scoring/metrics.score_prediction``: for score
  rows, checkpoint selection and the attack's goals alike);
* whether its test set needs the English items too, which kind of input a perturbation edits
  (``perturbations/knobs.py`` kinds), and which fields a model-aware attack edits (none: it cannot be attacked);
* whether it trains a head, and how its test items group into clusters (the unit the bootstrap resamples).

Stages and the library ask ``TaskSpec.protocol`` (or ``protocol(name)``) instead of comparing family names, so a
new target of an existing family is a registry entry plus a loader. The phases that need heavy code look the
family up in their own table, beside that code: Hub test clusters in ``prepare.py``, featurisation, head, loss and decoding in ``family.py``
(``model_family``), inference over a test set in ``evaluation.py``, score rows in ``scoring/collect.py``, attack
queries in ``attack_queries.py``. Kept apart because DVC re-runs a stage when any module it imports changes: a
stage that validates params (all of them) imports this module, so it imports nothing, and an edit to score rows
re-runs ``score`` only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    name: str
    metric: str  # the primary metric of its score rows
    scorer: str | None  # how one prediction is scored with it (scoring/metrics.PRIMARY_SCORERS; None: only as rows)
    input_kind: str  # what a perturbation edits (perturbations/knobs.py KINDS; "words": none does yet)
    english_test: bool = False  # the English test items are prepared too (QA: the code-switched questions)
    attack_fields: tuple[str, ...] = ()  # the fields a model-aware attack edits (none: it cannot be attacked)
    trainable: bool = True  # it trains a head (retrieval reads the encoder's states)
    # How its test items group into clusters, the unit the bootstrap resamples (``prepare.py`` applies it to Hub
    # test sets; the offline loaders build the same units): "article" (translations share the English item's
    # article), "row" (row-aligned parallel sets: the English pairs' groups, kept by position), "item".
    cluster_unit: str = "item"

    @property
    def attackable(self) -> bool:
        return bool(self.attack_fields)


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("qa", metric="f1", scorer="answer_f1", input_kind="qa", english_test=True,
             attack_fields=("question",), cluster_unit="article"),
    Protocol("classification", metric="accuracy", scorer="label_accuracy", input_kind="pair",
             attack_fields=("text_a", "text_b"), cluster_unit="row"),
    Protocol("multiple_choice", metric="accuracy", scorer="label_accuracy", input_kind="pair"),
    Protocol("retrieval", metric="accuracy", scorer=None, input_kind="sentence", trainable=False),
    # Word accuracy, one score row per word (the sentence its cluster): UD-POS's XTREME number (F1 over one-word
    # tags is accuracy). PAN-X's XTREME number is entity F1, a corpus ratio whose denominator depends on each arm's
    # own predictions, so it has no per-item score that arms share; the study scores words (README, "Tagging").
    # No perturbation family edits word lists yet (a word must stay one word to keep its tag): clean scores only.
    Protocol("tagging", metric="accuracy", scorer="word_accuracy", input_kind="words"),
)}


def protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown task family {name!r}; families are {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]

"""The model-aware attack on one item, per task family: how a trained model answers the search's queries (QA: the
probability of the clean answer span, ``inference.predict_spans``; classification: class probabilities) and which
search runs (``perturbations/attack.py``). ``for_family`` is the lookup; ``tasks/protocol.py`` says which families
can be attacked and which fields the attack edits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from stages.xlt.evaluation import Window
from stages.xlt.inference import predict, predict_spans
from stages.xlt.perturbations.attack import AttackResult, attack_classification, attack_qa, predicted_label
from stages.xlt.scoring.metrics import f1
from stages.xlt.tasks.protocol import protocol


@dataclass(frozen=True)
class AttackSettings:
    max_words: int
    seed: int
    transformation: str
    lexicons: Mapping
    max_queries: int
    candidates_per_word: int
    eligibility: float  # QA: the clean F1 an item needs to be attacked


@dataclass(frozen=True)
class Victim:
    """One trained model under attack, and how its queries are run."""

    model: Any
    task: str  # the head the model answers with (the target's fine-tuning task)
    window: Window
    batch_size: int
    cache: Any = None  # the frozen bottom's states of the variants, shared by every model that queries them


def _variants(batch: list[dict]) -> list[dict]:
    # The search sends several variants of one item at once: give each its own id.
    return [{**ex, "id": f"{ex['id']}#{k}"} for k, ex in enumerate(batch)]


def _search(settings: AttackSettings, item: dict, stored_prediction: Any) -> dict:
    return dict(max_words=settings.max_words, seed=settings.seed, transformation=settings.transformation,
                lexicons=settings.lexicons, max_queries=settings.max_queries,
                candidates_per_word=settings.candidates_per_word, stored_predictions={item["id"]: stored_prediction})


def attack_qa_item(victim: Victim, item: dict, stored_prediction: Any, settings: AttackSettings,
                   target: str) -> tuple[AttackResult, Any]:
    def query(batch, targets):
        variants = _variants(batch)
        spans = predict_spans(victim.model, victim.task, variants, targets, prefix=victim.cache,
                              max_length=victim.window.max_length, doc_stride=victim.window.doc_stride,
                              batch_size=victim.batch_size)
        return [spans[ex["id"]] for ex in variants]

    (result,) = attack_qa([item], query, f1, min_clean_score=settings.eligibility,
                          **_search(settings, item, stored_prediction))
    # A span outcome once queried; the stored answer text when skipped without a query.
    return result, getattr(result.final_prediction, "answer", result.final_prediction)


def attack_classification_item(victim: Victim, item: dict, stored_prediction: Any, settings: AttackSettings,
                               target: str) -> tuple[AttackResult, Any]:
    def query(batch):
        variants = _variants(batch)
        answers = predict(victim.model, victim.task, variants, prefix=victim.cache, probabilities=True,
                          max_length=victim.window.max_length, doc_stride=victim.window.doc_stride,
                          batch_size=victim.batch_size)
        return [answers[ex["id"]] for ex in variants]

    (result,) = attack_classification([item], query, task=target, **_search(settings, item, stored_prediction))
    return result, predicted_label(result.final_prediction)


ATTACKS: dict[str, Callable[..., tuple[AttackResult, Any]]] = {
    "qa": attack_qa_item, "classification": attack_classification_item}


def for_family(name: str) -> Callable[..., tuple[AttackResult, Any]]:
    """``attack(victim, item, stored_prediction, settings, target) -> (result, final prediction as stored)``."""
    if name not in ATTACKS or not protocol(name).attackable:
        raise ValueError(f"task family {name!r} cannot be attacked; attackable families are {sorted(ATTACKS)}")
    return ATTACKS[name]

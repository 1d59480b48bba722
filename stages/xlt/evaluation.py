"""How a trained arm predicts a test set, per task family: the inputs whose frozen-bottom states are cached, and the
prediction rows written for scoring. Targets with a head (QA, classification) are predicted by the model of their
fine-tuning task; retrieval targets (Tatoeba, BUCC) by the arm's encoder, which embeds both sides of every pair.

``for_family`` is the lookup; ``tasks/protocol.py`` declares the families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stages.xlt.inference import predict, sentence_embeddings, sentence_features
from stages.xlt.perturbations.knobs import CLEAN
from stages.xlt.tasks.family import model_family
from stages.xlt.tasks.retrieval import retrieval_hits


@dataclass(frozen=True)
class Window:
    """How a fine-tuning task cuts its inputs (its training settings; evaluation uses the same)."""

    max_length: int
    doc_stride: int


@dataclass(frozen=True)
class EvaluationSettings:
    batch_size: int
    retrieval_pooling: str = "mean"
    retrieval_layer: int = -1
    retrieval_max_length: int = 128


@dataclass(frozen=True)
class PredictionJob:
    """One test set under one condition, as a model is asked to predict it.

    ``examples``: the condition's inputs (every item; ``changed``: those the condition edited, all of them when
    clean); ``originals()``: the clean test set (read only by the families that need it: retrieval); ``clean_predictions``: the stored clean rows by id (a perturbed
    condition reuses them for the items it left unchanged: same input, same answer); ``states(condition, side)``:
    the cached frozen-bottom states of a condition's inputs (side "en": a retrieval pair's English sentences), or
    None without a cache."""

    condition: str
    examples: Sequence[dict]
    changed: Sequence[dict]
    originals: Callable[[], Sequence[dict]]
    clean_predictions: Mapping[str, dict]
    states: Callable[[str, str], Any]
    window: Window | None
    settings: EvaluationSettings


class HeadEvaluation:
    """Targets predicted by a fine-tuned head: ``{"id", "prediction"}`` (answer text, label index, or one tag index
    per word)."""

    def __init__(self, family: str):
        self.family = family

    def prefix_inputs(self, tokenizer, examples: Sequence[dict], *, condition: str, window: Window,
                      settings: EvaluationSettings) -> dict[str, list[dict]]:
        """{side: features} whose frozen-bottom states evaluation reads ("": the inputs themselves)."""
        return {"": model_family(self.family).eval_features(examples, tokenizer, max_length=window.max_length,
                                                            doc_stride=window.doc_stride)}

    def predict_rows(self, model, model_task: str, job: PredictionJob) -> Iterator[dict]:
        predicted = predict(model, model_task, job.changed, max_length=job.window.max_length,
                            doc_stride=job.window.doc_stride, batch_size=job.settings.batch_size,
                            prefix=job.states(job.condition, ""))
        return ({"id": ex["id"], "prediction": predicted[ex["id"]]} if ex["id"] in predicted
                else job.clean_predictions[ex["id"]] for ex in job.examples)


class RetrievalEvaluation:
    """Bitext retrieval with the arm's encoder: ``{"id", "src2tgt", "tgt2src"}``, is each side's nearest neighbour
    (cosine, pooled states) its translation? Under a perturbation only the changed sentences are embedded anew."""

    def prefix_inputs(self, tokenizer, examples: Sequence[dict], *, condition: str, window: Window | None,
                      settings: EvaluationSettings) -> dict[str, list[dict]]:
        def features(side: str) -> list[dict]:
            return sentence_features(tokenizer, [ex[side] for ex in examples], settings.retrieval_max_length)

        # The English side never changes: its states are computed once, with the clean inputs.
        return {"en": features("target"), "": features("source")} if condition == CLEAN else {"": features("source")}

    def predict_rows(self, model, model_task: str | None, job: PredictionJob) -> Iterator[dict]:
        def embed(sentences, store):
            return sentence_embeddings(model, sentences, pooling=job.settings.retrieval_pooling,
                                       layer=job.settings.retrieval_layer, batch_size=job.settings.batch_size,
                                       max_length=job.settings.retrieval_max_length, prefix=store)

        originals = job.originals()
        english = embed([ex["target"] for ex in originals], job.states(CLEAN, "en"))
        sources = embed([ex["source"] for ex in originals], job.states(CLEAN, ""))
        if job.condition != CLEAN:
            row_of = {ex["id"]: i for i, ex in enumerate(originals)}
            new = embed([ex["source"] for ex in job.changed], job.states(job.condition, ""))
            for ex, vector in zip(job.changed, new, strict=True):
                sources[row_of[ex["id"]]] = vector
        hits = retrieval_hits(sources, english)
        return ({"id": ex["id"], "src2tgt": bool(hits["src2tgt"][i]), "tgt2src": bool(hits["tgt2src"][i])}
                for i, ex in enumerate(originals))


EVALUATIONS: dict[str, HeadEvaluation | RetrievalEvaluation] = {
    "qa": HeadEvaluation("qa"), "classification": HeadEvaluation("classification"),
    "tagging": HeadEvaluation("tagging"), "retrieval": RetrievalEvaluation()}


def for_family(name: str) -> HeadEvaluation | RetrievalEvaluation:
    if name not in EVALUATIONS:
        raise ValueError(f"no evaluation for task family {name!r}; evaluated families are {sorted(EVALUATIONS)}")
    return EVALUATIONS[name]

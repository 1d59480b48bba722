"""Perturb lone sentences (retrieval inputs such as Tatoeba's) with the QA families' machinery.

A sentence is wrapped as a question with an empty context and no answers, so every family keeps its one
implementation (and its invariants, seeding and chrF record) instead of growing a second code path.
"""

from __future__ import annotations

from collections.abc import Sequence

from .context import PerturbationContext


def perturb_sentences(sentences: Sequence[str], lang: str, family: str, *, seed: int, ids: Sequence[str],
                      context: PerturbationContext | None = None, **strength) -> list[dict]:
    """``[{"text": perturbed sentence, "perturbation": record}]`` in input order; ids seed each sentence."""
    from . import perturb_qa

    if len(ids) != len(sentences):
        raise ValueError(f"perturb_sentences: {len(ids)} ids for {len(sentences)} sentences")
    wrapped = [{"id": i, "lang": lang, "article": "", "question": s, "context": "",
                "answers": {"text": [], "answer_start": []}} for i, s in zip(ids, sentences, strict=True)]
    perturbed = perturb_qa(wrapped, family, seed=seed, context=context, **strength)
    return [{"text": p["question"], "perturbation": p["perturbation"]} for p in perturbed]

"""Perturb lone sentences (retrieval inputs such as Tatoeba's) given as strings: a thin wrapper around
``perturb_examples(kind="sentence")`` for callers that hold sentences and ids rather than examples.
"""

from __future__ import annotations

from collections.abc import Sequence

from .context import PerturbationContext
from .registry import perturb_examples


def perturb_sentences(sentences: Sequence[str], lang: str, family: str, *, seed: int, ids: Sequence[str],
                      context: PerturbationContext | None = None, **knobs) -> list[dict]:
    """``[{"text": perturbed sentence, "perturbation": record}]`` in input order; ids seed each sentence.

    ``fields=["question"]`` is accepted and ignored: callers written for the QA families name the one field a
    lone sentence has that way.
    """
    if len(ids) != len(sentences):
        raise ValueError(f"perturb_sentences: {len(ids)} ids for {len(sentences)} sentences")
    if knobs.get("fields") in ("question", ["question"], ("question",)):
        del knobs["fields"]
    examples = [{"id": i, "lang": lang, "text": s} for i, s in zip(ids, sentences, strict=True)]
    perturbed = perturb_examples(examples, family, kind="sentence", seed=seed, context=context, **knobs)
    return [{"text": p["text"], "perturbation": p["perturbation"]} for p in perturbed]

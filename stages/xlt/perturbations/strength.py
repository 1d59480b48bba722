"""How far a perturbed example is from its clean original, as sentence-level chrF (sacrebleu's CHRF).

``chrf`` is computed on what the model reads, the question and the context joined by a newline, so one number is
comparable across families whichever field they edit; ``chrf_question`` and ``chrf_context`` are stored too, because
question-only families (code-switching, attacks) barely move the joint score of a long context.
chrF uses sacrebleu's defaults (character 6-grams, beta 2, whitespace ignored), so it works for unsegmented
scripts (Thai, Chinese) too. 100 = identical.
"""

from __future__ import annotations

import copy

from sacrebleu.metrics import CHRF

_CHRF = CHRF()


def chrf(clean: str, perturbed: str) -> float:
    """Sentence chrF of ``perturbed`` against ``clean`` (100.0 when equal, also for empty strings)."""
    if clean == perturbed:
        return 100.0
    return round(float(_CHRF.sentence_score(perturbed, [clean]).score), 4)


def joint_text(example: dict) -> str:
    return example["question"] + "\n" + example["context"]


def with_record(clean: dict, perturbed: dict, family: str, **details) -> dict:
    """``perturbed`` with its ``perturbation`` record: family, chrF scores and the family's details."""
    out = copy.deepcopy(perturbed)
    out["perturbation"] = {
        "family": family,
        "chrf": chrf(joint_text(clean), joint_text(perturbed)),
        "chrf_question": chrf(clean["question"], perturbed["question"]),
        "chrf_context": chrf(clean["context"], perturbed["context"]),
        **details,
    }
    return out

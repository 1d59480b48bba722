"""How far a perturbed example is from its clean original (sentence-level chrF), and the perturbation record.

``chrf`` is computed on what the model reads, the example's fields joined by newlines (QA: question and context;
pair: text_a and text_b; sentence: text), so one number is comparable across families whichever field they edit;
``chrf_<field>`` is stored per field too for the kinds with two fields, because single-field families
(code-switching a question, attacks) barely move the joint score of a long context.
chrF uses sacrebleu's defaults (character 6-grams, beta 2, whitespace ignored), so it works for unsegmented
scripts (Thai, Chinese) too. 100 = identical.

``applied`` is computed here, never passed by a family: it is True exactly when some field the model reads differs
from the clean example, so "did the perturbation change the input?" has one definition for every family.
"""

from __future__ import annotations

import copy

from sacrebleu.metrics import CHRF

from .knobs import FIELDS

_CHRF = CHRF()


def chrf(clean: str, perturbed: str) -> float:
    """Sentence chrF of ``perturbed`` against ``clean`` (100.0 when equal, also for empty strings)."""
    if clean == perturbed:
        return 100.0
    return round(float(_CHRF.sentence_score(perturbed, [clean]).score), 4)


def joint_text(example: dict, kind: str = "qa") -> str:
    return "\n".join(example[field] or "" for field in FIELDS[kind])


def with_record(clean: dict, perturbed: dict, family: str, *, kind: str = "qa", **details) -> dict:
    """``perturbed`` with its ``perturbation`` record: family, applied, chrF scores and the family's details."""
    if "applied" in details:
        raise TypeError("with_record computes 'applied' itself; pass a 'reason' when nothing changed")
    fields = FIELDS[kind]
    out = copy.deepcopy(perturbed)
    record: dict = {"family": family, "applied": any(clean[f] != perturbed[f] for f in fields),
                    "chrf": chrf(joint_text(clean, kind), joint_text(perturbed, kind))}
    if len(fields) > 1:
        record.update({f"chrf_{f}": chrf(clean[f] or "", perturbed[f] or "") for f in fields})
    out["perturbation"] = {**record, **details}
    return out

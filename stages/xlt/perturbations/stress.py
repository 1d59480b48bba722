"""Families ``tautology`` and ``length_mismatch``: the distraction stress tests of Naik et al. 2018 ("Stress Test
Evaluation for Natural Language Inference"), for sentence pairs, in the item's own language.

* ``tautology`` ("word overlap" test): append "and true is true" to the hypothesis (``text_b``).
* ``length_mismatch``: append "and true is true" ``repeats`` times (Naik: five) to the premise (``text_a``).

Label-preserving by construction for NLI: a tautology T adds no information, so P entails/contradicts/is neutral
to H exactly when P entails/contradicts/is neutral to H-and-T, and likewise for P-and-T^5 against H.

Paraphrase (PAWS-X) is decided differently, because its label is about two sentences *saying the same thing*, and
an annotator may well judge "S1" and "S2 and true is true" not to say the same thing even though they are
logically equivalent. So for ``task="paraphrase"``:
* ``tautology`` appends the phrase to *both* sentences: S1-and-T and S2-and-T are paraphrases exactly when S1 and
  S2 are (the same words added to both sides), and the test still adds a distracting, overlapping clause;
* ``length_mismatch`` is not applied (``applied: False`` with a reason): appending to one side is the one-sided
  change above, and appending to both sides would not create a length mismatch.

The phrase is joined with a space, except in Chinese and Japanese (written without spaces) where it follows the
sentence directly; Thai separates clauses with a space. A language without an entry in ``PHRASES`` leaves the
example unchanged (``applied: False``, with a reason).
"""

from __future__ import annotations

from .context import PerturbationContext
from .knobs import PairTask
from .strength import with_record

TAUTOLOGY = "tautology"
LENGTH_MISMATCH = "length_mismatch"

# "and true is true", translated literally: "true" is the truth value (the adjective/noun for "true" used in
# logic), "is" the copula; each is a grammatical clause that can follow a sentence, as Naik et al.'s English one.
# Covers XNLI (ar bg de el en es fr hi ru sw th tr ur vi zh) and PAWS-X (de en es fr ja ko zh).
PHRASES: dict[str, str] = {
    "en": "and true is true",
    "ar": "والصحيح صحيح",  # wa-ṣ-ṣaḥīḥu ṣaḥīḥun: "and the true is true" (nominal sentence, no copula)
    "bg": "и вярното е вярно",  # "and the true is true"
    "de": "und wahr ist wahr",
    "el": "και το αληθές είναι αληθές",  # "and the true is true"
    "es": "y verdadero es verdadero",
    "fr": "et vrai est vrai",
    "hi": "और सत्य सत्य है",  # aur satya satya hai: "and true true is"
    "ja": "そして真は真である",  # soshite shin wa shin de aru: "and true is true"
    "ko": "그리고 참은 참이다",  # geurigo cham-eun cham-ida: "and true is true"
    "ru": "и истинное есть истинное",  # "and the true is the true" (есть: the explicit copula of logic texts)
    "sw": "na kweli ni kweli",  # "and truth/true is true"
    "th": "และจริงก็คือจริง",  # lae ching ko khue ching: "and true is true"
    "tr": "ve doğru doğrudur",  # "and true is true"
    "ur": "اور سچ سچ ہے",  # aur sach sach hai: "and true true is"
    "vi": "và đúng là đúng",  # "and true is true"
    "zh": "并且真就是真",  # bìngqiě zhēn jiù shì zhēn: "and true is (just) true"
}
_NO_SPACE = frozenset({"zh", "ja"})


def append_phrase(text: str, lang: str, times: int = 1) -> str:
    """``text`` followed by the language's "and true is true", ``times`` times."""
    phrase = PHRASES[lang]
    separator = "" if lang in _NO_SPACE else " "
    return text.rstrip() + "".join(separator + phrase for _ in range(times))


def _stress(examples: list[dict], family: str, sides: tuple[str, ...], times: int, task: str,
            skip_reason: str | None) -> list[dict]:
    out = []
    for example in examples:
        knobs = {"task": task, "fields": list(sides)}
        if family == LENGTH_MISMATCH:
            knobs["repeats"] = times
        lang = example["lang"]
        if skip_reason is not None:
            out.append(with_record(example, example, family, kind="pair", **knobs, reason=skip_reason))
        elif lang not in PHRASES:
            out.append(with_record(example, example, family, kind="pair", **knobs,
                                   reason=f"no 'and true is true' phrase for language {lang!r}"))
        else:
            changed = {**example, **{side: append_phrase(example[side], lang, times) for side in sides}}
            out.append(with_record(example, changed, family, kind="pair", **knobs, phrase=PHRASES[lang]))
    return out


def perturb_tautology(examples: list[dict], *, seed: int, context: PerturbationContext | None = None,
                      task: PairTask) -> list[dict]:
    """Append "and true is true" to the sides whose edit keeps the task's label (NLI: the hypothesis; paraphrase:
    both sentences); seed unused."""
    return _stress(examples, TAUTOLOGY, task.label_keeping_sides, 1, task.name, None)


def perturb_length_mismatch(examples: list[dict], *, seed: int, context: PerturbationContext | None = None,
                            task: PairTask, repeats: int) -> list[dict]:
    """Append "and true is true" ``repeats`` times to the premise, where the task lets it grow (NLI); seed unused."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"length_mismatch: repeats must be a positive int, got {repeats!r}")
    reason = None if task.premise_may_grow else (
        f"length_mismatch is an NLI stress test: appending to one sentence of a {task.name} pair may change its "
        "label, appending to both is no mismatch")
    return _stress(examples, LENGTH_MISMATCH, ("text_a",), repeats, task.name, reason)

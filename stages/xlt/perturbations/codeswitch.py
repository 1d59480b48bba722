"""Families ``codeswitch_question`` and ``codeswitch_words`` (in the spirit of Tan & Joty 2021, "Code-Mixing on
Sesame Street").

* ``codeswitch_question`` (QA only; cross-lingual, MLQA's G-XLT setting): the question is replaced by the same
  question in ``question_lang`` (from ``context.parallel``; XQuAD is parallel). The context and its answer offsets
  are untouched. When ``question_lang`` is the example's language nothing changes (``applied: False``).
* ``codeswitch_words`` (word-level; QA question, pair sides chosen by ``fields``, lone sentence): words are those of
  ``stages.xlt.segment.words`` (dictionary segmentation for Thai and Chinese), so whole words are switched. A word
  is *translatable* when the ``(lang, target_lang)`` lexicon has an entry for it that differs from it; the lexicon
  holds content words only (the most frequent words of the language are left out, see ``lexicon.py``).
  ``rate`` is the fraction of a text's translatable words replaced by their translation (stochastically rounded),
  but at least ``min_words`` of them (when ``rate`` > 0 and the text has that many): with Tatoeba lexicons most
  questions have one or two translatable words, and rounding 0.3 x 1 down would leave most of them unchanged.
  A translation keeps the capitalisation of the word's first letter, and gets spaces around it when a
  spaced-script word lands in Thai or Chinese text (黑豹队的 defense 丢了), as code-mixers write.
  The record holds ``n_words``, ``n_translatable``, ``n_replaced`` (words swapped) and ``replaced`` (which),
  because lexicon coverage differs by language.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable

from ..languages import SCRIPTS
from ..segment import words
from .context import PerturbationContext
from .lexicon import lexicon_key
from .rng import check_rate, example_rng, stochastic_round
from .spans import check_answers
from .strength import with_record
from .text_units import uses_spaces
from .typos import check_fields

QUESTION_FAMILY = "codeswitch_question"
WORDS_FAMILY = "codeswitch_words"


def perturb_codeswitch_question(examples: list[dict], *, seed: int, context: PerturbationContext,
                                question_lang: str) -> list[dict]:
    """Swap each question for its parallel version in ``question_lang`` (seed unused: the swap is deterministic)."""
    out = []
    for example in examples:
        check_answers(example)
        if question_lang == example["lang"]:
            out.append(with_record(example, example, QUESTION_FAMILY, question_lang=question_lang,
                                   reason="question_lang equals the example's language"))
            continue
        parallel = context.parallel.get(question_lang, {}).get(example["id"])
        if parallel is None:
            raise ValueError(f"codeswitch_question: no {question_lang!r} question for id {example['id']!r}; "
                             f"pass it in context.parallel[{question_lang!r}]")
        switched = {**copy.deepcopy(example), "question": parallel["question"]}
        same = parallel["question"] == example["question"]
        reason = {"reason": "the parallel question is the same text"} if same else {}
        out.append(with_record(example, switched, QUESTION_FAMILY, question_lang=question_lang, **reason))
    return out


def _match_case(original: str, translation: str) -> str:
    return translation[:1].upper() + translation[1:] if original[:1].isupper() else translation


def translatable_spans(text: str, lang: str, lexicon: dict[str, str]) -> tuple[int, list[tuple[int, int, str]]]:
    """(number of words, [(start, end, translation)]) for the words the lexicon translates to something else."""
    spans: list[tuple[int, int, str]] = []
    found = words(text, lang)
    for start, end in found:
        key = lexicon_key(text[start:end], lang)
        translation = lexicon.get(key)
        if translation and translation != key:
            spans.append((start, end, _match_case(text[start:end], translation)))
    return len(found), spans


def _spaced(translation: str, text: str, start: int, end: int, target_lang: str) -> str:
    """Space out a spaced-script word dropped into unsegmented text (黑豹队的 defense 丢了), as code-mixers write."""
    if not uses_spaces(SCRIPTS.get(target_lang, "Latn")):
        return translation
    left = " " if start > 0 and not text[start - 1].isspace() else ""
    right = " " if end < len(text) and text[end].isalnum() else ""
    return left + translation + right


def code_switch_text(text: str, lang: str, target_lang: str, lexicon: dict[str, str], rate: float, min_words: int,
                     rng: random.Random) -> tuple[str, dict]:
    """``text`` with some translatable words switched, and the counts for the record."""
    n_words, spans = translatable_spans(text, lang, lexicon)
    n = stochastic_round(rate * len(spans), rng)
    if rate > 0:
        n = max(n, min(min_words, len(spans)))
    chosen = sorted(rng.sample(spans, min(len(spans), n)))
    unsegmented = not uses_spaces(SCRIPTS.get(lang, "Latn"))
    pieces, cursor = [], 0
    for start, end, translation in chosen:
        word = _spaced(translation, text, start, end, target_lang) if unsegmented else translation
        pieces.append(text[cursor:start] + word)
        cursor = end
    pieces.append(text[cursor:])
    details = {"n_words": n_words, "n_translatable": len(spans), "n_replaced": len(chosen),
               "replaced": [text[s:e] for s, e, _ in chosen]}
    return "".join(pieces), details


def _check_min_words(min_words: int) -> int:
    if not isinstance(min_words, int) or isinstance(min_words, bool) or min_words < 0:
        raise ValueError(f"codeswitch_words: min_words must be an int >= 0, got {min_words!r}")
    return min_words


def _switch_example(example: dict, fields: tuple[str, ...], *, kind: str, seed: int, context: PerturbationContext,
                    rate: float, target_lang: str, min_words: int) -> dict:
    lang = example["lang"]
    knobs = {"rate": rate, "target_lang": target_lang, "min_words": min_words}
    if kind == "pair":
        knobs["fields"] = list(fields)
    if lang == target_lang:
        return with_record(example, example, WORDS_FAMILY, kind=kind, **knobs, n_words=0, n_translatable=0,
                           n_replaced=0, replaced=[], reason="target_lang equals the example's language")
    lexicon = context.lexicons.get((lang, target_lang))
    if lexicon is None:
        raise ValueError(f"codeswitch_words: no lexicon for ({lang!r}, {target_lang!r}); build one with "
                         "prepare.tatoeba_lexicons and pass it in context.lexicons")
    out = copy.deepcopy(example)
    totals: dict = {"n_words": 0, "n_translatable": 0, "n_replaced": 0, "replaced": []}
    for field in fields:
        if example[field] is None:
            continue
        # The QA question keeps the purpose-free generator it always had; other fields are named.
        rng = example_rng(seed, WORDS_FAMILY, example["id"], "" if field == "question" else field)
        out[field], details = code_switch_text(example[field], lang, target_lang, lexicon, rate, min_words, rng)
        for key, value in details.items():
            totals[key] = totals[key] + value
    if totals["n_replaced"] == 0:
        totals["reason"] = "rate is 0" if rate == 0 else "no translatable word"
    return with_record(example, out, WORDS_FAMILY, kind=kind, **knobs, **totals)


def perturb_codeswitch_words(examples: list[dict], *, seed: int, context: PerturbationContext,
                             rate: float, target_lang: str, min_words: int) -> list[dict]:
    """QA: replace a ``rate`` fraction (at least ``min_words``) of translatable question words by translations."""
    rate, min_words = check_rate(rate), _check_min_words(min_words)
    for example in examples:
        check_answers(example)
    return [_switch_example(example, ("question",), kind="qa", seed=seed, context=context, rate=rate,
                            target_lang=target_lang, min_words=min_words) for example in examples]


def perturb_pair_codeswitch_words(examples: list[dict], *, seed: int, context: PerturbationContext,
                                  rate: float, target_lang: str, min_words: int,
                                  fields: Iterable[str] | str) -> list[dict]:
    """Sentence pairs: word-level code-switching of the chosen side(s), each side on its own."""
    rate, min_words = check_rate(rate), _check_min_words(min_words)
    fields = check_fields(fields, "pair", WORDS_FAMILY)
    return [_switch_example(example, fields, kind="pair", seed=seed, context=context, rate=rate,
                            target_lang=target_lang, min_words=min_words) for example in examples]


def perturb_sentence_codeswitch_words(examples: list[dict], *, seed: int, context: PerturbationContext,
                                      rate: float, target_lang: str, min_words: int) -> list[dict]:
    """Lone sentences: word-level code-switching of ``text``."""
    rate, min_words = check_rate(rate), _check_min_words(min_words)
    return [_switch_example(example, ("text",), kind="sentence", seed=seed, context=context, rate=rate,
                            target_lang=target_lang, min_words=min_words) for example in examples]

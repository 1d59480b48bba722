"""Families ``codeswitch_question`` and ``codeswitch_words`` (in the spirit of Tan & Joty 2021, "Code-Mixing on
Sesame Street"); both edit only the question, so the context and its answer offsets are untouched.

* ``codeswitch_question`` (cross-lingual, MLQA's G-XLT setting): the question is replaced by the same question in
  ``question_lang`` (from ``context.parallel``; XQuAD is parallel). When ``question_lang`` equals the example's
  language the example is kept clean and the record says ``applied: False``.
* ``codeswitch_words`` (word-level): a ``rate`` fraction of the question's *translatable* words (those in the
  ``(lang, target_lang)`` lexicon with a translation different from the word) is replaced by its translation,
  capitalised like the original. Words are found as in the lexicon: ``\\w+`` for languages with spaces; for
  Chinese only two-character lexicon entries are used (single characters aligned to noise: 中 -> "chinese").
  ``n_words`` and ``n_translatable`` are recorded because lexicon coverage differs by language.
"""

from __future__ import annotations

import copy

import regex

from ..languages import SCRIPTS
from .context import PerturbationContext
from .rng import check_rate, example_rng, stochastic_round
from .spans import check_answers
from .strength import with_record
from .text_units import uses_spaces

QUESTION_FAMILY = "codeswitch_question"
WORDS_FAMILY = "codeswitch_words"
_WORD = regex.compile(r"\w+")


def perturb_codeswitch_question(examples: list[dict], *, seed: int, context: PerturbationContext,
                                question_lang: str = "en") -> list[dict]:
    """Swap each question for its parallel version in ``question_lang`` (seed unused: the swap is deterministic)."""
    out = []
    for example in examples:
        check_answers(example)
        if question_lang == example["lang"]:
            out.append(with_record(example, example, QUESTION_FAMILY, question_lang=question_lang, applied=False,
                                   reason="question_lang equals the example's language"))
            continue
        parallel = context.parallel.get(question_lang, {}).get(example["id"])
        if parallel is None:
            raise ValueError(f"codeswitch_question: no {question_lang!r} question for id {example['id']!r}; "
                             f"pass it in context.parallel[{question_lang!r}]")
        switched = {**copy.deepcopy(example), "question": parallel["question"]}
        out.append(with_record(example, switched, QUESTION_FAMILY, question_lang=question_lang, applied=True))
    return out


def _match_case(original: str, translation: str) -> str:
    return translation[:1].upper() + translation[1:] if original[:1].isupper() else translation


def translatable_spans(question: str, lang: str, lexicon: dict[str, str]) -> tuple[int, list[tuple[int, int, str]]]:
    """(number of words, [(start, end, translation)]) for the words the lexicon translates to something else."""
    spans: list[tuple[int, int, str]] = []
    if uses_spaces(SCRIPTS.get(lang, "Latn")) or lang == "th":
        words = list(regex.finditer(r"\S+", question) if lang == "th" else _WORD.finditer(question))
        for match in words:
            word = match.group().lower()
            if word in lexicon and lexicon[word] != word:
                spans.append((match.start(), match.end(), _match_case(match.group(), lexicon[word])))
        return len(words), spans
    n_words = 0
    for match in _WORD.finditer(question):
        i, run = 0, match.group()
        while i < len(run):
            size = 2 if run[i:i + 2].lower() in lexicon and i + 2 <= len(run) else 1
            piece = run[i:i + size].lower()
            if size == 2 and lexicon[piece] != piece:
                start = match.start() + i
                spans.append((start, start + size, lexicon[piece]))
            n_words += 1
            i += size
    return n_words, spans


def _spaced(translation: str, text: str, start: int, end: int, target_lang: str) -> str:
    """Space out a spaced-script word dropped into unsegmented text (黑豹队的 defense 丢了), as code-mixers write."""
    if not uses_spaces(SCRIPTS.get(target_lang, "Latn")):
        return translation
    left = " " if start > 0 and not text[start - 1].isspace() else ""
    right = " " if end < len(text) and text[end].isalnum() else ""
    return left + translation + right


def code_switch_words(question: str, lang: str, target_lang: str, lexicon: dict[str, str], rate: float,
                      rng) -> tuple[str, dict]:
    n_words, spans = translatable_spans(question, lang, lexicon)
    chosen = sorted(rng.sample(spans, min(len(spans), stochastic_round(rate * len(spans), rng))))
    unsegmented = not uses_spaces(SCRIPTS.get(lang, "Latn")) and lang != "th"
    pieces, cursor = [], 0
    for start, end, translation in chosen:
        word = _spaced(translation, question, start, end, target_lang) if unsegmented else translation
        pieces.append(question[cursor:start] + word)
        cursor = end
    pieces.append(question[cursor:])
    details = {"n_words": n_words, "n_translatable": len(spans), "n_replaced": len(chosen),
               "replaced": [question[s:e] for s, e, _ in chosen]}
    return "".join(pieces), details


def perturb_codeswitch_words(examples: list[dict], *, seed: int, context: PerturbationContext,
                             rate: float = 0.5, target_lang: str = "en") -> list[dict]:
    """Replace a ``rate`` fraction of translatable question words by their ``target_lang`` translation."""
    rate = check_rate(rate)
    out = []
    for example in examples:
        check_answers(example)
        lang = example["lang"]
        if lang == target_lang:
            out.append(with_record(example, example, WORDS_FAMILY, rate=rate, target_lang=target_lang,
                                   applied=False, reason="target_lang equals the example's language"))
            continue
        lexicon = context.lexicons.get((lang, target_lang))
        if lexicon is None:
            raise ValueError(f"codeswitch_words: no lexicon for ({lang!r}, {target_lang!r}); build one with "
                             "lexicon.tatoeba_lexicons and pass it in context.lexicons")
        rng = example_rng(seed, WORDS_FAMILY, example["id"])
        question, details = code_switch_words(example["question"], lang, target_lang, lexicon, rate, rng)
        switched = {**copy.deepcopy(example), "question": question}
        out.append(with_record(example, switched, WORDS_FAMILY, rate=rate, target_lang=target_lang,
                               applied=details["n_replaced"] > 0, **details))
    return out

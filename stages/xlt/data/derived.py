"""English intermediate tasks derived offline from SQuAD-format QA examples.

Both builders see only the examples they are given (pass the ``intermediate`` articles' English
examples), so no test or target-training text can leak in.

QNLI-style sentence-pair classification (``qnli_from_squad``), after GLUE's construction of QNLI from
SQuAD (Wang et al., 2018): each context is split into sentences; the question paired with the sentence
that contains the whole answer span is ``entailment`` (label 0); the question paired with another sentence
of the same paragraph is ``not_entailment`` (label 1). As in GLUE, pairs with low lexical overlap are
filtered: a negative must share at least ``min_overlap`` non-stopword lower-cased tokens with the
question (candidates that do not are used only if no candidate does). Negatives that contain the answer
text are never used (they would be mislabelled). The classes are balanced: one negative, drawn with
``seed``, per positive; a question without a usable negative (one-sentence paragraph) or whose answer
crosses a sentence boundary is skipped. Label ids follow GLUE's (0 = entailment, 1 = not_entailment).

Sentence choice (``sentence_choice_from_squad``): a k-way multiple-choice task. The "context" is the
question, the choices are k sentences, one of which contains the answer; the others are drawn (with
``seed``) from the other sentences of the paragraph and, if it has fewer than k - 1 of them, from other
paragraphs of the same article. Distractors containing the answer text are excluded. Choices are
shuffled with ``seed``; ``label`` is the index of the answer sentence. Questions that cannot get k
choices are skipped.

Sentence splitting is a small rule-based English splitter (the contexts are English): a break after
``.``, ``!`` or ``?`` (optionally followed by a closing quote/bracket) and whitespace, before an
upper-case letter, digit or opening quote, unless the word before the stop is a known abbreviation
or a single capital initial.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

ENTAILMENT, NOT_ENTAILMENT = 0, 1

_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs etc e.g i.e u.s u.k no jan feb mar apr jun jul aug sep sept oct nov dec "
    "inc ltd co corp fig approx ca gen col lt sgt rev gov sen rep".split()
)
_BOUNDARY = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_TOKEN = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being what which who whom "
    "whose when where why how did do does done that this these those it its as into than then there their "
    "they he she his her him we our you your i not no can could would should will shall may might has have "
    "had s".split()
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences of an English text, whitespace excluded."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        words = text[start : match.start()].split()
        last_word = words[-1].lower().rstrip(".") if words else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        end = match.start() + len(match.group(0).rstrip())
        spans.append((start, end))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return [(s + len(text[s:e]) - len(text[s:e].lstrip()), e) for s, e in spans if text[s:e].strip()]


def split_sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text)]


def _content_tokens(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS}


def _answer_sentence(example: dict, spans: list[tuple[int, int]]) -> int | None:
    """Index of the sentence holding the first answer entirely, or None if it crosses a boundary."""
    start = example["answers"]["answer_start"][0]
    end = start + len(example["answers"]["text"][0])
    for i, (s, e) in enumerate(spans):
        if s <= start and end <= e:
            return i
    return None


def _contains_answer(sentence: str, example: dict) -> bool:
    return any(t.strip() and t.strip().lower() in sentence.lower() for t in example["answers"]["text"])


def qnli_from_squad(examples: Sequence[dict], seed: int, *, min_overlap: int = 1) -> list[dict]:
    """Balanced QNLI-style pairs ``{"id", "lang", "text_a": question, "text_b": sentence, "label"}``."""
    rng = random.Random(seed)
    pairs: list[dict] = []
    for example in examples:
        spans = sentence_spans(example["context"])
        answer_index = _answer_sentence(example, spans)
        if answer_index is None:
            continue
        sentences = [example["context"][s:e] for s, e in spans]
        candidates = [s for i, s in enumerate(sentences) if i != answer_index and not _contains_answer(s, example)]
        question_tokens = _content_tokens(example["question"])
        overlapping = [s for s in candidates if len(question_tokens & _content_tokens(s)) >= min_overlap]
        pool = overlapping or candidates
        if not pool:
            continue
        negative = rng.choice(pool)
        lang = example.get("lang", "en")
        pairs.append({"id": f"{example['id']}-pos", "lang": lang, "text_a": example["question"],
                      "text_b": sentences[answer_index], "label": ENTAILMENT})
        pairs.append({"id": f"{example['id']}-neg", "lang": lang, "text_a": example["question"],
                      "text_b": negative, "label": NOT_ENTAILMENT})
    return pairs


def _article_sentences(examples: Sequence[dict]) -> dict[str, dict[str, list[str]]]:
    """article -> context -> sentences, from the given examples only."""
    table: dict[str, dict[str, list[str]]] = {}
    for example in examples:
        contexts = table.setdefault(example.get("article", ""), {})
        if example["context"] not in contexts:
            contexts[example["context"]] = split_sentences(example["context"])
    return table


def _distractors(pool, answer: str, example: dict) -> list[str]:
    """Sentences that cannot be mistaken for the answer sentence."""
    return [s for s in pool if s != answer and not _contains_answer(s, example)]


def sentence_choice_from_squad(examples: Sequence[dict], k: int, seed: int) -> list[dict]:
    """k-way choice ``{"id", "lang", "context": question, "choices": [k sentences], "label": int}``."""
    if k < 2:
        raise ValueError(f"sentence choice needs k >= 2 choices, got {k}")
    rng = random.Random(seed)
    by_article = _article_sentences(examples)
    items: list[dict] = []
    for example in examples:
        spans = sentence_spans(example["context"])
        answer_index = _answer_sentence(example, spans)
        if answer_index is None:
            continue
        sentences = [example["context"][s:e] for s, e in spans]
        answer = sentences[answer_index]
        own = _distractors(dict.fromkeys(s for i, s in enumerate(sentences) if i != answer_index), answer, example)
        if len(own) >= k - 1:
            distractors = rng.sample(own, k - 1)
        else:
            others = [s for ctx, sents in by_article[example.get("article", "")].items()
                      if ctx != example["context"] for s in sents]
            others = _distractors(dict.fromkeys(others), answer, example)
            if len(own) + len(others) < k - 1:
                continue
            distractors = own + rng.sample(others, k - 1 - len(own))
        choices = [answer, *distractors]
        rng.shuffle(choices)
        items.append({"id": example["id"], "lang": example.get("lang", "en"), "context": example["question"],
                      "choices": choices, "label": choices.index(answer)})
    return items

"""Family ``distractor``: insert a lexically similar sentence from another article (in the spirit of AddOneSent,
Jia & Liang 2017, without its answer-mutation step: the sentence is real text, found by overlap).

The sentence is taken from ``context.pool_by_lang[lang]`` (contexts of other articles; the example's own article
is skipped), must not contain any gold answer text (case-folded), and maximises its lexical overlap with the
question: the sum of IDF weights (over the pool's sentences) of shared tokens, so "the"/"de"/"的" count little.
Tokens are case-folded words (``\\w+``) for languages with spaces and character bigrams for Chinese and Thai.
Ties are broken by the seeded per-example generator. ``position``: "start" | "end" | "random" (a random sentence
boundary that is not inside an answer). Answer offsets are re-mapped.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass

import regex

from ..languages import SCRIPTS
from .context import PerturbationContext
from .knobs import KNOB_VALUES
from .rng import example_rng
from .sentence_chunks import chunk_spans, sentence_chunks
from .spans import check_answers, insert_text, insertion_points
from .strength import with_record
from .text_units import cluster_boundaries, uses_spaces

FAMILY = "distractor"
POSITIONS = KNOB_VALUES["position"]["choices"]
_WORD = regex.compile(r"\w+")


def overlap_tokens(text: str, lang: str) -> frozenset[str]:
    """Words for languages with spaces, character bigrams (of non-space characters) otherwise."""
    text = text.casefold()
    if uses_spaces(SCRIPTS.get(lang, "Latn")):
        return frozenset(_WORD.findall(text))
    chars = "".join(_WORD.findall(text))
    return frozenset(chars[i:i + 2] for i in range(len(chars) - 1))


@dataclass(frozen=True)
class _Candidate:
    article: str
    sentence: str
    tokens: frozenset[str]


class SentenceIndex:
    """Inverted index over the sentences of a pool of contexts in one language."""

    def __init__(self, pool: list[dict], lang: str):
        self.lang = lang
        seen: set[tuple[str, str]] = set()
        self.candidates: list[_Candidate] = []
        for example in pool:
            key = (example.get("article", ""), example["context"])
            if key in seen:
                continue
            seen.add(key)
            for sentence in sentence_chunks(example["context"], lang):
                self.candidates.append(_Candidate(key[0], sentence, overlap_tokens(sentence, lang)))
        self.postings: dict[str, list[int]] = defaultdict(list)
        for i, candidate in enumerate(self.candidates):
            for token in candidate.tokens:
                self.postings[token].append(i)
        n = max(1, len(self.candidates))
        self.idf = {t: math.log((1 + n) / (1 + len(ids))) + 1.0 for t, ids in self.postings.items()}

    def best(self, example: dict, rng: random.Random) -> tuple[_Candidate, float] | None:
        scores: dict[int, float] = defaultdict(float)
        for token in overlap_tokens(example["question"], self.lang):
            for i in self.postings.get(token, ()):
                scores[i] += self.idf[token]
        golds = [t.casefold() for t in example["answers"]["text"] if t]
        own = set(sentence_chunks(example["context"], self.lang))
        allowed = [(round(s, 9), i) for i, s in scores.items()
                   if self.candidates[i].article != example.get("article")
                   and self.candidates[i].sentence not in own
                   and not any(g in self.candidates[i].sentence.casefold() for g in golds)]
        if not allowed:
            return None
        top = max(s for s, _ in allowed)
        tied = sorted((self.candidates[i].sentence, i) for s, i in allowed if s == top)
        return self.candidates[rng.choice(tied)[1]], top


def random_insertion_points(example: dict) -> list[int]:
    """Sentence starts (and both ends) that are grapheme-cluster starts and not inside a gold answer.

    Cluster starts only: a mark right after 。 belongs to the 。's cluster and must not be cut off from it.
    """
    context = example["context"]
    starts = set(s for s, _ in chunk_spans(context, example["lang"])) & set(cluster_boundaries(context))
    return insertion_points(context, example["answers"], sorted(starts | {0, len(context)}))


def _insertion(example: dict, sentence: str, position: str, rng: random.Random) -> tuple[int, str]:
    """Where to insert, and the text to insert there (sentence plus the language's separator)."""
    context, lang = example["context"], example["lang"]
    separator = " " if uses_spaces(SCRIPTS.get(lang, "Latn")) or lang == "th" else ""
    if position == "start":
        return 0, sentence + separator
    if position == "end":
        needs_space = bool(context) and not context[-1].isspace()
        return len(context), (separator if needs_space else "") + sentence
    point = rng.choice(random_insertion_points(example))
    if point == len(context):
        return point, (separator if context and not context[-1].isspace() else "") + sentence
    return point, sentence + separator


def distract_example(example: dict, index: SentenceIndex, *, seed: int, position: str) -> dict:
    rng = example_rng(seed, FAMILY, example["id"])
    found = index.best(example, rng)
    if found is None:
        return with_record(example, example, FAMILY, position=position,
                           reason="no sentence in the pool overlaps the question without containing an answer")
    candidate, score = found
    point, text = _insertion(example, candidate.sentence, position, rng)
    out = insert_text(example, point, text)
    return with_record(example, out, FAMILY, position=position, inserted_at=point,
                       sentence=candidate.sentence, source_article=candidate.article, overlap=round(score, 4))


def perturb_distractor(examples: list[dict], *, seed: int, context: PerturbationContext,
                       position: str) -> list[dict]:
    """Insert one distractor sentence per example at ``position``."""
    if position not in POSITIONS:
        raise ValueError(f"distractor: position must be one of {POSITIONS}, got {position!r}")
    indexes: dict[str, SentenceIndex] = {}
    out = []
    for example in examples:
        check_answers(example)
        lang = example["lang"]
        if lang not in indexes:
            if lang not in context.pool_by_lang:
                raise ValueError(f"distractor: no pool for language {lang!r}; pass context.pool_by_lang[{lang!r}]")
            indexes[lang] = SentenceIndex(context.pool_by_lang[lang], lang)
        out.append(distract_example(example, indexes[lang], seed=seed, position=position))
    return out

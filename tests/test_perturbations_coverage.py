"""Acceptance: word-level code-switching at the small profile's strength changes at least a third of the Thai and of
the Chinese questions of the small profile's XQuAD test set (lexicons from all Tatoeba pairs of the language)."""

from __future__ import annotations

import pytest

from pipeline_support import require_mirror
from stages.xlt.data import split, squad
from stages.xlt.perturbations import PerturbationContext, perturb_qa
from stages.xlt.prepare import tatoeba_lexicons

SMALL_PROFILE_RATE = 0.3  # params.yaml perturb.conditions.codeswitch_words.rate


@pytest.fixture(scope="module")
def small_test_set() -> dict[str, list[dict]]:
    """Test articles of the small profile's split, capped to 150 English questions, same ids in th and zh."""
    per_lang = squad.read_xquad(require_mirror("xquad"), ["en", "th", "zh"])
    articles = split.split_articles(split.article_ids(per_lang["en"]), n_test=16, n_intermediate=16, seed=0)
    test = split.select_all_languages(per_lang, articles, "test")
    kept = {ex["id"] for ex in split.cap(test["en"], 150, 0)}
    return {lang: [ex for ex in examples if ex["id"] in kept] for lang, examples in test.items()}


@pytest.mark.parametrize("lang", ["th", "zh"])
def test_codeswitching_changes_at_least_a_third_of_the_questions(small_test_set, lang):
    lexicons = tatoeba_lexicons(require_mirror("tatoeba", "v1"), [lang])
    examples = small_test_set[lang]
    assert len(examples) == 150
    out = perturb_qa(examples, "codeswitch_words", seed=0, context=PerturbationContext(lexicons=lexicons),
                     rate=SMALL_PROFILE_RATE)
    records = [o["perturbation"] for o in out]
    coverage = sum(r["applied"] for r in records) / len(records)
    assert coverage >= 1 / 3, f"{lang}: only {coverage:.1%} of the questions changed"
    assert all(r["applied"] == (o["question"] != e["question"]) for r, o, e in zip(records, out, examples))
    assert all(r["applied"] == (r["n_replaced"] > 0) for r in records)
    assert all(o["context"] == e["context"] for o, e in zip(out, examples))
    swapped = [w for r in records for w in r["replaced"]]
    assert all(len(w) >= 2 for w in swapped) if lang == "th" else swapped  # Thai words, not characters

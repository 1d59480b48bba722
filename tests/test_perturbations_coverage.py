"""Acceptance: word-level code-switching at the small profile's strength changes at least a third of the Thai and of
the Chinese questions of the small profile's XQuAD test set (lexicons from all Tatoeba pairs of the language).

Every size, seed and knob is read from ``stages/presets/small.yaml`` (validated as the pipeline reads it), so the
test follows the preset when it changes."""

from __future__ import annotations

import pytest
import yaml

from pipeline_support import REPO, require_mirror
from stages.params import Params, validate
from stages.xlt.data import split, squad
from stages.xlt.perturbations import PerturbationContext, perturb_examples
from stages.xlt.prepare import tatoeba_lexicons

CONDITION = "codeswitch_words"


@pytest.fixture(scope="module")
def small() -> Params:
    return validate(yaml.safe_load((REPO / "stages" / "presets" / "small.yaml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def small_test_set(small: Params) -> dict[str, list[dict]]:
    """Test articles of the small profile's split, capped to its English questions, same ids in th and zh (as
    stages/xlt/prepare.py builds them)."""
    sizes, seed = small.download.xquad, small.download.seed
    per_lang = squad.read_xquad(require_mirror("xquad"), ["en", "th", "zh"])
    articles = split.split_articles(split.article_ids(per_lang["en"]), n_test=sizes.n_test_articles,
                                    n_intermediate=sizes.n_intermediate_articles, seed=seed)
    test = split.select_all_languages(per_lang, articles, "test")
    kept = {ex["id"] for ex in split.cap(test["en"], sizes.max_test, seed)}
    return {lang: [ex for ex in examples if ex["id"] in kept] for lang, examples in test.items()}


@pytest.mark.parametrize("lang", ["th", "zh"])
def test_codeswitching_changes_at_least_a_third_of_the_questions(small, small_test_set, lang):
    condition = small.perturb.conditions[CONDITION]
    assert condition.family == CONDITION and "xquad" in (condition.targets or ["xquad"])
    lexicons = tatoeba_lexicons(require_mirror("tatoeba", "v1"), [lang])
    examples = small_test_set[lang]
    assert len(examples) == small.download.xquad.max_test
    out = perturb_examples(examples, condition.family, seed=small.perturb.seed,
                     context=PerturbationContext(lexicons=lexicons), **condition.knobs())
    records = [o["perturbation"] for o in out]
    coverage = sum(r["applied"] for r in records) / len(records)
    assert coverage >= 1 / 3, f"{lang}: only {coverage:.1%} of the questions changed"
    assert all(r["applied"] == (o["question"] != e["question"]) for r, o, e in zip(records, out, examples))
    assert all(r["applied"] == (r["n_replaced"] > 0) for r in records)
    assert all(o["context"] == e["context"] for o, e in zip(out, examples))
    swapped = [w for r in records for w in r["replaced"]]
    assert all(len(w) >= 2 for w in swapped) if lang == "th" else swapped  # Thai words, not characters

"""Sentence-pair families (typos, code-switching, Naik et al.'s stress tests), lone sentences, the knob catalogue."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_support import require_mirror
from stages.params import Condition
from stages.xlt.perturbations import FAMILIES_BY_KIND, KNOBS, PerturbationContext, perturb_examples
from stages.xlt.perturbations.knobs import FIELDS, KINDS, KNOB_VALUES, check_condition, condition_problems
from stages.xlt.perturbations.stress import PHRASES

REPO = Path(__file__).resolve().parents[1]
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
PAWSX_LANGUAGES = ("de", "en", "es", "fr", "ja", "ko", "zh")

PAIR = {"id": "x1", "lang": "en", "text_a": "A man is playing a guitar on stage.",
        "text_b": "A man is playing an instrument.", "label": 0, "cluster": 3}


def pair(lang: str = "en", **fields) -> dict:
    return {**PAIR, "lang": lang, **fields}


# ---------------------------------------------------------------- typos and code-switching on pairs

def test_pair_typos_edit_only_the_chosen_side_and_keep_the_label():
    (hyp,) = perturb_examples([PAIR], "typos", kind="pair", seed=0, rate=1.0, fields=["text_b"])
    assert hyp["text_a"] == PAIR["text_a"] and hyp["text_b"] != PAIR["text_b"]
    assert hyp["label"] == 0 and hyp["cluster"] == 3 and hyp["id"] == "x1"
    record = hyp["perturbation"]
    assert record["applied"] and record["fields"] == ["text_b"] and record["chrf_text_a"] == 100.0
    (both,) = perturb_examples([PAIR], "typos", kind="pair", seed=0, rate=1.0)
    assert both["text_a"] != PAIR["text_a"] and both["text_b"] == hyp["text_b"]  # per-side generators
    (none,) = perturb_examples([PAIR], "typos", kind="pair", seed=0, rate=0.0)
    assert none["perturbation"]["applied"] is False and none["text_a"] == PAIR["text_a"]


def test_pair_typos_are_seeded_per_example():
    other = pair(id="x2", text_b="Nobody plays music here.")
    first = perturb_examples([PAIR, other], "typos", kind="pair", seed=4, rate=0.5)
    assert first == perturb_examples([other, PAIR], "typos", kind="pair", seed=4, rate=0.5)[::-1]
    assert first[:1] == perturb_examples([PAIR], "typos", kind="pair", seed=4, rate=0.5)


def test_pair_codeswitch_words_counts_swaps_over_the_chosen_sides():
    context = PerturbationContext(lexicons={("en", "de"): {"guitar": "gitarre", "instrument": "instrument",
                                                           "stage": "bühne", "playing": "spielt"}})
    (out,) = perturb_examples([PAIR], "codeswitch_words", kind="pair", seed=0, context=context, rate=1.0,
                              target_lang="de")
    assert out["text_a"] == "A man is spielt a gitarre on bühne." and out["text_b"] == "A man is spielt an instrument."
    assert out["perturbation"]["n_replaced"] == 4 and out["perturbation"]["n_translatable"] == 4
    (b_only,) = perturb_examples([PAIR], "codeswitch_words", kind="pair", seed=0, context=context, rate=1.0,
                                 target_lang="de", fields=["text_b"])
    assert b_only["text_a"] == PAIR["text_a"] and b_only["perturbation"]["n_replaced"] == 1


# ---------------------------------------------------------------- stress tests

def test_phrases_cover_xnli_and_pawsx():
    assert set(XNLI_LANGUAGES) | set(PAWSX_LANGUAGES) <= set(PHRASES)
    assert PHRASES["en"] == "and true is true"


@pytest.mark.parametrize("lang", sorted(set(XNLI_LANGUAGES) | set(PAWSX_LANGUAGES)))
def test_tautology_appends_the_phrase_to_the_hypothesis_in_the_items_language(lang):
    example = pair(lang, text_a="Premise.", text_b="Hypothesis. ")
    (nli,) = perturb_examples([example], "tautology", kind="pair", seed=0, task="nli")
    joiner = "" if lang in ("zh", "ja") else " "
    assert nli["text_b"] == "Hypothesis." + joiner + PHRASES[lang] and nli["text_a"] == "Premise."
    assert nli["label"] == example["label"] and nli["perturbation"]["applied"]
    (para,) = perturb_examples([example], "tautology", kind="pair", seed=0, task="pawsx")
    assert para["text_a"] == "Premise." + joiner + PHRASES[lang] and para["text_b"] == nli["text_b"]
    assert para["perturbation"]["fields"] == ["text_a", "text_b"] and para["label"] == example["label"]


def test_length_mismatch_appends_five_phrases_to_the_premise_for_nli_only():
    (nli,) = perturb_examples([PAIR], "length_mismatch", kind="pair", seed=0, task="xnli")
    assert nli["text_a"] == PAIR["text_a"] + " and true is true" * 5 and nli["text_b"] == PAIR["text_b"]
    assert nli["perturbation"]["applied"] and nli["perturbation"]["repeats"] == 5 and nli["label"] == 0
    (two,) = perturb_examples([PAIR], "length_mismatch", kind="pair", seed=0, task="nli", repeats=2)
    assert two["text_a"].count("and true is true") == 2
    (para,) = perturb_examples([PAIR], "length_mismatch", kind="pair", seed=0, task="paraphrase")
    assert para["text_a"] == PAIR["text_a"] and para["perturbation"]["applied"] is False
    assert "NLI" in para["perturbation"]["reason"]


def test_stress_tests_leave_languages_without_a_phrase_unchanged():
    (out,) = perturb_examples([pair("xx")], "tautology", kind="pair", seed=0, task="nli")
    assert out["text_b"] == PAIR["text_b"] and out["perturbation"]["applied"] is False
    assert "'xx'" in out["perturbation"]["reason"]


def test_examples_of_the_wrong_kind_are_rejected():
    with pytest.raises(ValueError, match=r"pair example 'q1' lacks \['text_a', 'text_b'\]"):
        perturb_examples([{"id": "q1", "lang": "en", "question": "q", "context": "c"}], "typos", kind="pair", seed=0)
    with pytest.raises(ValueError, match="unknown perturbation family 'distractor' for kind 'pair'"):
        perturb_examples([PAIR], "distractor", kind="pair", seed=0)


def test_stress_tests_need_the_task():
    with pytest.raises(ValueError, match="task='nli'"):
        perturb_examples([PAIR], "tautology", kind="pair", seed=0)
    with pytest.raises(ValueError, match="no parameter"):
        perturb_examples([PAIR], "tautology", kind="pair", seed=0, task="nli", fields=["text_a"])


def _read_pairs(folder: Path, lang: str, n: int) -> list[dict]:
    rows = (folder / f"dev-{lang}.tsv").read_text(encoding="utf-8").splitlines()[:n]
    return [{"id": f"{lang}-{i}", "lang": lang, "text_a": a, "text_b": b, "label": label, "cluster": i}
            for i, (a, b, label) in enumerate(row.split("\t") for row in rows)]


@pytest.mark.parametrize("dataset, langs, task", [("xnli", XNLI_LANGUAGES, "nli"),
                                                  ("pawsx", PAWSX_LANGUAGES, "paraphrase")])
def test_stress_tests_and_typos_on_the_mirror_keep_labels(dataset, langs, task):
    folder = require_mirror(dataset)
    for lang in langs:
        examples = _read_pairs(folder, lang, 20)
        for family, knobs in (("tautology", {}), ("length_mismatch", {}), ("typos", {"rate": 0.3})):
            out = perturb_examples(examples, family, kind="pair", seed=0, task=task, **knobs)
            assert [e["label"] for e in out] == [e["label"] for e in examples]
            applied = [e["perturbation"]["applied"] for e in out]
            if family == "tautology" or (family == "length_mismatch" and task == "nli"):
                assert all(applied) and all(e["text_b" if task == "nli" and family == "tautology" else "text_a"]
                                            .endswith(PHRASES[lang]) for e in out), (lang, family)
            if family == "typos":
                assert sum(applied) >= 15, (lang, sum(applied))


# ---------------------------------------------------------------- the knob catalogue

def test_knobs_are_declared_once_in_the_catalogue():
    """The family functions take exactly the catalogue's knobs, keyword-only and without a default of their own
    (``perturb_examples`` fills the catalogue's in), and the params schema's knob fields are the catalogue's."""
    assert set(KNOBS) == set(KINDS) == set(FAMILIES_BY_KIND) == set(FIELDS)
    call_arguments = {"seed", "context", "task"}
    for kind in KINDS:
        assert set(KNOBS[kind]) == set(FAMILIES_BY_KIND[kind]), kind
        for family, knobs in KNOBS[kind].items():
            parameters = inspect.signature(FAMILIES_BY_KIND[kind][family]).parameters
            declared = {name: p for name, p in parameters.items() if name not in call_arguments and name != "examples"}
            assert set(declared) == set(knobs) <= set(KNOB_VALUES), (kind, family)
            assert all(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in declared.values()), (kind, family)
    assert list(Condition.model_fields) == ["family", "targets", *KNOB_VALUES]


def test_unset_knobs_take_the_catalogue_defaults():
    (default,) = perturb_examples([PAIR], "length_mismatch", kind="pair", seed=0, task="nli")
    assert default["perturbation"]["repeats"] == KNOBS["pair"]["length_mismatch"]["repeats"]
    (typo,) = perturb_examples([PAIR], "typos", kind="pair", seed=0)
    assert typo["perturbation"]["rate"] == KNOBS["pair"]["typos"]["rate"]
    assert typo["perturbation"]["fields"] == list(KNOBS["pair"]["typos"]["fields"])


def test_the_catalogue_checks_conditions():
    with pytest.raises(ValueError, match="has no knob"):
        check_condition("tautology", {"rate": 0.1})
    with pytest.raises(ValueError, match="edits no kind of input"):
        check_condition("typos", {"fields": ["question", "text_a"]})
    assert condition_problems("c", "typos", {"fields": ["text_a"]}, [("xnli", "pair"), ("xquad", "qa")]) == [
        "c: family 'typos' cannot edit xquad inputs"]
    assert condition_problems("c", "codeswitch_question", {"question_lang": "xx"}, []) == [
        "c.question_lang 'xx' is not a known language"]
    assert condition_problems("c", "codeswitch_words", {"target_lang": "xx"}, [("tatoeba", "sentence")]) == [
        "c.target_lang 'xx' is not a known language", "c: code-switching needs a Tatoeba lexicon for 'xx'"]
    assert condition_problems("c", "codeswitch_words", {"target_lang": "de"}, [("xnli", "pair")]) == []


def test_knob_catalogue_imports_nothing_heavy():
    script = ("import sys, json\nimport stages.xlt.perturbations.knobs as k\n"
              "print(json.dumps([sorted(k.KNOBS), sorted(m for m in ('sacrebleu', 'regex', 'pythainlp', 'jieba', "
              "'zhconv', 'stages.xlt.perturbations.registry') if m in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [["pair", "qa", "sentence"], []]

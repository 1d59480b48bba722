"""perturb: model-agnostic perturbed copies of the test sets, identical for every arm.

    python -m stages.perturb

Reads params ``perturb.*``, ``evaluate.languages``, ``evaluate.tatoeba_languages``. Writes
data/perturbed/<condition>/xquad.<lang>.jsonl (and tatoeba.<lang>.jsonl for the families that apply to a lone
sentence). Every perturbed example keeps its id and records its family, knobs and chrF against the clean one.
Changing a perturbation knob re-runs this stage, evaluate and score, never training.
"""

from __future__ import annotations

from stages import layout
from stages.runtime import load_params, main_guard


def main() -> None:
    params = load_params()

    from tqdm import tqdm

    from stages import conditions
    from stages.xlt.io import atomic_path, read_json, read_jsonl, write_jsonl
    from stages.xlt.perturbations import PerturbationContext, perturb_qa
    from stages.xlt.perturbations.lone_sentences import perturb_sentences

    langs = params.evaluate.languages
    downloaded = params.download.xquad_languages
    test = {lang: read_jsonl(layout.TEST / f"xquad.{lang}.jsonl") for lang in downloaded}
    lexicons = {(lang, "en"): read_json(layout.LEXICONS / f"{lang}-en.json") for lang in downloaded if lang != "en"}
    context = PerturbationContext(
        pool_by_lang=test,  # distractors come from other test articles of the same language
        parallel={lang: {ex["id"]: ex for ex in examples} for lang, examples in test.items()},
        lexicons=lexicons,
    )
    seed = params.perturb.seed
    with atomic_path(layout.PERTURBED, is_dir=True) as out:
        jobs = [(name, lang) for name in params.perturb.conditions for lang in langs]
        for name, lang in tqdm(jobs, desc="perturb xquad", unit="set"):
            cond = params.perturb.conditions[name]
            perturbed = perturb_qa(test[lang], cond.family, seed=seed, context=context, **cond.strength())
            write_jsonl(out / name / f"xquad.{lang}.jsonl", perturbed)
        retrieval = [n for n in conditions.retrieval_conditions(params) if n != conditions.CLEAN]
        for name in retrieval:
            cond = params.perturb.conditions[name]
            for lang in params.evaluate.tatoeba_languages:
                pairs = read_jsonl(layout.TEST / f"tatoeba.{lang}.jsonl")
                strength = cond.strength()
                if cond.family == "typos":  # a lone sentence has only a "question" field to edit
                    strength["fields"] = ["question"]
                sources = perturb_sentences([p["source"] for p in pairs], lang, cond.family, seed=seed,
                                            ids=[p["id"] for p in pairs], context=context, **strength)
                write_jsonl(out / name / f"tatoeba.{lang}.jsonl",
                            ({**p, "source": s["text"], "perturbation": s["perturbation"]}
                             for p, s in zip(pairs, sources, strict=True)))


if __name__ == "__main__":
    main_guard(main)

"""perturb: model-agnostic perturbed copies of every test set, identical for every arm.

    python -m stages.perturb

Reads params ``perturb`` and ``evaluate.targets``. Writes data/perturbed/<condition>/<target>.<lang>.jsonl for every
condition that can edit the target's inputs (QA: question + context; sentence pairs; Tatoeba's lone sentences).
Every perturbed item keeps its id and label/answers and records its family, knobs, chrF against the clean input and
``applied`` (whether the input changed). MLQA's English-question condition is MLQA's own cross-lingual (G-XLT) file,
not a synthetic swap. Changing a perturbation knob re-runs this stage, prefix_perturbed, evaluate (perturbed part),
and score; never training, clean inference or the attack.
"""

from __future__ import annotations

from stages import layout
from stages.runtime import load_params, main_guard


def main() -> None:
    params = load_params(notes=True)

    from tqdm import tqdm

    from stages.xlt.io import atomic_path, read_json, read_jsonl, write_jsonl
    from stages.xlt.perturbations.context import PerturbationContext
    from stages.xlt.perturbations.registry import perturb_examples
    from stages.xlt.tasks import registry

    targets = params.evaluate.targets
    # English too for the QA targets: their English questions are the code-switched ones.
    tests = {(target, lang): read_jsonl(layout.test_set(target, lang)) for target, langs in targets.items()
             for lang in set(langs) | ({"en"} if registry.target(target).protocol.english_test else set())}
    lexicons = {pair: read_json(path) for pair, path in layout.lexicons().items()}

    def context(target: str) -> PerturbationContext:
        # Distractors come from other test articles of the same data set and language; parallel questions from
        # the same data set (XQuAD is parallel; every MLQA question has its English original, by id).
        mine = {lang: rows for (t, lang), rows in tests.items() if t == target}
        return PerturbationContext(pool_by_lang=mine, lexicons=lexicons,
                                   parallel={lang: {ex["id"]: ex for ex in rows} for lang, rows in mine.items()})

    contexts = {target: context(target) for target in targets}
    jobs = [(name, target, lang) for target, langs in targets.items() for name in params.conditions_for(target)
            for lang in langs]
    with atomic_path(layout.PERTURBED, is_dir=True) as out:
        for name, target, lang in tqdm(jobs, desc="perturb", unit="set"):
            cond, kind = params.perturb.conditions[name], registry.target(target).kind
            examples = tests[(target, lang)]
            if kind == "sentence":  # Tatoeba: the non-English side is the sentence; the English side stays
                sentences = [{"id": ex["id"], "lang": lang, "text": ex["source"]} for ex in examples]
                edited = perturb_examples(sentences, cond.family, kind=kind, task=target, seed=params.perturb.seed,
                                          context=contexts[target], **cond.knobs())
                perturbed = [{**ex, "source": e["text"], "perturbation": e["perturbation"]}
                             for ex, e in zip(examples, edited, strict=True)]
            else:
                perturbed = perturb_examples(examples, cond.family, kind=kind, task=target, seed=params.perturb.seed,
                                             context=contexts[target], **cond.knobs())
            # Offline, MLQA's own G-XLT files are prepared beside the test sets (the Hub path does not fetch them).
            if (registry.target(target).native_gxlt and params.download.source == "offline"
                    and cond.family == "codeswitch_question" and cond.knobs().get("question_lang") == "en"):
                _check_native_gxlt(perturbed, read_jsonl(layout.gxlt_set(target, lang)))
            write_jsonl(out / name / f"{target}.{lang}.jsonl", perturbed)


def _check_native_gxlt(perturbed: list[dict], native: list[dict]) -> None:
    """On MLQA the English-question condition is MLQA's own cross-lingual (G-XLT) test set: the same ids, contexts
    and answers with the English question. Checked, so the report can call it the real G-XLT setting."""
    by_id = {ex["id"]: ex for ex in native}
    for ex in perturbed:
        other = by_id.get(ex["id"])
        if other is None or (other["question"], other["context"]) != (ex["question"], ex["context"]):
            raise ValueError(f"MLQA item {ex['id']!r}: the English-question copy differs from MLQA's G-XLT file; "
                             "re-run `dvc repro download`")


if __name__ == "__main__":
    main_guard(main)

"""prefix_clean / prefix_perturbed: the base encoder's frozen bottom over every test input, computed once and
shared by every arm and seed.

    python -m stages.prefix_test --part clean|perturbed

Reads params ``evaluate.targets``, ``evaluate.retrieval_max_length``, the window settings of the fine-tuning tasks
(``transfer``), what is frozen (``intermediate.train`` and ``transfer``), and the test sets (clean part) or perturbed copies (perturbed part; only
the items a condition changed: unchanged items reuse their clean predictions). Writes float32 states under
data/prefix/clean/ and data/prefix/perturbed/<condition>/. When no layer is frozen in every phase (the paper
profile fine-tunes everything) there is nothing to share: the stage writes a note and evaluation runs the whole
model. Two stages, so that changing a perturbation knob never recomputes the clean inputs.
"""

from __future__ import annotations

import argparse

from stages import conditions, layout
from stages.runtime import load_params, main_guard, offline_hub



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", required=True, choices=("clean", "perturbed"))
    part = parser.parse_args().part
    params = load_params()
    offline_hub()

    from tqdm import tqdm

    from stages.xlt.perturbations.knobs import CLEAN
    from stages.xlt.inference import eval_features, sentence_features
    from stages.xlt.io import atomic_path, read_jsonl
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import load_base
    from stages.xlt.tasks import registry

    depth = params.prefix_depth()
    root = layout.PREFIX_CLEAN if part == CLEAN else layout.PREFIX_PERTURBED
    encoder, tokenizer = load_base(layout.ENCODER)
    jobs = [(cond, target, lang) for target, langs in params.evaluate.targets.items()
            for cond in ([CLEAN] if part == CLEAN else params.conditions_for(target)) for lang in langs]
    with atomic_path(root, is_dir=True) as tmp:
        (tmp / "README").write_text(f"base encoder states after {depth} layers\n" if depth else
                                    "no layer is frozen in every training phase: nothing to cache\n", encoding="utf-8")
        if not depth:
            return
        for cond, target, lang in tqdm(jobs, desc=f"prefix {part}", unit="set"):
            spec = registry.target(target)
            examples = [ex for ex in read_jsonl(conditions.inputs(cond, target, lang)) if conditions.applied(ex)]
            out = tmp / layout.test_prefix(cond, target, lang).relative_to(root)
            if spec.family == "retrieval":
                features = sentence_features(tokenizer, [ex["source"] for ex in examples],
                                             params.evaluate.retrieval_max_length)
                if cond == CLEAN:
                    english = sentence_features(tokenizer, [ex["target"] for ex in examples],
                                                params.evaluate.retrieval_max_length)
                    store = prefix.compute(encoder, english, depth, pad_token_id=tokenizer.pad_token_id)
                    prefix.save(store, tmp / layout.test_prefix(cond, target, lang, "en").relative_to(root))
            else:
                window = params.transfer.train_for(spec.model)
                features = eval_features(spec.family, tokenizer, examples, max_length=window.max_seq_length,
                                         doc_stride=window.doc_stride)
            prefix.save(prefix.compute(encoder, features, depth, pad_token_id=tokenizer.pad_token_id), out)


if __name__ == "__main__":
    main_guard(main)

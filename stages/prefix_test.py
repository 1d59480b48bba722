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

from stages import conditions, layout
from stages.runtime import main_guard, start_part
from stages.xlt.perturbations.knobs import CLEAN



def main() -> None:
    part, params = start_part(__doc__, (CLEAN, "perturbed"))

    from tqdm import tqdm

    from stages.xlt.io import atomic_path, read_jsonl
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import load_base
    from stages.inference_params import evaluation_settings, window
    from stages.xlt.evaluation import for_family
    from stages.xlt.tasks import registry

    depth = params.prefix_depth()
    root = layout.PREFIX_CLEAN if part == CLEAN else layout.PREFIX_PERTURBED
    encoder, tokenizer = load_base(layout.ENCODER)
    settings = evaluation_settings(params)
    with atomic_path(root, is_dir=True) as tmp:
        (tmp / "README").write_text(f"base encoder states after {depth} layers\n" if depth else
                                    "no layer is frozen in every training phase: nothing to cache\n", encoding="utf-8")
        if not depth:
            return
        for cond, target, lang in tqdm(conditions.jobs(params, part), desc=f"prefix {part}", unit="set"):
            spec = registry.target(target)
            examples = [ex for ex in read_jsonl(conditions.inputs(cond, target, lang)) if conditions.applied(ex)]
            inputs = for_family(spec.family).prefix_inputs(tokenizer, examples, condition=cond, settings=settings,
                                                           window=window(params, spec.model))
            for side, features in inputs.items():
                store = prefix.compute(encoder, features, depth, pad_token_id=tokenizer.pad_token_id)
                prefix.save(store, tmp / layout.test_prefix(cond, target, lang, side).relative_to(root))


if __name__ == "__main__":
    main_guard(main)

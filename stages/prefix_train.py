"""prefix_train: featurise every training set once and cache the base encoder's frozen bottom for it.

    python -m stages.prefix_train --part intermediate|finetune

Reads params ``intermediate.arms`` (which intermediate tasks are used), ``intermediate.train`` and ``transfer`` (the
window settings and what is frozen), ``prefix.train_dtype``. Writes data/prefix/<part>/<task>.features.jsonl (token
ids and labels) and, when every training phase freezes the embeddings and some layers, <task>.safetensors: the
base encoder's states after those layers, identical for every arm and seed (they all start from the same encoder
and freeze the same layers). Training then runs only the layers above (see modeling/prefix.py). A task's English
dev set (``<task>.dev.jsonl``, paper profile) is copied beside its features for checkpoint selection.
"""

from __future__ import annotations

import shutil

from stages import layout
from stages.runtime import main_guard, start_part


def main() -> None:
    part, params = start_part(__doc__, ("intermediate", "finetune"))

    from stages.xlt.io import atomic_path, read_jsonl, write_jsonl
    from stages.xlt.modeling import prefix
    from stages.xlt.modeling.multitask import load_base
    from stages.xlt.tasks import registry
    from stages.xlt.tasks.family import model_family

    depth = params.prefix_depth()
    if part == "intermediate":
        tasks = params.intermediate.tasks()
        jobs = [(t, registry.intermediate_task(t), params.intermediate.train, layout.INTERMEDIATE_DATA) for t in tasks]
        out = layout.PREFIX_INTERMEDIATE
    else:
        jobs = [(t, registry.finetune_task(t), params.transfer.train_for(t), layout.FINETUNE_DATA)
                for t in params.finetune_targets()]
        out = layout.PREFIX_FINETUNE
    encoder, tokenizer = load_base(layout.ENCODER)
    with atomic_path(out, is_dir=True) as tmp:
        for task, spec, train, folder in jobs:
            examples = read_jsonl(folder / f"{task}.jsonl")
            features = model_family(spec.family).train_features(examples, tokenizer, max_length=train.max_seq_length,
                                                              doc_stride=train.doc_stride)
            write_jsonl(tmp / f"{task}.features.jsonl", features)
            if (folder / f"{task}.dev.jsonl").exists():
                shutil.copyfile(folder / f"{task}.dev.jsonl", tmp / f"{task}.dev.jsonl")
            if depth > 0:
                store = prefix.compute(encoder, features, depth, pad_token_id=tokenizer.pad_token_id,
                                       dtype=params.prefix.train_dtype, progress=f"prefix {part}/{task}")
                prefix.save(store, tmp / f"{task}.safetensors")
            print(f"{part}/{task}: {len(examples)} examples, {len(features)} features"
                  + (f", states after {depth} layers cached" if depth else ", no layers frozen: nothing cached"))
        if not jobs:
            (tmp / "NONE").write_text("no training set in this part\n", encoding="utf-8")


if __name__ == "__main__":
    main_guard(main)

"""transfer@<arm>-<seed>: fine-tune the arm's encoder on each English fine-tuning task (X-STILTs' phase 3).

    python -m stages.transfer --arm multi --seed 0

Reads params ``transfer`` (``train`` and each task's departures from it), ``intermediate.arms.<arm>`` and
``intermediate.train``'s length and batch (a compute-matched arm fine-tunes each task on as many extra features as
the matched intermediate training processes: intermediate.train.max_steps steps, or, for an arm matched to named
tasks at a length in epochs, their steps counted from the training features in data/prefix/intermediate; at equal
batch sizes that is as many extra optimizer steps). A length in epochs becomes steps from
the task's training features. With ``select_every`` the weights kept are the best English-dev evaluation's. Writes
data/transfer/<arm>-<seed>/<task> for every task of ``transfer.targets`` (the model's delta against the base
encoder, with the task's head) and training curves in plots/training/transfer/<arm>-<seed>/<task>/ (final losses in <arm>-<seed>.metrics.json). The QA model predicts
XQuAD and MLQA; the classifiers XNLI and PAWS-X; evaluation in every language happens in evaluate@<arm>-<seed>.
All tasks of a run share one stage: with the cached bottom each is a minute or less of training, and one process
saves a model load and interpreter start per task. Interrupted runs resume from data/checkpoints/transfer/.
"""

from __future__ import annotations

import math
import shutil

from stages import layout
from stages.recording import record_provenance, training_record
from stages.runtime import main_guard, main_process, start_run


def main() -> None:
    args, params = start_run(__doc__)

    from stages.training import DVCLiveLogger, dev_scorer, feature_count, steps, train_config, training_features
    from stages.xlt.io import atomic_path, write_json
    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.tasks import registry
    from stages.xlt.training.loop import train

    name = layout.run_name(args.arm, args.seed)
    encoder = layout.intermediate_model(args.arm, args.seed)
    is_main = main_process()  # under `accelerate launch` only rank 0 logs and writes outputs
    summary, trained = {}, {}
    matched = params.intermediate.arm(args.arm)
    matched_features = 0  # training features the matched intermediate training processes
    if matched.compute_matched is not False:
        inter = params.intermediate.train
        counts = {t: feature_count(layout.PREFIX_INTERMEDIATE, t) for t in matched.matched_tasks} \
            if inter.max_steps is None else {}
        matched_features = steps(inter.max_steps, inter.epochs, counts, inter) * inter.effective_batch
    with atomic_path(layout.transfer_models(args.arm, args.seed), is_dir=True) as out:
        for task in params.finetune_targets():
            spec = registry.finetune_task(task)
            train_params = params.transfer.train_for(task)
            model = MultiTaskModel(layout.ENCODER, {task: (spec.family, spec.num_labels or 0)}, delta=encoder,
                                   freeze_embeddings=train_params.freeze_embeddings,
                                   freeze_layers=train_params.freeze_layers, seed=args.seed)
            features, depth, fingerprint = training_features(layout.PREFIX_FINETUNE, task)
            if depth:
                model.use_prefix(depth, fingerprint)
            task_steps = steps(train_params.max_steps, train_params.epochs, {task: len(features)}, train_params)
            # As many extra features as the matched intermediate training processes (= its steps at equal batches).
            extra_steps = math.ceil(matched_features / train_params.effective_batch)
            cfg = train_config(train_params, args.seed, max_steps=task_steps + extra_steps)
            evaluate = dev_scorer(model, layout.PREFIX_FINETUNE, {task: train_params}) if cfg.select_every else None
            logger = DVCLiveLogger(layout.training_log("transfer", name) / task, summary=False) if is_main else None
            checkpoints = layout.checkpoint("transfer", f"{name}-{task}")
            stats = train(model, {task: features}, cfg, checkpoint_dir=checkpoints, logger=logger, evaluate=evaluate)
            if not is_main:
                continue
            logger.close()
            model.save(out / task, tasks=[task])
            summary[task] = {"steps": cfg.max_steps, "final_loss": stats["final_loss"]}
            trained[task] = {"train": train_params.model_dump(), "steps": cfg.max_steps, "compute_matched_steps":
                             extra_steps, "training": training_record(stats)}
            shutil.rmtree(checkpoints, ignore_errors=True)
    if is_main:
        write_json(layout.training_log("transfer", name).with_suffix(".metrics.json"), summary)
        record_provenance(layout.transfer_models(args.arm, args.seed), params=params.transfer.model_dump(),
                          inputs={"encoder": encoder, "data": layout.PREFIX_FINETUNE},
                          extra={"arm": args.arm, "seed": args.seed, "tasks": trained})


if __name__ == "__main__":
    main_guard(main)

"""intermediate@<arm>-<seed>: English intermediate-task training of the shared encoder (X-STILTs' phase 2).

    python -m stages.intermediate --arm multi --seed 0

Reads params ``intermediate.arms.<arm>``, ``intermediate.train``, ``intermediate.sampler``. A length in epochs
becomes steps from the training features (jiant: sum over the arm's tasks of epochs * ceil(features / batch)), so
arms with more data train longer. With ``select_every`` the weights kept are those of the best English-dev
evaluation (the dev sets prefix_train copied beside the features). Writes
data/intermediate/<arm>-<seed> (the encoder's delta against the base: task heads are discarded, as in X-STILTs) and
training curves in plots/training/intermediate/<arm>-<seed>. An arm without tasks passes the base encoder on.
Training reads the featurised sets (and cached bottom states) of prefix_train. Interrupted runs resume from
data/checkpoints/intermediate/<arm>-<seed>.
"""

from __future__ import annotations

import shutil

from stages import layout
from stages.recording import record_provenance, training_record
from stages.runtime import main_guard, main_process, start_run


def main() -> None:
    args, params = start_run(__doc__)

    from stages.xlt.io import write_json, write_text
    from stages.xlt.modeling.delta_files import save_unchanged

    name = layout.run_name(args.arm, args.seed)
    tasks = params.intermediate.arm(args.arm).tasks
    out = layout.intermediate_model(args.arm, args.seed)
    log_dir = layout.training_log("intermediate", name)
    record = dict(params={"tasks": tasks, **params.intermediate.model_dump(exclude={"arms"}),
                          "length": dict(zip(("max_steps", "epochs"), params.intermediate.length(args.arm)))},
                  inputs={"encoder": layout.ENCODER, "data": layout.PREFIX_INTERMEDIATE})
    if not tasks:
        if not main_process():
            return
        save_unchanged(layout.ENCODER, out)
        record_provenance(out, **record, extra={"arm": args.arm, "seed": args.seed, "training": None})
        # The declared training-curve outputs say "no training" (a file, not an empty folder: git keeps no empty
        # folders, and a clone would then see this cache: false output as deleted).
        write_text(log_dir / "plots" / "metrics" / "steps.tsv", "step\tsteps\n0\t0\n")
        write_json(log_dir / "metrics.json", {"steps": 0})
        print(f"arm {args.arm!r} has no intermediate tasks: {out} is the base encoder")
        return

    # Only an arm that trains pays torch's and transformers' import.
    from stages.training import DVCLiveLogger, dev_scorer, steps, train_config, training_features
    from stages.xlt.modeling.multitask import MultiTaskModel
    from stages.xlt.tasks import registry
    from stages.xlt.training.loop import train

    train_params = params.intermediate.train
    specs = {task: registry.intermediate_task(task) for task in tasks}
    model = MultiTaskModel(layout.ENCODER, {t: (s.family, s.num_labels or 0) for t, s in specs.items()},
                           freeze_embeddings=train_params.freeze_embeddings, freeze_layers=train_params.freeze_layers,
                           seed=args.seed)
    data = {}
    for task in tasks:
        data[task], depth, fingerprint = training_features(layout.PREFIX_INTERMEDIATE, task)
        if depth:
            model.use_prefix(depth, fingerprint)
    max_steps, epochs = params.intermediate.length(args.arm)
    cfg = train_config(train_params, args.seed, params.intermediate.sampler,
                       max_steps=steps(max_steps, epochs, {t: len(f) for t, f in data.items()}, train_params))
    evaluate = (dev_scorer(model, layout.PREFIX_INTERMEDIATE, {t: train_params for t in tasks})
                if cfg.select_every else None)
    is_main = main_process()  # under `accelerate launch` only rank 0 logs and writes outputs
    logger = DVCLiveLogger(log_dir) if is_main else None
    checkpoints = layout.checkpoint("intermediate", name)
    stats = train(model, data, cfg, checkpoint_dir=checkpoints, logger=logger, evaluate=evaluate)
    if not is_main:
        return
    logger.close()
    model.save(out)
    record_provenance(out, **record, extra={"arm": args.arm, "seed": args.seed,
                                                            "training": training_record(stats)})
    shutil.rmtree(checkpoints, ignore_errors=True)  # the finished output supersedes the checkpoint


if __name__ == "__main__":
    main_guard(main)

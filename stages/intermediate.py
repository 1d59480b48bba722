"""intermediate@<arm>-<seed>: English intermediate-task training of the shared encoder.

    python -m stages.intermediate --arm multi --seed 0

Reads params ``intermediate.arms.<arm>``, ``intermediate.train``, ``intermediate.sampler``. Writes
data/intermediate/<arm>-<seed> (the encoder; task heads are discarded, as in X-STILTs) and training curves in
plots/training/intermediate/<arm>-<seed>. The ``none`` arm (no tasks) passes the pretrained encoder on.
Interrupted runs resume from data/checkpoints/intermediate/<arm>-<seed>.
"""

from __future__ import annotations

import shutil

from stages import layout
from stages.runtime import check_run, load_params, main_guard, main_process, offline_hub, record_provenance, run_parser


def main() -> None:
    args = run_parser(__doc__.splitlines()[0]).parse_args()
    params = load_params()
    check_run(params, args.arm, args.seed)
    offline_hub()

    from stages.training import DVCLiveLogger, train_config
    from stages.xlt.io import atomic_path, read_jsonl, write_json, write_text
    from stages.xlt.tasks.registry import get_task
    from stages.xlt.training.loop import train
    from stages.xlt.training.model import MultiTaskModel

    tasks = params.intermediate.arms[args.arm]
    out = layout.intermediate_model(args.arm, args.seed)
    log_dir = layout.training_log("intermediate", args.arm, args.seed)
    record = dict(params={"tasks": tasks, **params.intermediate.model_dump(exclude={"arms"})},
                  inputs={"encoder": layout.ENCODER, "data": layout.INTERMEDIATE_DATA})
    if not tasks:
        if not main_process():
            return
        with atomic_path(out, is_dir=True) as tmp:
            shutil.copytree(layout.ENCODER, tmp, dirs_exist_ok=True)
        record_provenance(out, **record, extra={"arm": args.arm, "seed": args.seed, "training": None})
        # The declared training-curve outputs say "no training" (a file, not an empty folder: git keeps no
        # empty folders, and a clone would then see this cache: false output as deleted).
        write_text(log_dir / "plots" / "metrics" / "steps.tsv", "step\tsteps\n0\t0\n")
        write_json(log_dir / "metrics.json", {"steps": 0})
        print(f"arm {args.arm!r} has no intermediate tasks: {out} is the pretrained encoder")
        return

    registry = "paper" if params.download.source == "hub" else "small"  # Hub tasks vs offline-derived tasks
    specs = {name: get_task(name, registry) for name in tasks}
    data = {name: read_jsonl(layout.INTERMEDIATE_DATA / f"{name}.jsonl") for name in tasks}
    cfg = train_config(params.intermediate.train, args.seed, params.intermediate.sampler)
    model = MultiTaskModel(
        layout.ENCODER,
        {name: (spec.family, spec.num_labels or 0) for name, spec in specs.items()},
        freeze_embeddings=cfg.freeze_embeddings,
        freeze_layers=cfg.freeze_layers,
        seed=args.seed,
    )
    is_main = main_process()  # under `accelerate launch` only rank 0 logs and writes outputs
    logger = None if not is_main else DVCLiveLogger(log_dir)
    checkpoints = layout.checkpoint("intermediate", args.arm, args.seed)
    stats = train(model, data, cfg, checkpoint_dir=checkpoints, logger=logger)
    if not is_main:
        return
    logger.close()
    model.save_encoder(out)
    record_provenance(out, **record, extra={"arm": args.arm, "seed": args.seed, "training": stats})
    shutil.rmtree(checkpoints, ignore_errors=True)  # the finished output supersedes the checkpoint


if __name__ == "__main__":
    main_guard(main)

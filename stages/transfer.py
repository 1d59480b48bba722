"""transfer@<arm>-<seed>: fine-tune the arm's encoder on the English target task (extractive QA).

    python -m stages.transfer --arm multi --seed 0

Reads params ``transfer.*``. Writes data/transfer/<arm>-<seed>, a standard AutoModelForQuestionAnswering
folder, and training curves in plots/training/transfer/<arm>-<seed>. Zero-shot evaluation in every
language happens in evaluate@<arm>-<seed>. Interrupted runs resume from data/checkpoints/transfer/.
"""

from __future__ import annotations

import shutil

from stages import layout
from stages.runtime import check_run, load_params, main_guard, main_process, offline_hub, record_provenance, run_parser

TARGET_TASK = "target_qa"


def main() -> None:
    args = run_parser(__doc__.splitlines()[0]).parse_args()
    params = load_params()
    check_run(params, args.arm, args.seed)
    offline_hub()

    from stages.training import DVCLiveLogger, train_config
    from stages.xlt.io import read_jsonl
    from stages.xlt.training.loop import train
    from stages.xlt.training.model import MultiTaskModel

    encoder = layout.intermediate_model(args.arm, args.seed)
    out = layout.transfer_model(args.arm, args.seed)
    examples = read_jsonl(layout.TARGET_TRAIN / "qa.en.jsonl")
    cfg = train_config(params.transfer.train, args.seed)
    model = MultiTaskModel(encoder, {TARGET_TASK: ("qa", 2)}, freeze_embeddings=cfg.freeze_embeddings,
                           freeze_layers=cfg.freeze_layers, seed=args.seed)
    is_main = main_process()  # under `accelerate launch` only rank 0 logs and writes outputs
    logger = None if not is_main else DVCLiveLogger(layout.training_log("transfer", args.arm, args.seed))
    checkpoints = layout.checkpoint("transfer", args.arm, args.seed)
    stats = train(model, {TARGET_TASK: examples}, cfg, checkpoint_dir=checkpoints, logger=logger)
    if not is_main:
        return
    logger.close()
    model.save_question_answering(TARGET_TASK, out)
    record_provenance(out, params=params.transfer.model_dump(), inputs={"encoder": encoder, "data": layout.TARGET_TRAIN},
                      extra={"arm": args.arm, "seed": args.seed, "training": stats})
    shutil.rmtree(checkpoints, ignore_errors=True)


if __name__ == "__main__":
    main_guard(main)

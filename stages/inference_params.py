"""What inference reads from params, shared by prefix_test, evaluate and attack so that they cut and batch every
input alike (a cached state must belong to exactly the window the model later reads)."""

from __future__ import annotations

from stages.params import Params
from stages.xlt.evaluation import EvaluationSettings, Window


def window(params: Params, model_task: str | None) -> Window | None:
    """How the fine-tuning task ``model_task`` cuts its inputs (None: targets read by the encoder itself)."""
    if model_task is None:
        return None
    train = params.transfer.train_for(model_task)
    return Window(max_length=train.max_seq_length, doc_stride=train.doc_stride)


def evaluation_settings(params: Params) -> EvaluationSettings:
    cfg = params.evaluate
    return EvaluationSettings(batch_size=cfg.batch_size, retrieval_pooling=cfg.retrieval_pooling,
                              retrieval_layer=cfg.retrieval_layer, retrieval_max_length=cfg.retrieval_max_length)

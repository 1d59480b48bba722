"""Copy a Hugging Face encoder (Hub id at a pinned revision, or a local folder) into a standard model folder,
safetensors only. The commit actually loaded is recorded in the encoder's provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ModelUnavailableError(ValueError):
    """The model could not be loaded (offline and not cached, or no such folder/id)."""


def _unavailable(name_or_path: str, error: Exception) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"cannot load encoder {name_or_path!r} with safetensors weights ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}); fix: run once online (unset HF_HUB_OFFLINE) so it "
        f"is cached, or point name_or_path at a local folder saved with save_pretrained")


def save_hub_model(name_or_path: str, out: Path, revision: str | None = None) -> dict[str, Any]:
    """Load ``AutoModel`` + ``AutoTokenizer`` (no remote code) at ``revision`` and save both to ``out``.

    A Hub id must come with a revision (``tasks/registry.HUB_MODELS``): an unpinned model could change under a
    committed dvc.lock. A local folder needs none."""
    from transformers import AutoModel, AutoTokenizer

    local = Path(name_or_path).is_dir()
    if not local and revision is None:
        raise ModelUnavailableError(f"encoder {name_or_path!r} has no pinned revision; fix: add its commit to "
                                    "stages/xlt/tasks/registry.py HUB_MODELS, or point name_or_path at a local folder")
    pin = {} if local else {"revision": revision}
    try:
        model = AutoModel.from_pretrained(name_or_path, trust_remote_code=False, use_safetensors=True, **pin)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False, **pin)
    except (OSError, ValueError, EnvironmentError) as error:
        raise _unavailable(name_or_path, error) from error
    _make_head_neutral(model.config)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {
        "architecture": type(model).__name__,
        "inputs": {name_or_path: getattr(model.config, "_commit_hash", None) or "local"},
        "revision_pinned": None if local else revision,
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "vocab_size": int(model.config.vocab_size),
        "tokenizer_size": len(tokenizer),
    }


def _make_head_neutral(config) -> None:
    """Drop any label set a Hub config carries: one config must serve QA, classification and multiple choice."""
    config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
    config.problem_type = None

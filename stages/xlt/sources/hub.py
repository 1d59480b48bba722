"""Copy a Hugging Face encoder (Hub id or local folder) into a standard model folder, safetensors only."""

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


def save_hub_model(name_or_path: str, out: Path) -> dict[str, Any]:
    """Load ``AutoModel`` + ``AutoTokenizer`` (no remote code) and save both to ``out``."""
    from transformers import AutoModel, AutoTokenizer

    try:
        model = AutoModel.from_pretrained(name_or_path, trust_remote_code=False, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    except (OSError, ValueError, EnvironmentError) as error:
        raise _unavailable(name_or_path, error) from error
    _make_head_neutral(model.config)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return {
        "architecture": type(model).__name__,
        "inputs": {name_or_path: getattr(model.config, "_commit_hash", None) or "local"},
        "n_params": int(sum(p.numel() for p in model.parameters())),
        "vocab_size": int(model.config.vocab_size),
        "tokenizer_size": len(tokenizer),
    }


def _make_head_neutral(config) -> None:
    """Drop any label set a Hub config carries: one config must serve QA, classification and multiple choice."""
    config.id2label = {0: "LABEL_0", 1: "LABEL_1"}
    config.label2id = {"LABEL_0": 0, "LABEL_1": 1}
    config.problem_type = None

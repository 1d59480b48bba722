"""A model delta on disk (``multitask.MultiTaskModel.save``): its two files, and the delta of a model that was never
trained. Nothing here imports torch, so an arm without intermediate tasks passes the base encoder on in a fraction of
a second instead of paying torch's and transformers' import for an empty file."""

from __future__ import annotations

import os
from pathlib import Path

from ..io import atomic_path, read_json, write_json

DELTA_WEIGHTS, DELTA_INFO = "delta.safetensors", "delta.json"


def save_unchanged(encoder_dir: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """The delta of a model that was not trained (an arm without intermediate tasks): the base encoder itself."""
    from safetensors.numpy import save_file  # the same bytes as safetensors.torch's for an empty state

    config = read_json(Path(encoder_dir) / "config.json")
    if "num_hidden_layers" not in config:
        raise ValueError(f"{encoder_dir}/config.json has no num_hidden_layers: not a BERT-style encoder folder; "
                         "re-run the encoder stage (dvc repro encoder)")
    n_layers = config["num_hidden_layers"]
    with atomic_path(out_dir, is_dir=True) as tmp:
        save_file({}, str(tmp / DELTA_WEIGHTS))
        write_json(tmp / DELTA_INFO, {"base_fingerprint": None, "delta_from": n_layers, "embeddings": False,
                                      "n_layers": n_layers, "heads": {}})

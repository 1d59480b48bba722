"""download: fetch and verify the raw data, split XQuAD by article, derive the English intermediate tasks.

    python -m stages.download

Reads params ``download.*``. Writes data/raw (checksummed copies), data/prepared/{intermediate, target_train,
test, lexicons}. Upstream URLs by default; ``XLT_MIRROR=/path`` takes the files from a local mirror folder
laid out like ../shared/data (xquad/, tatoeba/v1/).
"""

from __future__ import annotations

import os

from stages import layout
from stages.runtime import load_params, main_guard, offline_hub, record_provenance


def main() -> None:
    params = load_params()
    cfg = params.download
    offline_hub(allow_downloads=cfg.source == "hub")

    from stages.xlt import prepare
    from stages.xlt.io import atomic_path
    from stages.xlt.languages import TATOEBA_CODES
    from stages.xlt.sources.fetch import fetch_many, tatoeba_items, xquad_items

    mirror = os.environ.get("XLT_MIRROR") or None
    lexicon_languages = [lang for lang in cfg.xquad_languages if lang != "en"]
    tatoeba_languages = sorted(set(cfg.tatoeba_languages) | set(lexicon_languages))
    items = xquad_items(cfg.xquad_languages) + tatoeba_items(TATOEBA_CODES[lang] for lang in tatoeba_languages)
    fetch_many(items, layout.RAW, mirror=mirror)

    prepared = prepare.prepare_offline(
        xquad_dir=layout.RAW_XQUAD,
        tatoeba_dir=layout.RAW_TATOEBA,
        xquad_languages=cfg.xquad_languages,
        tatoeba_languages=cfg.tatoeba_languages,
        lexicon_languages=lexicon_languages,
        n_test_articles=cfg.split.n_test_articles,
        n_intermediate_articles=cfg.split.n_intermediate_articles,
        split_seed=cfg.split.seed,
        max_intermediate_examples=cfg.max_intermediate_examples,
        max_target_train_examples=cfg.max_target_train_examples,
        max_test_examples=cfg.max_test_examples,
        max_tatoeba_pairs=cfg.max_tatoeba_pairs,
    )
    if cfg.source == "hub":
        prepared = prepare.replace_with_hub_tasks(prepared)

    for folder, files in [
        (layout.INTERMEDIATE_DATA, prepared.intermediate),
        (layout.TARGET_TRAIN, prepared.target_train),
        (layout.TEST, prepared.test),
        (layout.LEXICONS, prepared.lexicons),
    ]:
        with atomic_path(folder, is_dir=True) as tmp:
            prepare.write_folder(tmp, files)
    record_provenance(layout.PREPARED, params=cfg.model_dump(), inputs={"raw": layout.RAW})
    sizes = prepared.sizes()
    print("prepared:", ", ".join(f"{name}={n}" for name, n in sorted(sizes.items())))


if __name__ == "__main__":
    main_guard(main)

"""download: fetch and verify the raw data, split every data set by its unit of independence, and write the English
intermediate tasks, the English fine-tuning sets, the zero-shot test sets and the bilingual lexicons.

    python -m stages.download

Reads params ``download``, ``evaluate.targets`` (which languages to fetch and prepare), ``intermediate.arms`` and
``transfer.targets`` (the paper profile fetches only the Hub tasks they name). Writes data/raw (checksummed
copies) and data/prepared/{intermediate, finetune, test, lexicons}. Upstream URLs by default; ``XLT_MIRROR=/path``
takes the files from a local mirror laid out like the upstream repositories, and ``XLT_HUB_MIRROR=/path`` (paper
profile) a local folder laid out like the Hub repositories (``<owner>/<name>/<files>`` at the pinned commits of
``tasks/registry.HUB_SOURCES``, see data/hub_tasks.py). The provenance record lists every Hub file read with its
repository and commit.
"""

from __future__ import annotations

import os

from stages import layout
from stages.recording import record_provenance
from stages.runtime import load_params, main_guard, offline_hub


def main() -> None:
    params = load_params()
    cfg = params.download
    hub = cfg.source == "hub"
    offline_hub(allow_downloads=hub and not os.environ.get("XLT_HUB_MIRROR"))

    from stages.xlt import prepare
    from stages.xlt.io import atomic_path
    from stages.xlt.languages import TATOEBA_CODES
    from stages.xlt.sources import fetch
    from stages.xlt.tasks import registry

    targets = params.evaluate.targets
    finetune = params.finetune_targets()
    lexicon_languages = prepare.lexicon_languages(targets)
    tatoeba = sorted(set(targets.get("tatoeba", [])) | set(lexicon_languages))
    items = fetch.tatoeba_items(TATOEBA_CODES[lang] for lang in tatoeba)
    if not hub:
        items += fetch.xquad_items(sorted(set(targets.get("xquad", [])) | {"en"}))
        if targets.get("mlqa"):
            items += fetch.mlqa_items(targets["mlqa"])
        for task in ("xnli", "pawsx"):
            if getattr(cfg, task) is not None:
                items += getattr(fetch, f"{task}_items")(sorted(set(targets.get(task, [])) | {"en"}))
    fetch.fetch_many(items, layout.RAW, mirror=os.environ.get(fetch.MIRROR_ENV))

    if hub:
        arm_tasks = params.intermediate.tasks()
        from_mirror = {k: v for k, v in targets.items() if registry.target(k).from_mirror}
        prepared = prepare.prepare_hub(intermediate_tasks=arm_tasks, finetune=finetune,
                                       targets={k: v for k, v in targets.items() if k not in from_mirror},
                                       source=os.environ.get("XLT_HUB_MIRROR") or None, max_train=cfg.max_hub_train,
                                       max_test=cfg.max_hub_train, max_dev=cfg.max_hub_dev, seed=cfg.seed)
        offline = prepare.prepare_offline(raw=layout.RAW, targets=from_mirror, sizes={},
                                          seed=cfg.seed, finetune=[], lexicon_languages=lexicon_languages,
                                          max_tatoeba_pairs=cfg.max_tatoeba_pairs, with_xquad=False)
        prepared.test.update(offline.test)
        prepared.lexicons = offline.lexicons
    else:
        sizes = {name: prepare.Sizes(n_test=split.n_test_articles if hasattr(split, "n_test_articles")
                                     else split.n_test_groups,
                                     n_intermediate=getattr(split, "n_intermediate_articles", None)
                                     or getattr(split, "n_intermediate_groups", 0),
                                     max_test=split.max_test, max_intermediate=split.max_intermediate,
                                     max_train=split.max_train)
                 for name in ("xquad", "mlqa", "xnli", "pawsx") if (split := getattr(cfg, name)) is not None}
        prepared = prepare.prepare_offline(raw=layout.RAW, targets=targets, sizes=sizes, seed=cfg.seed,
                                           finetune=finetune, lexicon_languages=lexicon_languages,
                                           max_tatoeba_pairs=cfg.max_tatoeba_pairs)

    for folder, files in [(layout.INTERMEDIATE_DATA, prepared.intermediate), (layout.FINETUNE_DATA, prepared.finetune),
                          (layout.TEST, prepared.test), (layout.LEXICONS, prepared.lexicons)]:
        with atomic_path(folder, is_dir=True) as tmp:
            prepare.write_folder(tmp, files)
    record_provenance(layout.PREPARED, params=cfg.model_dump(), inputs={"raw": layout.RAW},
                      extra={"hub_sources": prepared.sources} if hub else None)
    print("prepared:", ", ".join(f"{name}={n}" for name, n in sorted(prepared.sizes().items())))


if __name__ == "__main__":
    main_guard(main)

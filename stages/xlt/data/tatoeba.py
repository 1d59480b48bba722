"""Read XTREME's Tatoeba test sets (LASER's line-aligned files) into retrieval examples.

Files: ``tatoeba.<xxx>-eng.<xxx>`` (the non-English side) and ``tatoeba.<xxx>-eng.eng``, where ``xxx`` is the
three-letter code XTREME maps each two-letter language to (``languages.TATOEBA_XTREME``). Line i of one file
translates line i of the other; the gold target of source i is target i.
"""

from __future__ import annotations

from pathlib import Path

from stages.xlt.languages import TATOEBA_CODES


def tatoeba_paths(folder: str | Path, lang2: str) -> tuple[Path, Path]:
    if lang2 not in TATOEBA_CODES:
        raise ValueError(f"no Tatoeba file code for language {lang2!r}; known: {sorted(TATOEBA_CODES)}")
    code = TATOEBA_CODES[lang2]
    folder = Path(folder)
    return folder / f"tatoeba.{code}-eng.{code}", folder / f"tatoeba.{code}-eng.eng"


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"missing Tatoeba file {path}; download the Tatoeba data first")
    text = path.read_text(encoding="utf-8")
    # Split on "\n" only: str.splitlines would also split on U+2028 etc. inside a sentence and misalign.
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_tatoeba(folder: str | Path, lang2: str) -> list[dict]:
    """``{"id", "lang", "source" (non-English), "target" (English)}`` per aligned line pair."""
    source_path, target_path = tatoeba_paths(folder, lang2)
    sources, targets = _lines(source_path), _lines(target_path)
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path.name} has {len(sources)} lines but {target_path.name} has {len(targets)}; "
            "the files must be line-aligned"
        )
    if not sources:
        raise ValueError(f"{source_path} is empty")
    return [
        {"id": f"tatoeba-{lang2}-{i:04d}", "lang": lang2, "source": source, "target": target}
        for i, (source, target) in enumerate(zip(sources, targets, strict=True))
    ]

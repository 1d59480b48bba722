"""Where the offline data mirror is, for the perturbation tests that read real data (they skip without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror_or_skip(*parts: str) -> Path:
    """``$XLT_MIRROR/<parts>`` (default: ``../shared/data`` beside the repo), or skip the test with the reason."""
    root = Path(os.environ["XLT_MIRROR"]) if os.environ.get("XLT_MIRROR") else REPO.parent / "shared" / "data"
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"offline data mirror not found at {path}: set XLT_MIRROR to a folder laid out like "
                    "shared/data (xquad/, tatoeba/v1/, xnli/, pawsx/)")
    return path

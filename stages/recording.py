"""Provenance records beside the outputs of the stages that make data and models (not imported by the others)."""

from __future__ import annotations

from pathlib import Path

from stages.layout import provenance_of
from stages.xlt.provenance import provenance, write_provenance


def record_provenance(output: Path, *, params: dict, inputs: dict[str, Path], extra: dict | None = None) -> None:
    """Write what made ``output`` (versions, input hashes, params hash) to ``<output>.provenance.json``."""
    write_provenance(provenance_of(Path(output)), provenance(params=params, inputs=inputs, extra=extra))

"""Provenance records beside the outputs of the stages that make data and models (not imported by the others)."""

from __future__ import annotations

from pathlib import Path

from stages.layout import provenance_of
from stages.xlt.provenance import provenance, write_provenance


def record_provenance(output: Path, *, params: dict, inputs: dict[str, Path], extra: dict | None = None) -> None:
    """Write what made ``output`` (versions, input hashes, params hash) to ``<output>.provenance.json``."""
    write_provenance(provenance_of(Path(output)), provenance(params=params, inputs=inputs, extra=extra))


TIMINGS = ("seconds", "features_per_second")


def training_record(stats: dict) -> dict:
    """A training run's statistics without its timings: the record of what made a model must be a function of its
    inputs, so that retraining with the same params and seed leaves the folder holding it byte-identical (the
    attack reads every model's folder; wall times are in the stage table, not in provenance)."""
    return {key: value for key, value in stats.items() if key not in TIMINGS}

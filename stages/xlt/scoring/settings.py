"""How the study's tables are computed: the comparisons made, the statistics' settings, the multiplicity method, the
cells named in advance and the guards. The caller names every arm; nothing here knows a study's arm names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stages.xlt.scoring.statistics import BootstrapSettings

DEFAULT_CHRF_BINS: tuple[float, ...] = (0, 50, 60, 70, 80, 90, 100)  # chrF on sacrebleu's 0–100 scale

HeadlineCell = tuple[str, str, str, str]  # task, arm_a, arm_b, condition


def _normalise_headline(entry) -> HeadlineCell:
    """(task, (A, B), condition) or (task, A, B, condition) -> (task, A, B, condition)."""
    entry = tuple(entry)
    if len(entry) == 3 and len(tuple(entry[1])) == 2 and not isinstance(entry[1], str):
        task, (arm_a, arm_b), condition = entry[0], tuple(entry[1]), entry[2]
    elif len(entry) == 4:
        task, arm_a, arm_b, condition = entry
    else:
        raise ValueError(f"headline cell {entry!r} must be (task, (arm_a, arm_b), condition)")
    return str(task), str(arm_a), str(arm_b), str(condition)


@dataclass(frozen=True)
class SummarySettings:
    comparisons: tuple[tuple[str, str], ...]  # (A, B) pairs of arm names: Δ = drop(A) − drop(B)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    n_permutations: int = 2000
    multiplicity: str = "holm"  # "holm" (family-wise error) or "bh" (false discovery rate)
    primary_metrics: Mapping[str, str] = field(default_factory=dict)  # task -> metric; default f1, accuracy
    average_languages: Mapping[str, Sequence[str]] | None = None  # task -> languages; None/absent: all
    confound_threshold: float = 0.05  # on the 0–1 score scale: 0.05 = 5 points
    attack_threshold: float = 0.5  # an item is attack-eligible when both arms' clean score reaches this
    headline: tuple[HeadlineCell, ...] = ()  # the language-averaged cells named in advance as the answer
    chrf_bins: tuple[float, ...] = DEFAULT_CHRF_BINS
    min_clusters: int = 5  # fewer changed clusters: "too few clusters", no p, out of its family
    min_bin_items: int = 5  # strength bins are merged with their neighbours until each holds this many items
    # (task, A, B) comparisons not to make, e.g. where both arms are the same model for that task: they would repeat
    # another comparison's numbers and inflate its multiplicity family.
    skipped_comparisons: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        comparisons = tuple((str(a), str(b)) for a, b in self.comparisons)
        if any(a == b for a, b in comparisons):
            raise ValueError(f"comparisons {comparisons} pair an arm with itself")
        object.__setattr__(self, "comparisons", comparisons)
        headline = tuple(_normalise_headline(entry) for entry in self.headline)
        unknown = [cell for cell in headline if (cell[1], cell[2]) not in comparisons]
        if unknown:
            raise ValueError(f"headline cells {unknown} use comparisons not in {list(comparisons)}")
        object.__setattr__(self, "headline", headline)
        if self.multiplicity not in ("holm", "bh"):
            raise ValueError(f"multiplicity={self.multiplicity!r} must be 'holm' or 'bh'")
        if self.n_permutations < 1:
            raise ValueError(f"n_permutations={self.n_permutations} must be >= 1 (use e.g. 2000)")
        if isinstance(self.min_clusters, bool) or not isinstance(self.min_clusters, int) or self.min_clusters < 2:
            raise ValueError(f"min_clusters={self.min_clusters!r} must be an integer >= 2 (the item variance needs "
                             "two clusters; e.g. 5)")
        if not self.confound_threshold >= 0:
            raise ValueError(f"confound_threshold={self.confound_threshold} must be >= 0 (0–1 score scale)")
        if self.average_languages is not None:
            if isinstance(self.average_languages, (str, bytes)) or not isinstance(self.average_languages, Mapping):
                raise ValueError("average_languages must map task -> [languages] (or be None for all languages)")
            object.__setattr__(self, "average_languages",
                               {str(t): tuple(langs) for t, langs in self.average_languages.items()})
        object.__setattr__(self, "primary_metrics", dict(self.primary_metrics))
        object.__setattr__(self, "skipped_comparisons",
                           tuple((str(t), str(a), str(b)) for t, a, b in self.skipped_comparisons))
        if self.min_bin_items < 1:
            raise ValueError(f"min_bin_items={self.min_bin_items} must be >= 1")

    @property
    def alpha(self) -> float:
        return self.bootstrap.alpha

    def average_set(self, task: str, langs: Sequence[str]) -> list[str]:
        """The languages of `langs` that `task`'s language average is over (all of them unless named), sorted."""
        chosen = (self.average_languages or {}).get(task)
        return sorted(lang for lang in langs if chosen is None or lang in chosen)

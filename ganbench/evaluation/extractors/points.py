"""The extractor of 2D point sets: none, the points are their own features."""

from __future__ import annotations

from ganbench.data import Dataset
from ganbench.evaluation.extractors.base import ExtractorOptions, ExtractorSpec, register_extractor

__all__: list[str] = []


def _no_network(dataset: Dataset, device: str, options: ExtractorOptions) -> None:
    return None


register_extractor(
    ExtractorSpec(
        name="points",
        kinds=("points2d",),
        needs_labels=False,
        factory=_no_network,
        description="2D sets are scored on the points themselves",
        default_for=("points2d",),
    )
)

"""Pure metric functions on features, probabilities, points and labels.

Every function takes numpy arrays or torch tensors, computes in float64, is deterministic, and
raises ``ganbench.errors.UserError`` (a ``ValueError``) for invalid input. ``METRICS`` holds the
name, direction and version of every reported number.
"""

from ganbench.metrics.base import METRICS, MetricInfo, metric_info
from ganbench.metrics.frechet import (
    GaussianStats,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
)
from ganbench.metrics.inception_score import inception_score
from ganbench.metrics.kid import kernel_inception_distance
from ganbench.metrics.mode_coverage import mode_coverage_2d, mode_histogram_metrics, stacked_labels
from ganbench.metrics.prdc import prdc

__all__ = [
    "METRICS",
    "MetricInfo",
    "metric_info",
    "GaussianStats",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "inception_score",
    "kernel_inception_distance",
    "prdc",
    "mode_coverage_2d",
    "mode_histogram_metrics",
    "stacked_labels",
]

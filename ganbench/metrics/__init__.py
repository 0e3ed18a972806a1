"""Pure metric functions on features, probabilities, points and labels, and their registered specs.

Every function takes numpy arrays or torch tensors, computes in float64, is deterministic, and
raises ``ganbench.errors.UserError`` (a ``ValueError``) for invalid input. ``METRICS`` maps every
reported name to its ``MetricSpec`` (direction, version, inputs, compute function, ranking role).
"""

from ganbench.metrics.base import (
    METRIC_REGISTRY,
    METRICS,
    MetricContext,
    MetricInfo,
    MetricSpec,
    compute_metrics,
    direction_mark,
    is_better,
    metric_info,
    metric_names,
    metric_specs,
    ranking_keys,
    register_metric,
)

# Each module registers its specs on import, and registration order is the order of the leaderboard's
# columns and of the default protocols: keep these imports in this order (not alphabetical).
from ganbench.metrics.frechet import (  # isort: skip
    GaussianStats,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
)
from ganbench.metrics.inception_score import inception_score  # isort: skip
from ganbench.metrics.kid import kernel_inception_distance  # isort: skip
from ganbench.metrics.prdc import PRDC_METRICS, prdc, prdc_reference, prdc_size  # isort: skip
from ganbench.metrics.mode_coverage import mode_coverage_2d, mode_histogram_metrics, stacked_labels  # isort: skip
from ganbench.metrics.memorisation import authenticity, ct_statistic, nn_ratio  # isort: skip
from ganbench.metrics.generalisation import fd_generalisation, fd_infinity  # isort: skip
from ganbench.metrics.vendi import vendi_score, vendi_score_from_kernel  # isort: skip

__all__ = [
    "METRICS",
    "METRIC_REGISTRY",
    "MetricContext",
    "MetricInfo",
    "MetricSpec",
    "compute_metrics",
    "direction_mark",
    "is_better",
    "metric_info",
    "metric_names",
    "metric_specs",
    "ranking_keys",
    "register_metric",
    "GaussianStats",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "inception_score",
    "kernel_inception_distance",
    "prdc",
    "prdc_reference",
    "prdc_size",
    "PRDC_METRICS",
    "mode_coverage_2d",
    "mode_histogram_metrics",
    "stacked_labels",
    "authenticity",
    "ct_statistic",
    "nn_ratio",
    "fd_generalisation",
    "fd_infinity",
    "vendi_score",
    "vendi_score_from_kernel",
]

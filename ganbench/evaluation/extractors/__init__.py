"""Evaluators: networks that turn images into features and class probabilities for the metrics.

- ``ClassifierEvaluator`` (``get_classifier``): a small CNN ganbench trains on a labelled dataset
  (offline, cached); for stacked sets it classifies each channel.
- ``InceptionEvaluator``: torch-fidelity's TF-compatible Inception-v3 (needs its weights file).
"""

from ganbench.evaluation.extractors.base import Evaluator
from ganbench.evaluation.extractors.classifier import ClassifierEvaluator, ClassifierNet, get_classifier
from ganbench.evaluation.extractors.inception import (
    WEIGHTS_FILENAME,
    WEIGHTS_SHA256_PREFIX,
    WEIGHTS_URL,
    InceptionEvaluator,
    hub_weights_path,
    resolve_inception_weights,
)

__all__ = [
    "Evaluator",
    "ClassifierEvaluator",
    "ClassifierNet",
    "get_classifier",
    "InceptionEvaluator",
    "WEIGHTS_FILENAME",
    "WEIGHTS_SHA256_PREFIX",
    "WEIGHTS_URL",
    "hub_weights_path",
    "resolve_inception_weights",
]

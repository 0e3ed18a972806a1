"""Evaluators: networks that turn images into features and class probabilities for the metrics.

- ``ClassifierEvaluator`` (``get_classifier``): a small CNN ganbench trains on a labelled dataset
  (offline, cached); for stacked sets it classifies each channel.
- ``InceptionEvaluator``: torch-fidelity's TF-compatible Inception-v3 (needs its weights file).
- ``DinoV2Evaluator`` (``dinov2-vit-{s,b,l}14``), ``ClipEvaluator`` (``clip-vit-{b32,l14}``): torch-fidelity's
  DINOv2 and CLIP features (each needs its published weights file; features only, no class probabilities).
- ``points``: no network, 2D point sets are their own features.

Each module registers its ``ExtractorSpec`` in ``EXTRACTORS`` (the names ``--extractor`` accepts); importing
them here fills the registry.
"""

from ganbench.evaluation.extractors import points  # noqa: F401  (registers the "points" extractor)
from ganbench.evaluation.extractors.base import (
    EXTRACTORS,
    Evaluator,
    ExtractorOptions,
    ExtractorSpec,
    build_extractor,
    register_extractor,
    resolve_extractor,
)
from ganbench.evaluation.extractors.classifier import ClassifierEvaluator, ClassifierNet, get_classifier
from ganbench.evaluation.extractors.clip import ClipEvaluator
from ganbench.evaluation.extractors.dinov2 import DinoV2Evaluator
from ganbench.evaluation.extractors.inception import (
    WEIGHTS_FILENAME,
    WEIGHTS_SHA256_PREFIX,
    WEIGHTS_URL,
    InceptionEvaluator,
    hub_weights_path,
    resolve_inception_weights,
)

__all__ = [
    "EXTRACTORS",
    "Evaluator",
    "ExtractorOptions",
    "ExtractorSpec",
    "build_extractor",
    "register_extractor",
    "resolve_extractor",
    "ClassifierEvaluator",
    "ClassifierNet",
    "get_classifier",
    "ClipEvaluator",
    "DinoV2Evaluator",
    "InceptionEvaluator",
    "WEIGHTS_FILENAME",
    "WEIGHTS_SHA256_PREFIX",
    "WEIGHTS_URL",
    "hub_weights_path",
    "resolve_inception_weights",
]

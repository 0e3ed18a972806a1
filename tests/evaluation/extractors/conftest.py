"""Random-weights files in the published formats, written once per test session (88 MB and 353 MB)."""

from __future__ import annotations

import pytest

from ganbench.evaluation.extractors.clip import CLIP_VARIANTS, write_random_clip_weights
from ganbench.evaluation.extractors.dinov2 import (
    DINOV2_VARIANTS,
    write_random_dinov2_weights,
)


@pytest.fixture(scope="session")
def dinov2_small_weights(tmp_path_factory):
    """Random DINOv2 ViT-S/14 weights (seed 0), named as the published file."""
    name = DINOV2_VARIANTS["dinov2-vit-s14"].weights.filename
    return write_random_dinov2_weights(tmp_path_factory.mktemp("dinov2") / name, "dinov2-vit-s14")


@pytest.fixture(scope="session")
def clip_weights(tmp_path_factory):
    """Random CLIP ViT-B/32 weights (seed 0) in OpenAI's TorchScript format, named as torch-fidelity caches it."""
    name = CLIP_VARIANTS["clip-vit-b32"].weights.filename
    return write_random_clip_weights(tmp_path_factory.mktemp("clip") / name, "clip-vit-b32")

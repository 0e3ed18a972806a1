"""CLIP image embeddings from a random-weights file in OpenAI's format (no download, no network).

OpenAI's files cannot be fetched here, so the tests write a TorchScript archive with the whole CLIP
model's keys, shapes and dtypes (text tower included) and random values, and check ganbench against
torch-fidelity's ``FeatureExtractorCLIP`` loaded directly from the same file.
"""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_clip import (
    MODEL_METADATA,
    MODEL_URLS,
    FeatureExtractorCLIP,
)

from ganbench.errors import UserError
from ganbench.evaluation.extractors.clip import CLIP_VARIANTS, ClipEvaluator


@pytest.fixture(scope="module")
def weights(clip_weights):
    return clip_weights


@pytest.fixture(scope="module")
def evaluator(weights):
    with pytest.warns(RuntimeWarning, match="not CLIP ViT-B/32's published"):
        return ClipEvaluator("clip-vit-b32", weights_path=weights)


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(1)
    return torch.rand(3, 1, 12, 12, generator=gen) * 2 - 1, torch.rand(3, 3, 20, 20, generator=gen) * 2 - 1


def test_files_are_torch_fidelity_s():
    for name, v in CLIP_VARIANTS.items():
        assert v.weights.url == MODEL_URLS[v.fidelity_name]
        assert v.weights.sha256 == MODEL_METADATA[v.fidelity_name]["hash"]
        # torch-fidelity's cache name (load_state_dict_from_url's file_name): a file it fetched is reused.
        assert v.weights.filename == f"{v.fidelity_name}-{MODEL_METADATA[v.fidelity_name]['hash']}.pt"
        assert name == v.fidelity_name.replace("-b-", "-b").replace("-l-", "-l")


def test_random_file_has_openai_s_layout(weights):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        state = torch.jit.load(str(weights), map_location="cpu").state_dict()
    assert state["visual.conv1.weight"].shape == (768, 3, 32, 32) and state["visual.conv1.weight"].dtype == torch.half
    assert state["visual.positional_embedding"].shape == (50, 768)
    assert state["text_projection"].shape == (512, 512) and state["token_embedding.weight"].shape == (49408, 512)
    assert "transformer.resblocks.11.mlp.c_proj.weight" in state and int(state["input_resolution"]) == 224
    assert 150e6 < sum(t.numel() for t in state.values()) < 152e6  # OpenAI's ViT-B/32: 151.3M parameters


def test_matches_torch_fidelity_directly(evaluator, weights, images):
    direct = FeatureExtractorCLIP("clip-vit-b-32", ["clip"], feature_extractor_weights_path=str(weights)).eval()
    for x in images:
        u = ((x + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)
        with torch.no_grad():
            (expected,) = direct(u)
        feats, probs = evaluator.features_and_probs(x)
        assert feats.shape == (3, 512) and probs.shape == (3, 0) and feats.std() > 0.1
        np.testing.assert_allclose(feats, expected.double().numpy(), rtol=1e-6, atol=1e-6)
    info = evaluator.info()
    assert info["name"] == "clip-vit-b-32" and info["feature_dim"] == 512 and info["num_classes"] is None
    assert info["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert info["standard_weights"] is False and "224" in info["preprocessing"]["resize"]


def test_batch_size_does_not_change_features(evaluator, images):
    rgb = images[1]
    np.testing.assert_allclose(evaluator.features(rgb, batch_size=1), evaluator.features(rgb), rtol=1e-5, atol=1e-5)


def test_another_variant_s_or_a_foreign_file_is_a_user_error(weights, dinov2_small_weights):
    with pytest.warns(RuntimeWarning), pytest.raises(
        UserError, match=r"not CLIP ViT-L/14 weights \(its image tower has .* = \(512, 224, 32, 768, 12\), not "
                         r"\(768, 224, 14, 1024, 24\)\)"):  # fmt: skip
        ClipEvaluator("clip-vit-l14", weights_path=weights)
    with pytest.warns(RuntimeWarning), pytest.raises(UserError, match=r"dinov2_vits14_pretrain.pth is corrupt or not "
                                                                      r"CLIP ViT-B/32 weights"):  # fmt: skip
        ClipEvaluator("clip-vit-b32", weights_path=dinov2_small_weights)

"""DINOv2 features from a random-weights file in the published format (no download, no network).

The reference is torch-fidelity's ``FeatureExtractorDinoV2``, which builds the network from the official
facebookresearch/dinov2 code through torch hub and loads the same file into it (strictly). That code is
not installed here, so:

- ``test_matches_torch_fidelity_with_the_official_code`` runs it when a checkout of the repository is
  available (``GANBENCH_TEST_DINOV2_REPO=/path/to/dinov2``, or torch hub's cached
  ``facebookresearch_dinov2_main``), and checks both ganbench and the pinned values below against it;
- the pinned values are its output on the seed-0 random files (dinov2 commit b8931f7, torch-fidelity 0.4.0,
  torch 2.14), so the comparison also runs where the repository is absent;
- the preprocessing is checked against torch-fidelity's own ``forward`` with the backbone taken out.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_dinov2 import (
    MODEL_METADATA,
    FeatureExtractorDinoV2,
)

from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors.dinov2 import (
    DINOV2_VARIANTS,
    DinoV2Evaluator,
    preprocess,
    write_random_dinov2_weights,
)
from ganbench.evaluation.extractors.inception import to_uint8
from ganbench.evaluation.protocol import default_protocol, fingerprint

# torch-fidelity + the official code on the seed-0 random files and IMAGES: first five features, row norms.
PINNED = {
    "dinov2-vit-s14": ([[1.292459, -1.145592, -0.588453, 0.618889, 1.173006],
                        [1.286194, -0.906542, -0.742921, 0.495228, 1.136747]], [20.08359, 20.07427]),
    "dinov2-vit-l14": ([[0.072567, 0.137098, -0.832782, -0.114167, -0.114019]], [32.18254]),
}  # fmt: skip
IMAGES = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _official_repo() -> Path | None:
    given = os.environ.get("GANBENCH_TEST_DINOV2_REPO")
    cached = Path(torch.hub.get_dir()) / "facebookresearch_dinov2_main"
    for repo in (Path(given) if given else None, cached):
        if repo is not None and (repo / "hubconf.py").is_file():
            return repo
    return None


@pytest.fixture(scope="module")
def small(dinov2_small_weights):
    return dinov2_small_weights


@pytest.fixture(scope="module")
def evaluator(small):
    with pytest.warns(RuntimeWarning, match="not DINOv2 ViT-S/14's published"):
        return DinoV2Evaluator("dinov2-vit-s14", weights_path=small)


def test_names_and_files_are_torch_fidelity_and_the_hub_s():
    for name, v in DINOV2_VARIANTS.items():
        hub = MODEL_METADATA[v.fidelity_name]  # torch-fidelity's name -> the dinov2 hub entry
        assert v.weights.filename == f"{hub}_pretrain.pth"
        assert v.weights.url == f"https://dl.fbaipublicfiles.com/dinov2/{hub}/{hub}_pretrain.pth"
        assert name == v.fidelity_name.replace("-14", "14")


def test_preprocessing_is_torch_fidelity_s(evaluator):
    """torch-fidelity's ``forward`` with an identity backbone returns its network input."""
    u = to_uint8(IMAGES)
    stub = types.SimpleNamespace(INPUT_IMAGE_SIZE=FeatureExtractorDinoV2.INPUT_IMAGE_SIZE, model=lambda x: x,
                                 feature_extractor_internal_dtype=torch.float32, features_list=["dinov2"])
    (reference,) = FeatureExtractorDinoV2.forward(stub, u)
    assert reference.shape == (2, 3, 224, 224)
    torch.testing.assert_close(preprocess(u), reference, rtol=1e-6, atol=1e-5)


def test_features_match_the_official_network(evaluator, small):
    feats, probs = evaluator.features_and_probs(IMAGES)
    first, norms = PINNED["dinov2-vit-s14"]
    assert feats.shape == (2, 384) and feats.dtype == np.float64 and probs.shape == (2, 0)
    np.testing.assert_allclose(feats[:, :5], first, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), norms, rtol=1e-5)
    gray = evaluator.features(IMAGES[:, :1])  # gray is repeated to RGB
    np.testing.assert_allclose(gray, evaluator.features(IMAGES[:, :1].expand(-1, 3, -1, -1)), rtol=0, atol=0)
    info = evaluator.info()
    assert info["name"] == "dinov2-vit-s-14" and info["feature_dim"] == 384 and info["num_classes"] is None
    assert info["weights_sha256"] == hashlib.sha256(small.read_bytes()).hexdigest()
    assert info["standard_weights"] is False and "224" in info["preprocessing"]["resize"]


@pytest.mark.skipif(_official_repo() is None, reason="no facebookresearch/dinov2 checkout (GANBENCH_TEST_DINOV2_REPO)")
@pytest.mark.parametrize("variant", ["dinov2-vit-s14", pytest.param("dinov2-vit-l14", marks=pytest.mark.slow)])
def test_matches_torch_fidelity_with_the_official_code(variant, tmp_path, monkeypatch):
    v = DINOV2_VARIANTS[variant]
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "facebookresearch_dinov2_main").symlink_to(_official_repo())
    write_random_dinov2_weights(hub / "checkpoints" / v.weights.filename, variant)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(hub))
    monkeypatch.setattr(sys, "path", list(sys.path))  # torch hub puts the repository on it
    reference = FeatureExtractorDinoV2(v.fidelity_name, ["dinov2"]).eval()  # the official code, strict load
    n = len(PINNED[variant][1])
    with torch.no_grad():
        (expected,) = reference(to_uint8(IMAGES[:n]))
    with pytest.warns(RuntimeWarning):
        ours = DinoV2Evaluator(variant, weights_path=hub / "checkpoints" / v.weights.filename).features(IMAGES[:n])
    np.testing.assert_allclose(ours, expected.double().numpy(), rtol=1e-5, atol=2e-5)
    np.testing.assert_allclose(expected[:, :5].double().numpy(), PINNED[variant][0], rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # a 1.2 GB file; the same code path runs in the ViT-S/14 tests of the default run
def test_vit_l14_in_the_published_format(tmp_path):
    """The dgm-eval variant: a 1.2 GB file of ViT-L/14's 304M parameters, one image (about 10 s on a CPU)."""
    path = write_random_dinov2_weights(tmp_path / "dinov2_vitl14_pretrain.pth", "dinov2-vit-l14")
    assert 1.2e9 < path.stat().st_size < 1.22e9  # the published file: 1,217,586,395 bytes
    with pytest.warns(RuntimeWarning):
        ev = DinoV2Evaluator("dinov2-vit-l14", weights_path=path)
    assert sum(p.numel() for p in ev.net.parameters()) == 304_368_640
    feats = ev.features(IMAGES[:1])
    first, norms = PINNED["dinov2-vit-l14"]
    np.testing.assert_allclose(feats[:, :5], first, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), norms, rtol=1e-5)


def test_foreign_and_corrupt_files_are_user_errors(small, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.warns(RuntimeWarning), pytest.raises(UserError, match=r"garbage.pth is corrupt or not DINOv2"):
        DinoV2Evaluator("dinov2-vit-s14", weights_path=garbage)
    with pytest.warns(RuntimeWarning), pytest.raises(UserError, match=r"175 of another shape; cls_token has shape "
                                                                      r"\(1, 1, 384\), not \(1, 1, 768\)"):  # fmt: skip
        DinoV2Evaluator("dinov2-vit-b14", weights_path=small)  # ViT-S weights for ViT-B
    partial = tmp_path / "partial.pth"
    state = torch.load(small, weights_only=True)
    del state["blocks.3.ls2.gamma"]
    torch.save(state, partial)
    with pytest.warns(RuntimeWarning), pytest.raises(UserError, match=r"1 keys missing.*blocks.3.ls2.gamma"):
        DinoV2Evaluator("dinov2-vit-s14", weights_path=partial)


def test_each_weights_file_has_its_own_fingerprint(small, tmp_path):
    other = write_random_dinov2_weights(tmp_path / "dinov2_vits14_pretrain.pth", "dinov2-vit-s14", seed=1)
    digits = load_dataset("digits")
    protocol = default_protocol(digits, "dinov2-vit-s14")
    with pytest.warns(RuntimeWarning):
        prints = [fingerprint(protocol, DinoV2Evaluator("dinov2-vit-s14", weights_path=w).info(), digits)
                  for w in (small, other)]  # fmt: skip
    assert prints[0]["id"] != prints[1]["id"]
    shas = [fp["extractor"]["weights_sha256"] for fp in prints]
    assert shas == [hashlib.sha256(w.read_bytes()).hexdigest() for w in (small, other)]
    assert prints[0]["extractor"]["name"] == "dinov2-vit-s-14"
    assert str(tmp_path) not in json.dumps(prints[1]) and "weights_path" not in prints[1]["extractor"]

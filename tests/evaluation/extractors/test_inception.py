"""InceptionEvaluator end to end with randomly initialised weights (no download, no network).

The real weights cannot be fetched here, so the tests write a state dict of torch-fidelity's own
Inception-v3 architecture with random weights and check ganbench against torch-fidelity run
directly on the same file.
"""

from __future__ import annotations

import hashlib
import shutil
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3
from torch_fidelity.metric_isc import isc_features_to_metric

from ganbench.data.real import uint8_to_unit
from ganbench.errors import UserError
from ganbench.evaluation.extractors import WEIGHTS_FILENAME, WEIGHTS_URL, InceptionEvaluator
from ganbench.evaluation.extractors.inception import to_uint8, write_random_weights
from ganbench.metrics import inception_score


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random-weights file in torch-fidelity's format (same keys and shapes as the real one)."""
    return write_random_weights(tmp_path_factory.mktemp("inception") / "random-inception.pth")


@pytest.fixture(scope="module")
def images():
    gen = torch.Generator().manual_seed(1)
    gray = torch.rand(4, 1, 12, 12, generator=gen) * 2 - 1
    rgb = torch.rand(4, 3, 16, 16, generator=gen) * 2 - 1
    return gray, rgb


@pytest.fixture(scope="module")
def evaluator(weights):
    return InceptionEvaluator(weights_path=weights)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch hub pointed at an empty folder, downloads made to fail loudly; both restored after."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # an earlier set_dir would override TORCH_HOME
    monkeypatch.delenv("GANBENCH_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("the test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_url_matches_torch_fidelity():
    assert WEIGHTS_URL == URL_INCEPTION_V3 and URL_INCEPTION_V3.endswith(WEIGHTS_FILENAME)


def test_uint8_conversion_inverts_dataset_scaling():
    levels = np.arange(256, dtype=np.uint8)
    x = uint8_to_unit(levels.reshape(1, 1, 16, 16))
    u = to_uint8(x)
    assert u.dtype == torch.uint8 and u.shape == (1, 3, 16, 16)
    np.testing.assert_array_equal(u[0, 0].flatten().numpy(), levels)
    assert torch.equal(u[:, 0], u[:, 2])
    assert to_uint8(torch.tensor([-3.0, 3.0]).reshape(1, 1, 1, 2))[0, 0].flatten().tolist() == [0, 255]  # clamped


def test_features_and_probs_end_to_end(evaluator, weights, images):
    for x in images:
        feats, probs = evaluator.features_and_probs(x)
        assert feats.shape == (4, 2048) and feats.dtype == np.float64 and np.isfinite(feats).all()
        assert probs.shape == (4, 1008) and np.isfinite(probs).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
        assert feats.std() > 0
    assert evaluator.weights_sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    info = evaluator.info()
    assert info["weights_sha256"] == evaluator.weights_sha256 and info["standard_weights"] is False
    assert info["preprocessing"]["input"] == "uint8 NCHW [0,255]"
    assert "299" in info["preprocessing"]["resize"]
    # The CPU speed path is active (its outputs are checked against torch-fidelity's module below).
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in evaluator.extractor.modules())


def test_matches_torch_fidelity_directly(evaluator, weights, images):
    gray, rgb = images
    direct = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(weights)
    ).eval()
    for x in (gray, rgb):
        u = ((x + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1)
        with torch.no_grad():
            ref_feats, ref_logits = direct(u)
        feats, probs = evaluator.features_and_probs(x)
        np.testing.assert_allclose(feats, ref_feats.double().numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(probs, ref_logits.double().softmax(1).numpy(), rtol=1e-6, atol=1e-12)
        # The Inception score from our probs is torch-fidelity's from its logits_unbiased.
        ref_is = isc_features_to_metric(ref_logits, splits=1, shuffle=False)["inception_score_mean"]
        assert inception_score(probs, splits=1)[0] == pytest.approx(ref_is, rel=1e-6)


def test_offline_without_weights_names_file_hash_and_destination(empty_hub):
    with pytest.raises(UserError) as err:
        InceptionEvaluator(offline=True)
    msg = str(err.value)
    assert "\n" not in msg
    needles = (WEIGHTS_FILENAME, "SHA-256 starting 6726825d", URL_INCEPTION_V3, str(empty_hub), "--inception-weights")
    for needle in needles:
        assert needle in msg
    assert not empty_hub.exists() or not any(empty_hub.iterdir())


def test_offline_from_environment(empty_hub, monkeypatch):
    monkeypatch.setenv("GANBENCH_OFFLINE", "1")
    with pytest.raises(UserError, match="offline"):
        InceptionEvaluator()


def test_download_failure_is_user_error_and_leaves_no_file(empty_hub, monkeypatch):
    def broken(url, dst, hash_prefix=None, progress=True):
        with open(dst, "wb") as f:
            f.write(b"partial")
        raise URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", broken)
    with pytest.raises(UserError, match="downloading it failed.*no route to host"):
        InceptionEvaluator()
    assert list(empty_hub.iterdir()) == []


def test_download_lands_in_hub_cache_and_is_reused(empty_hub, monkeypatch, weights):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        shutil.copy(weights, dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.warns(RuntimeWarning, match="not be comparable"):  # random weights are not the standard file
        ev = InceptionEvaluator()
    assert calls == [(URL_INCEPTION_V3, "6726825d")]
    assert [p.name for p in empty_hub.iterdir()] == [WEIGHTS_FILENAME]
    assert ev.weights_path == empty_hub / WEIGHTS_FILENAME
    with pytest.warns(RuntimeWarning, match="not be comparable"):
        again = InceptionEvaluator(offline=True)  # found in the cache: no second download
    assert len(calls) == 1 and again.weights_sha256 == ev.weights_sha256


def test_corrupt_or_foreign_weights_are_user_errors(tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(UserError, match="garbage.pth is corrupt"):
        InceptionEvaluator(weights_path=garbage)
    foreign = tmp_path / "foreign.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, foreign)
    with pytest.raises(UserError, match="foreign.pth is corrupt"):
        InceptionEvaluator(weights_path=foreign)
    pickled = tmp_path / "pickled.pth"
    torch.save({"net": nn.Linear(2, 2)}, pickled)  # needs full pickle: refused by weights_only
    with pytest.raises(UserError, match="pickled.pth is corrupt"):
        InceptionEvaluator(weights_path=pickled)
    with pytest.raises(UserError, match="--inception-weights: no file"):
        InceptionEvaluator(weights_path=tmp_path / "missing.pth")


def test_bad_image_shape(evaluator):
    with pytest.raises(UserError, match="1 or 3 channels"):
        evaluator.features(torch.zeros(2, 2, 8, 8))


def test_cli_eval_with_inception_end_to_end(weights, tmp_path, capsys):
    """`ganbench eval --extractor inception --inception-weights FILE --offline` on a folder dataset."""
    import json

    from PIL import Image

    from ganbench.cli import main

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    np.save(tmp_path / "s.npy", rng.integers(0, 255, (4, 16, 16, 3), dtype=np.uint8))
    code = main(["eval", "--samples", str(tmp_path / "s.npy"), "--dataset", f"folder:{tmp_path / 'imgs'}",
                 "--extractor", "inception", "--inception-weights", str(weights), "--offline", "--metrics", "fd,is",
                 "--json", "--device", "cpu"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)
    assert res["metrics"]["fd"] >= 0 and res["metrics"]["is"] >= 1
    ext = res["fingerprint"]["extractor"]
    assert ext["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert "299" in json.dumps(ext["preprocessing"])

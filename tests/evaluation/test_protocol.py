"""The evaluation protocols: the published one on standard image sets (IS and FID on 50,000 generated
samples, IS in 10 splits of 5,000, FID against the whole training split's statistics, KID as
torch-fidelity computes it), the stated ones on the small embedded sets, user overrides and their
fingerprints, and the whole-split statistics cache.

Real datasets cannot be downloaded here: the tests write small files in torchvision's on-disk formats.
The 50,000-sample defaults are checked as values; the machinery runs on small n set explicitly. Every
number is compared with torch-fidelity, pytorch-fid or the prdc package on the same features.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from prdc import compute_prdc
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.defaults import DEFAULTS as TF
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric

from ganbench.caches import clear_caches
from ganbench.cli import main
from ganbench.data import load_dataset, real
from ganbench.errors import UserError
from ganbench.evaluation.extractors import (
    EXTRACTORS,
    Evaluator,
    ExtractorSpec,
    register_extractor,
)
from ganbench.evaluation.extractors.inception import write_random_weights
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import (
    default_protocol,
    fingerprint,
    parse_protocol_options,
)
from ganbench.evaluation.reference_cache import reference_paths, whole_split_reference
from ganbench.evaluation.scoring import score
from ganbench.metrics import METRICS, MetricContext
from tests.data.test_real import write_cifar10, write_mnist


def _tf_kid(fake, real_feats, subsets, subset_size, seed):
    out = kid_features_to_metric(torch.as_tensor(fake), torch.as_tensor(real_feats), kid_subsets=subsets,
                                 kid_subset_size=subset_size, kid_kernel="poly", kid_kernel_poly_degree=3,
                                 kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=seed,
                                 verbose=False)  # fmt: skip
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    """cifar10, mnist, fashion-mnist and stacked-mnist read from small files in torchvision's formats,
    each with more than 1,000 training images so that KID's subset size is the published 1,000."""
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, per_batch=250, n_test=50)
    write_mnist(root, "MNIST", n_train=1200, n_test=50)
    write_mnist(root, "FashionMNIST", n_train=1100, n_test=50, seed=1)
    return {
        "cifar10": real.load_cifar10(str(root), verify_checksums=False),
        "mnist": real.load_mnist(str(root)),
        "fashion-mnist": real.load_fashion_mnist(str(root)),
        # The protocol's 128,000 stacked images would take 1.2 GB; the protocol reads only the split sizes.
        "stacked-mnist": real.build_stacked_mnist(str(root), train_size=1500, test_size=60),
    }


@pytest.mark.parametrize("name", ["cifar10", "mnist", "fashion-mnist", "stacked-mnist"])
def test_standard_sets_get_the_published_protocol(standard, name):
    d = standard[name]
    p = default_protocol(d)
    assert d.info.name == name and d.info.source == "torchvision"
    # IS and FID on 50,000 generated samples; IS in 10 splits of 5,000 (Salimans et al. 2016).
    assert (p.n_fake, p.is_splits, p.n_fake // p.is_splits) == (50_000, 10, 5_000)
    # FID against the whole training split (Heusel et al. 2017; pytorch-fid / torch-fidelity's cifar10-train).
    assert (p.reference_split, p.n_real) == ("train", len(d.train))
    # KID and the IS permutation as torch-fidelity's defaults.
    assert (p.kid_subsets, p.kid_subset_size, p.kid_seed, p.is_shuffle_seed, p.is_splits) == (
        TF["kid_subsets"], TF["kid_subset_size"], TF["rng_seed"], TF["rng_seed"], TF["isc_splits"])
    assert TF["samples_shuffle"] is True
    # PRDC (Naeem et al. 2020): 10,000 real and 10,000 generated, k = 5 (here the train split is smaller).
    assert (p.prdc_n, p.prdc_k) == (min(10_000, len(d.train)), 5)
    # Mode counts: 26,000 samples on the 1,000-mode stacked set (VEEGAN/PacGAN), else the generated samples.
    assert p.n_modes == (26_000 if name == "stacked-mnist" else 50_000)
    # A smaller --n keeps 10 splits (the published rule does not depend on n).
    assert default_protocol(d, n=20_000).is_splits == 10


@pytest.mark.parametrize("name, counts", [
    ("ring8", {"n_fake": 2500, "n_modes": 2500, "threshold_sd": 3.0}),
    ("grid25", {"n_fake": 2500, "n_modes": 2500, "threshold_sd": 3.0}),
    # digits: the 360 test images, the 1,437 train images, one IS split (under 2,000 samples)
    ("digits", {"n_fake": 360, "n_real": 1437, "n_modes": 360, "is_splits": 1, "kid_subset_size": 360,
                "prdc_n": None}),
    ("stacked-digits", {"n_modes": 26_000, "reference_split": "train", "kid_seed": 2020}),
])  # fmt: skip
def test_embedded_sets_keep_their_stated_protocols(name, counts):
    d = load_dataset(name)
    p = default_protocol(d)
    assert {k: getattr(p, k) for k in counts} == counts
    if name == "stacked-digits":  # the small-set rule: the test split's size, at most 10,000
        assert p.n_fake == min(len(d.test), 10_000) and p.n_real == min(len(d.train), 10_000)
        assert p.is_splits == max(1, min(10, p.n_fake // 1000))


def test_inception_score_under_the_protocol_equals_torch_fidelity(standard):
    """50,000 logits in the published 10 splits of 5,000: ganbench's registered IS equals torch-fidelity's
    isc on the same logits, with its default permutation; with the permutation off, its contiguous splits."""
    p = default_protocol(standard["cifar10"])
    logits = torch.from_numpy(np.random.default_rng(0).normal(scale=3.0, size=(p.n_fake, 20)))
    probs = logits.softmax(1).numpy()
    ours = METRICS["is"].compute(MetricContext(p, probs=probs))
    ref = isc_features_to_metric(logits, splits=TF["isc_splits"], shuffle=TF["samples_shuffle"], rng_seed=TF["rng_seed"])
    assert ours["is"] == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert ours["is_std"] == pytest.approx(ref["inception_score_std"], rel=1e-6)
    plain = METRICS["is"].compute(MetricContext(dataclasses.replace(p, is_shuffle_seed=None), probs=probs))
    ref = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert plain["is"] == pytest.approx(ref["inception_score_mean"], rel=1e-9) and plain["is"] != ours["is"]


def test_kid_under_the_protocol_equals_torch_fidelity(standard):
    """100 subsets of 1,000 drawn with seed 2020, generated features first: torch-fidelity's KID on the same
    features (float32 real features, as the cache stores them)."""
    p = default_protocol(standard["cifar10"])
    rng = np.random.default_rng(1)
    real_feats = rng.normal(size=(1300, 32)).astype(np.float32)
    fake = rng.normal(size=(1100, 32)) * 1.1 + 0.05
    ours = METRICS["kid"].compute(MetricContext(p, real_feats=real_feats, fake_feats=fake))
    ref = _tf_kid(fake, real_feats.astype(np.float64), TF["kid_subsets"], TF["kid_subset_size"], TF["rng_seed"])
    assert (ours["kid"], ours["kid_std"]) == pytest.approx(ref, rel=1e-9)


def test_prdc_compares_prdc_n_samples_drawn_by_the_eval_seed():
    d = load_dataset("digits")
    p = dataclasses.replace(default_protocol(d), prdc_n=150, eval_seed=3)
    rng = np.random.default_rng(2)
    real_feats, fake = rng.normal(size=(400, 8)), rng.normal(size=(300, 8)) + 0.2
    ours = METRICS["precision"].compute(MetricContext(p, real_feats=real_feats, fake_feats=fake))
    # The stated rule: the first prdc_n generated samples, prdc_n real ones drawn without replacement.
    idx = np.random.RandomState(3).choice(400, 150, replace=False)
    ref = compute_prdc(real_features=real_feats[idx], fake_features=fake[:150], nearest_k=5)
    assert {k: ours[k] for k in ref} == pytest.approx(ref, abs=1e-12)


# --- the whole training split: statistics and features cached on disk ------------------------------------


class _Pool(Evaluator):
    """4x4 average pooling of each channel (48 features for CIFAR-10) and a fixed linear map to 10 logits."""

    name, num_classes, feature_dim, weights_sha256 = "pool4", 10, 48, "1" * 64
    preprocessing, in_channels, device = {"pool": "4x4 mean"}, (3,), torch.device("cpu")
    projection = torch.from_numpy(np.random.default_rng(5).normal(size=(48, 10)) / 20)

    def _forward(self, x):
        feats = torch.nn.functional.avg_pool2d(x, 8).flatten(1)
        return feats, (feats.double() @ self.projection).softmax(1)


def _pool_reference(u8: np.ndarray) -> np.ndarray:
    """The same features from the uint8 CIFAR rows (N, 3072) as written, in float64 numpy."""
    x = u8.reshape(-1, 3, 4, 8, 4, 8).astype(np.float64) / 255 * 2 - 1
    return x.mean(axis=(3, 5)).reshape(len(u8), 48)


@pytest.fixture
def pool_extractor():
    register_extractor(ExtractorSpec("pool4", ("image",), False, lambda d, dev, opt: _Pool(), "4x4 pooling"))
    yield "pool4"
    EXTRACTORS.unregister("pool4")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pytorch-fid's sqrtm(disp=False) under new scipy
def test_fid_against_the_whole_train_split_matches_pytorch_fid_and_is_cached(tmp_path, monkeypatch, pool_extractor):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    clear_caches()
    arrays = write_cifar10(tmp_path / "data", per_batch=100, n_test=20)  # 500 train images
    d = real.load_cifar10(str(tmp_path / "data"), verify_checksums=False)
    p = default_protocol(d, pool_extractor, n=300)
    assert (p.n_real, p.kid_subset_size, p.prdc_n, p.is_splits) == (500, 300, 300, 10)
    fake_u8 = np.random.default_rng(7).integers(0, 256, (300, 3072), dtype=np.uint8)
    fake = torch.from_numpy(fake_u8.reshape(300, 3, 32, 32).astype(np.float32) / 255 * 2 - 1)
    got = score(fake, d, p, ProtocolExtractor(d, p))["metrics"]

    real_f, fake_f = _pool_reference(arrays["xtr"]), _pool_reference(fake_u8)
    fid = calculate_frechet_distance(real_f.mean(0), np.cov(real_f, rowvar=False), fake_f.mean(0),
                                     np.cov(fake_f, rowvar=False))  # fmt: skip
    assert got["fd"] == pytest.approx(fid, rel=1e-5)
    assert (got["kid"], got["kid_std"]) == pytest.approx(_tf_kid(fake_f, real_f, 100, 300, 2020), rel=1e-5)
    logits = torch.from_numpy(fake_f @ _Pool.projection.numpy())
    assert got["is"] == pytest.approx(isc_features_to_metric(logits, 10, True, 2020)["inception_score_mean"], rel=1e-6)

    # Both files are on disk under GANBENCH_CACHE; a new process (memory caches cleared) reads them.
    feats_path, stats_path = reference_paths(_Pool().info(), d, "train")
    assert feats_path.is_file() and stats_path.is_file() and str(tmp_path / "cache" / "reference") in str(stats_path)
    clear_caches()
    ext = ProtocolExtractor(d, p)
    calls = []
    forward = ext.model.features_and_probs
    ext.model.features_and_probs = lambda x, *a, **k: calls.append(len(x)) or forward(x, *a, **k)
    stats, feats = ext.real(p)
    assert calls == [] and feats.shape == (500, 48) and feats.dtype == np.float32
    np.testing.assert_allclose(stats.mean, real_f.mean(0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(stats.cov, np.cov(real_f, rowvar=False), rtol=0, atol=1e-6)
    again = score(fake, d, p, ext)["metrics"]
    assert again.pop("mode_histogram") == got.pop("mode_histogram") and again == pytest.approx(got, rel=1e-9)
    assert calls == [300]  # the generated samples only

    # A corrupt statistics file is recomputed (with a warning), never trusted.
    clear_caches()
    stats_path.write_bytes(b"not an npz file")
    ext = ProtocolExtractor(d, p)
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again, _ = ext.real(p)
    np.testing.assert_array_equal(again.mean, stats.mean)
    clear_caches()


@pytest.mark.slow  # 30 s of Inception on 2 cores; test_fid_against_the_whole_train_split... covers the path
def test_inception_path_uses_the_whole_train_split_in_order_and_matches_torch_fidelity(tmp_path, monkeypatch):
    """Random Inception weights (the real ones cannot be downloaded; tests/evaluation/extractors/
    test_inception.py checks these features against torch-fidelity's network): the reference statistics
    are numpy's mean and covariance of every train image's features in order, and KID and IS equal
    torch-fidelity's on the same features."""
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    clear_caches()
    write_cifar10(tmp_path / "data", per_batch=2, n_test=3)  # 10 train images: Inception on a CPU is slow
    d = real.load_cifar10(str(tmp_path / "data"), verify_checksums=False)
    weights = write_random_weights(tmp_path / "inception.pth")
    p = default_protocol(d, "inception", n=6, metrics=["fd", "kid", "is"], options={"is_splits": 2})
    assert (p.n_real, p.kid_subset_size, p.kid_seed) == (10, 6, 2020)
    fake = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(8)) * 2 - 1
    ext = ProtocolExtractor(d, p, "cpu", extractor_weights=str(weights))
    got = score(fake, d, p, ext)["metrics"]

    stats, cached = ext.real(p)
    real_f, _ = ext.model.features_and_probs(d.train_float())  # every train image, in the split's order
    fake_f, probs = ext.model.features_and_probs(fake)
    np.testing.assert_array_equal(cached, real_f)
    np.testing.assert_allclose(stats.mean, real_f.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(real_f, rowvar=False), rtol=1e-8, atol=1e-12)
    assert (got["kid"], got["kid_std"]) == pytest.approx(_tf_kid(fake_f, real_f, 100, 6, 2020), rel=1e-9)
    ref_is = isc_features_to_metric(torch.from_numpy(np.log(probs)), 2, True, 2020)["inception_score_mean"]
    assert got["is"] == pytest.approx(ref_is, rel=1e-9) and np.isfinite(got["fd"])
    assert reference_paths(ext.info(), d, "train")[1].is_file()
    clear_caches()


class _Gray(_Pool):
    name, feature_dim, in_channels, weights_sha256 = "gray4", 4, (1,), "2" * 64
    projection = torch.from_numpy(np.random.default_rng(6).normal(size=(4, 10)))

    def _forward(self, x):  # 2x2 means of an 8x8 digit
        feats = torch.nn.functional.avg_pool2d(x, 4).flatten(1)
        return feats, (feats.double() @ self.projection).softmax(1)


def test_an_unwritable_cache_folder_warns_and_still_scores(tmp_path):
    d = load_dataset("digits")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="could not cache the digits train features"):
        stats, feats = whole_split_reference(_Gray(), d, "train", cache_dir=blocker / "reference")
    direct, _ = _Gray().features_and_probs(d.train_float())
    np.testing.assert_array_equal(feats, direct)
    np.testing.assert_allclose(stats.cov, np.cov(direct, rowvar=False), rtol=1e-10)


# --- user overrides ---------------------------------------------------------------------------------------


def test_overrides_change_the_protocol_and_its_fingerprint():
    d = load_dataset("digits")
    base = default_protocol(d)
    changed = default_protocol(d, options={"is_splits": 2, "kid_seed": 0, "n_real": 1000, "is_shuffle_seed": None})
    assert (changed.is_splits, changed.kid_seed, changed.n_real, changed.is_shuffle_seed) == (2, 0, 1000, None)
    assert changed.kid_subset_size == min(1000, changed.n_fake)  # derived counts follow an overridden n_real
    ids = {fingerprint(q, None, d)["id"] for q in (base, changed, dataclasses.replace(base, kid_seed=0))}
    assert len(ids) == 3
    assert parse_protocol_options("is_splits=5, kid-seed=7,is_shuffle_seed=none") == {
        "is_splits": 5, "kid_seed": 7, "is_shuffle_seed": None}


def test_the_memorisation_sample_cap_enters_the_fingerprint_of_image_protocols_that_use_it(monkeypatch):
    from ganbench.evaluation import protocol as protocol_module

    d = load_dataset("digits")
    memo = default_protocol(d, metrics=["fd", "authenticity", "ct"])
    plain = default_protocol(d, metrics=["fd", "kid"])
    assert fingerprint(memo, None, d)["memorisation_n"] == 10_000
    assert "memorisation_n" not in fingerprint(plain, None, d)
    before = fingerprint(memo, None, d)["id"], fingerprint(plain, None, d)["id"]
    monkeypatch.setattr(protocol_module, "MAX_FEATURE_N", 5_000)  # a change of the cap
    assert fingerprint(memo, None, d)["id"] != before[0] and fingerprint(plain, None, d)["id"] == before[1]
    ring = load_dataset("ring8")  # 2D sets compare the whole splits: no cap
    assert "memorisation_n" not in fingerprint(default_protocol(ring, metrics=["authenticity"]), None, ring)


@pytest.mark.parametrize("options, message", [
    ({"is_spilts": 2}, "unknown key 'is_spilts'; did you mean 'is_splits'?"),
    ({"n_fake": 10}, "set n_fake with --n"),
    ({"kid_subset_size": 5000}, r"kid_subset_size must be in \[2, 360\]"),
    ({"n_real": 10**6}, r"n_real must be in \[2, 1437\]"),
    ({"reference_split": "val"}, "reference_split must be train or test"),
    ({"is_splits": "two"}, "is_splits must be an integer; got 'two'"),
])  # fmt: skip
def test_bad_overrides_are_one_line_errors(options, message):
    with pytest.raises(UserError, match=message):
        default_protocol(load_dataset("digits"), options=options)


def test_cli_protocol_option_enters_the_fingerprint(tmp_path, capsys):
    d = load_dataset("ring8")
    np.save(tmp_path / "s.npy", d.test[:2500].numpy())
    outs = []
    for extra in ([], ["--protocol", "threshold_sd=2"]):
        assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--dataset", "ring8", "--json", *extra]) == 0
        outs.append(capsys.readouterr().out)
    a, b = (json.loads(o) for o in outs)
    assert a["fingerprint"]["protocol"]["threshold_sd"] == 3.0 and b["fingerprint"]["protocol"]["threshold_sd"] == 2.0
    assert a["fingerprint"]["id"] != b["fingerprint"]["id"]
    assert main(["eval", "--samples", str(tmp_path / "s.npy"), "--dataset", "ring8", "--protocol", "bogus=1"]) == 2
    assert "unknown key 'bogus'" in capsys.readouterr().err

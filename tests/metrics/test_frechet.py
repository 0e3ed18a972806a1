"""Frechet distance against pytorch-fid, torch-fidelity and an independent SVD computation."""

import numpy as np
import pytest
import torch
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_fid import fid_statistics_to_metric

from ganbench.metrics import GaussianStats, feature_statistics, frechet_distance, frechet_distance_from_stats


def correlated_gaussian(rng, n, d, shift=0.0):
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ mix + shift + rng.normal(size=d)


def reference_values(x, y):
    mu1, s1 = np.mean(x, axis=0), np.cov(x, rowvar=False)
    mu2, s2 = np.mean(y, axis=0), np.cov(y, rowvar=False)
    pfid = calculate_frechet_distance(mu1, s1, mu2, s2)
    tfid = fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)
    return float(pfid), tfid["frechet_inception_distance"]


# pytorch-fid passes scipy's deprecated `disp` argument; not our concern here.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(
    "n, d, shift",
    [(500, 64, 0.3), (5000, 16, 1.0)],  # correlated n ~ 8d, and a well-conditioned case
)
def test_matches_pytorch_fid_and_torch_fidelity(n, d, shift):
    rng = np.random.default_rng(0)
    x = correlated_gaussian(rng, n, d)
    y = correlated_gaussian(rng, n, d, shift)
    ours = frechet_distance(x, y)
    for ref in reference_values(x, y):
        assert ours == pytest.approx(ref, rel=1e-6)


@pytest.mark.parametrize("n", [20, 66])  # singular covariances (fallback), and barely positive definite
def test_few_samples_match_svd_formula(n):
    # With S_i = B_i B_i^T and B_i = X_i_centred^T / sqrt(n_i - 1), the non-zero eigenvalues of
    # S1 S2 are the squared singular values of B1^T B2, so tr((S1 S2)^1/2) = nuclear norm of B1^T B2.
    # This needs no matrix square root and is accurate for singular covariances.
    rng = np.random.default_rng(1)
    d = 64
    x, y = correlated_gaussian(rng, n, d), correlated_gaussian(rng, n, d, 0.5)
    b1 = (x - x.mean(0)).T / np.sqrt(n - 1)
    b2 = (y - y.mean(0)).T / np.sqrt(n - 1)
    tr_sqrt = np.linalg.svd(b1.T @ b2, compute_uv=False).sum()
    diff = x.mean(0) - y.mean(0)
    expected = diff @ diff + np.trace(b1 @ b1.T) + np.trace(b2 @ b2.T) - 2 * tr_sqrt
    ours = frechet_distance(x, y)
    assert isinstance(ours, float) and np.isfinite(ours) and ours >= 0
    assert ours == pytest.approx(expected, rel=1e-8)


def test_identical_statistics_give_zero_and_order_does_not_matter():
    rng = np.random.default_rng(2)
    x, y = correlated_gaussian(rng, 300, 32), correlated_gaussian(rng, 200, 32, 0.2)
    mu, sigma = feature_statistics(x)
    assert frechet_distance_from_stats(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9 * np.trace(sigma))
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-10)


def test_singular_identical_statistics_are_zero_not_nan():
    x = np.random.default_rng(3).normal(size=(5, 40))
    mu, sigma = feature_statistics(x)
    fd = frechet_distance_from_stats(mu, sigma, mu, sigma)
    assert np.isfinite(fd) and fd == pytest.approx(0.0, abs=1e-9)


def test_streaming_stats_match_numpy_over_uneven_batches():
    rng = np.random.default_rng(4)
    x = correlated_gaussian(rng, 500, 24, shift=10.0)
    stats = GaussianStats()
    start = 0
    for size in (1, 7, 100, 3, 0, 389):
        stats.update(torch.from_numpy(x[start : start + size]) if size == 100 else x[start : start + size])
        start += size
    assert stats.n == 500
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=0, atol=1e-10)


def test_accepts_torch_float32():
    rng = np.random.default_rng(5)
    x, y = correlated_gaussian(rng, 100, 8), correlated_gaussian(rng, 100, 8, 1.0)
    ours = frechet_distance(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert ours == pytest.approx(frechet_distance(x.astype(np.float32), y.astype(np.float32)), rel=1e-12)


def test_invalid_inputs_raise_value_error_naming_the_argument():
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ValueError, match="mu1 has dimension 3 but mu2 has 4"):
        frechet_distance_from_stats(mu, sigma, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="sigma2 must have shape"):
        frechet_distance_from_stats(mu, sigma, mu, np.eye(4))
    with pytest.raises(ValueError, match="sigma1 contains NaN"):
        frechet_distance_from_stats(mu, np.full((3, 3), np.nan), mu, sigma)
    with pytest.raises(ValueError, match="real_feats needs at least 2 samples"):
        frechet_distance(np.ones((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="fake_feats contains NaN"):
        frechet_distance(np.ones((5, 3)), np.full((5, 3), np.inf))
    with pytest.raises(ValueError, match="real_feats has 3 features but fake_feats has 2"):
        frechet_distance(np.ones((5, 3)), np.ones((5, 2)))
    stats = GaussianStats().update(np.ones((2, 3)))
    with pytest.raises(ValueError, match="earlier batches had 3"):
        stats.update(np.ones((2, 4)))
    with pytest.raises(ValueError, match="call update"):
        GaussianStats().mean

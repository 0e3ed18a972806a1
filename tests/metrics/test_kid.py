"""Kernel inception distance against torch-fidelity with the same subset sampling."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from ganbench.metrics import kernel_inception_distance


def features(seed, n, d, shift=0.0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def torch_fidelity_kid(x, y, subsets, subset_size, degree=3, gamma=None, coef0=1, seed=0):
    out = kid_features_to_metric(
        torch.from_numpy(x),
        torch.from_numpy(y),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma,
        kid_kernel_poly_coef0=coef0,
        rng_seed=seed,
        verbose=False,
    )
    return out["kernel_inception_distance_mean"], out["kernel_inception_distance_std"]


@pytest.mark.parametrize(
    "kernel",
    [dict(), dict(degree=2, gamma=0.05, coef0=0.5)],
)
def test_matches_torch_fidelity_for_same_seed(kernel):
    x, y = features(0, 300, 32), features(1, 250, 32, shift=0.3)
    # float64 tensors so torch-fidelity's numpy code also runs in float64.
    ref = torch_fidelity_kid(x, y, subsets=20, subset_size=100, seed=123, **kernel)
    mean, std = kernel_inception_distance(x, y, subsets=20, subset_size=100, seed=123, **kernel)
    assert mean == pytest.approx(ref[0], rel=1e-6)
    assert std == pytest.approx(ref[1], rel=1e-6)


def test_same_distribution_near_zero_and_shift_positive():
    x, y, z = features(2, 400, 16), features(3, 400, 16), features(4, 400, 16, shift=1.0)
    same, same_std = kernel_inception_distance(x, y, subsets=10, subset_size=200)
    shifted, _ = kernel_inception_distance(x, torch.from_numpy(z), subsets=10, subset_size=200)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 10 * abs(same)


def test_deterministic_for_a_seed():
    x, y = features(5, 120, 8), features(6, 120, 8, 0.5)
    a = kernel_inception_distance(x, y, subsets=5, subset_size=50, seed=7)
    assert a == kernel_inception_distance(x, y, subsets=5, subset_size=50, seed=7)
    assert a != kernel_inception_distance(x, y, subsets=5, subset_size=50, seed=8)


def test_invalid_arguments_raise():
    x, y = features(7, 50, 4), features(8, 40, 4)
    with pytest.raises(ValueError, match="lower subset_size to at most 40"):
        kernel_inception_distance(x, y, subset_size=1000)
    with pytest.raises(ValueError, match="subsets must be a positive integer"):
        kernel_inception_distance(x, y, subsets=0, subset_size=10)
    with pytest.raises(ValueError, match="subset_size must be an integer >= 2"):
        kernel_inception_distance(x, y, subset_size=1)
    with pytest.raises(ValueError, match="gamma must be positive"):
        kernel_inception_distance(x, y, subset_size=10, gamma=-1.0)
    with pytest.raises(ValueError, match="features_1 has 4 features but features_2 has 3"):
        kernel_inception_distance(x, y[:, :3], subset_size=10)

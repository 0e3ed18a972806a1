"""Inception score against torch-fidelity and textbook values."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from ganbench.metrics import inception_score


def dirichlet_probs(n, c, seed=0):
    return np.random.default_rng(seed).dirichlet(np.full(c, 0.3), size=n)


@pytest.mark.parametrize("n, splits", [(1000, 10), (1003, 7), (50, 1)])
def test_matches_torch_fidelity(n, splits):
    probs = dirichlet_probs(n, 10)
    # torch-fidelity takes logits and applies softmax; softmax(log p) = p for positive rows.
    ref = isc_features_to_metric(torch.from_numpy(np.log(probs)), splits=splits, shuffle=False)
    mean, std = inception_score(probs, splits=splits)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-6)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-6, abs=1e-12)


def test_one_hot_uniform_over_classes_gives_number_of_classes():
    probs = np.eye(10)[np.arange(1000) % 10]  # zeros exercise the 0 log 0 = 0 guard
    mean, std = inception_score(torch.from_numpy(probs), splits=10)
    assert mean == pytest.approx(10.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_uniform_probs_give_one():
    mean, std = inception_score(np.full((100, 7), 1 / 7), splits=5)
    assert mean == pytest.approx(1.0, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_single_class_collapse_gives_one():
    probs = np.zeros((40, 5))
    probs[:, 2] = 1.0
    assert inception_score(probs, splits=4)[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "probs, splits, message",
    [
        (np.full(10, 0.1), 1, "probs must be 2D"),
        (np.array([[1.5, -0.5]]), 1, "negative entries"),
        (np.full((4, 3), 0.5), 1, "rows must sum to 1"),
        (np.array([[np.nan, 1.0]]), 1, "NaN"),
        (np.full((4, 2), 0.5), 5, r"splits must be an integer in \[1, 4\]"),
        (np.full((4, 2), 0.5), 0, "splits must be"),
    ],
)
def test_invalid_input_raises(probs, splits, message):
    with pytest.raises(ValueError, match=message):
        inception_score(probs, splits=splits)

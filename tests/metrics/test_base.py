"""Metric metadata: names, directions and lookup errors."""

import dataclasses

import numpy as np
import pytest
import torch

from ganbench.metrics import METRICS, MetricInfo, metric_info
from ganbench.metrics.base import as_features

def test_entries_are_consistent_frozen_records():
    for name, info in METRICS.items():
        assert isinstance(info, MetricInfo)
        assert info.name == name
        assert info.version and info.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        METRICS["fd"].version = "2"


def test_metric_info_returns_entry():
    assert metric_info("kid") is METRICS["kid"]


def test_unknown_metric_suggests_close_name():
    with pytest.raises(ValueError, match="Did you mean: precision"):
        metric_info("precison")
    with pytest.raises(KeyError):
        metric_info("nope")


def test_as_features_accepts_torch_and_numpy_and_rejects_bad_input():
    a = as_features(torch.ones(3, 2, dtype=torch.float32), "x")
    assert a.dtype == np.float64 and a.shape == (3, 2)
    with pytest.raises(ValueError, match="x must be 2D"):
        as_features(np.ones(3), "x")
    with pytest.raises(ValueError, match="NaN or Inf"):
        as_features(np.array([[np.nan, 1.0]]), "x")
    with pytest.raises(ValueError, match="at least 2 samples"):
        as_features(np.ones((1, 2)), "x", min_rows=2)

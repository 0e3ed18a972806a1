"""Metric metadata: names, directions and lookup errors."""

import dataclasses

import numpy as np
import pytest
import torch

from ganbench.metrics import METRICS, MetricInfo, MetricSpec, metric_info, metric_names, ranking_keys, register_metric
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


def test_registration_order_is_the_column_order_and_protocol_order():
    memo = ["authenticity", "ct", "nn_ratio"]
    assert list(METRICS) == ["fd", "is", "kid", "precision", "recall", "density", "coverage", "hq_coverage",
                             "modes_covered", "hq_fraction", "reverse_kl", "mode_kl", *memo, "fd_heldout", "fd_gap",
                             "fd_inf", "vendi"]  # fmt: skip
    assert metric_names("image") == ("fd", "is", "kid", "precision", "recall", "density", "coverage",
                                     "modes_covered", "mode_kl", *memo, "fd_heldout", "fd_gap", "fd_inf", "vendi")  # fmt: skip
    assert "fd_inf" not in metric_names("image", default_only=True)  # 15 Frechet distances: asked for by name
    assert metric_names("points2d") == ("hq_coverage", "modes_covered", "hq_fraction", "reverse_kl", *memo)


def test_ranking_keys_come_from_the_specs():
    assert ranking_keys() == {"fd": ("fd",), "hq_coverage": ("hq_coverage", "modes_covered", "hq_fraction",
                                                            "reverse_kl")}  # fmt: skip
    assert list(ranking_keys()) == ["fd", "hq_coverage"]


def test_invalid_spec_is_rejected_naming_the_field():
    def compute(ctx):
        return {}

    with pytest.raises(ValueError, match="inputs \\['features'\\] are not all available on points2d"):
        MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, kinds=("points2d",),
                   inputs={"features"})  # fmt: skip
    with pytest.raises(ValueError, match="kinds \\('video',\\)"):
        MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, kinds=("video",))
    with pytest.raises(ValueError, match="rank"):
        MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, rank={"points2d": 0})
    for bad in ((1.0, 0.0), (0.0,), (0.0, 0.0)):
        with pytest.raises(ValueError, match="bounds"):
            MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, bounds=bad)
    with pytest.raises(ValueError, match="already registered"):
        register_metric(METRICS["fd"])


def test_a_target_metric_is_read_as_a_distance_from_its_target():
    from ganbench.metrics import direction_mark, is_better

    # C_T (Meehan et al. 2020) is about 0 for a model that generalises, negative when it copies, positive when it
    # underfits; the nearest-neighbour ratio is 1 when generalising; fd_gap about 0.
    assert (METRICS["ct"].target, METRICS["nn_ratio"].target, METRICS["fd_gap"].target) == (0.0, 1.0, 0.0)
    assert [direction_mark(METRICS[m]) for m in ("fd", "authenticity", "ct", "nn_ratio", "fd_gap")] == [
        "↓", "↑", "→0", "→1", "→0"]  # fmt: skip
    assert is_better(METRICS["ct"], -1.0, 5.0) and is_better(METRICS["ct"], 3.0, -4.0)
    assert not is_better(METRICS["ct"], 15.5, 8.2)  # more underfitting is not better
    assert is_better(METRICS["nn_ratio"], 1.5, 1845.0) and is_better(METRICS["nn_ratio"], 0.9, 0.5)
    assert is_better(METRICS["fd"], 1.0, 2.0) and is_better(METRICS["authenticity"], 0.9, 0.5)
    # no metric with a target ranks models: ranking keys are read in one direction
    assert all(not s.rank for s in METRICS.values() if s.target is not None)

    def compute(ctx):
        return {}

    with pytest.raises(ValueError, match="target"):
        MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, kinds=("points2d",),
                   rank={"points2d": 0}, target=0.0)  # fmt: skip
    with pytest.raises(ValueError, match="target"):
        MetricSpec(name="x", higher_is_better=True, description="x", compute=compute, target=float("nan"))

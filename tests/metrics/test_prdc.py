"""Precision/recall/density/coverage against the reference `prdc` package, plus direction checks."""

import importlib

import numpy as np
import pytest
import torch
from prdc import compute_prdc

from ganbench.metrics import prdc

# The package re-exports the function `prdc`, which shadows the submodule attribute of the same name.
prdc_module = importlib.import_module("ganbench.metrics.prdc")

KEYS = ("precision", "recall", "density", "coverage")


def reference(real, fake, k, capsys):
    out = compute_prdc(real, fake, nearest_k=k)
    capsys.readouterr()  # compute_prdc prints the sample counts
    return out


@pytest.mark.parametrize("k", [1, 5])
def test_matches_reference_package(k, capsys):
    # Continuous float64 data: no distance ties, so both implementations make the same strict
    # `<` decisions and the fractions agree exactly (the 1e-6 tolerance only absorbs float formatting).
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 16))
    fake = 1.2 * rng.normal(size=(300, 16)) + 0.3
    ref = reference(real, fake, k, capsys)
    ours = prdc(real, torch.from_numpy(fake), k=k)
    assert set(ours) == set(KEYS)
    for key in KEYS:
        assert ours[key] == pytest.approx(float(ref[key]), rel=1e-6), key


def test_row_blocks_do_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(90, 5)), rng.normal(size=(70, 5)) + 0.2
    whole = prdc(real, fake, k=3)
    monkeypatch.setattr(prdc_module, "_BLOCK_ELEMENTS", 150)  # a couple of rows per block
    assert prdc(real, fake, k=3) == whole


def test_mode_collapse_gives_high_precision_low_recall():
    # Real: 10 well separated modes. Fake: tight samples around only 2 of them.
    rng = np.random.default_rng(2)
    centers = rng.normal(size=(10, 8)) * 10
    real = centers[rng.integers(0, 10, 1000)] + rng.normal(size=(1000, 8))
    fake = centers[rng.integers(0, 2, 1000)] + 0.3 * rng.normal(size=(1000, 8))
    out = prdc(real, fake, k=5)
    assert out["precision"] > 0.9
    assert out["recall"] < 0.3
    assert out["coverage"] < 0.3


def test_spread_noise_gives_low_precision_high_recall():
    rng = np.random.default_rng(3)
    real = rng.normal(size=(1000, 4))
    fake = 4.0 * rng.normal(size=(1000, 4))
    out = prdc(real, fake, k=5)
    assert out["precision"] < 0.3
    assert out["recall"] > 0.9


def test_identical_sets_are_perfect():
    x = np.random.default_rng(4).normal(size=(200, 3))
    out = prdc(x, x + 1e-9, k=5)
    assert out["precision"] == 1.0 and out["recall"] == 1.0 and out["coverage"] == 1.0


def test_invalid_arguments_raise():
    x = np.zeros((10, 3)) + np.arange(10)[:, None]
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 5\]"):
        prdc(x, x[:6], k=6)
    with pytest.raises(ValueError, match="k must be"):
        prdc(x, x, k=0)
    with pytest.raises(ValueError, match="real has 3 features but fake has 2"):
        prdc(x, x[:, :2])
    with pytest.raises(ValueError, match="fake contains NaN"):
        prdc(x, np.full((10, 3), np.nan))

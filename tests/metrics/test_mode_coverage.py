"""Mode coverage on 2D mixtures and on labelled (stacked MNIST) sets."""

import numpy as np
import pytest
import torch

from ganbench.metrics import mode_coverage_2d, mode_histogram_metrics, stacked_labels

SD = 0.01
RING = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], axis=1)


def sample_ring(n, seed=0):
    rng = np.random.default_rng(seed)
    return RING[rng.integers(0, 8, n)] + SD * rng.normal(size=(n, 2))


def test_true_ring_samples_cover_all_modes():
    out = mode_coverage_2d(sample_ring(2500), RING, SD)
    assert out["num_modes"] == 8
    assert out["modes_covered"] == 8
    # 3 sd in 2D holds 1 - exp(-9/2) of an isotropic Gaussian's mass (chi-square with 2 dof).
    assert out["hq_fraction"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    assert out["reverse_kl"] < 0.01
    assert sum(out["mode_histogram"]) == round(out["hq_fraction"] * 2500)


def test_all_samples_at_one_mode():
    samples = torch.from_numpy(RING[3] + SD * np.random.default_rng(1).normal(size=(500, 2)))
    out = mode_coverage_2d(samples, torch.from_numpy(RING), SD)
    assert out["modes_covered"] == 1
    assert out["reverse_kl"] == pytest.approx(np.log(8))
    assert out["mode_histogram"][3] == sum(out["mode_histogram"])


def test_off_mode_samples_are_not_high_quality():
    samples = np.zeros((100, 2))  # the ring's center is far from every mode
    out = mode_coverage_2d(samples, RING, SD)
    assert out["hq_fraction"] == 0.0
    assert out["modes_covered"] == 0
    assert out["reverse_kl"] == pytest.approx(np.log(8))  # no high-quality sample: the maximum
    assert out["mode_histogram"] == [0] * 8


def test_threshold_is_a_euclidean_radius_in_sd_units():
    samples = np.array([[1.0 + 0.029, 0.0], [1.0 + 0.031, 0.0], [0.0, 1.0 - 0.0295]])
    out = mode_coverage_2d(samples, RING, SD, threshold_sd=3.0)
    assert out["hq_fraction"] == pytest.approx(2 / 3)
    assert mode_coverage_2d(samples, RING, SD, threshold_sd=4.0)["hq_fraction"] == 1.0


def test_hq_coverage_hand_computed():
    # 16 samples on the 8-mode ring (fair share 2 each): 6 on mode 0, 3 on mode 1, 1 on mode 2, 2 on mode 5,
    # 4 off every mode. min(n_k, 2) summed = 2 + 2 + 1 + 2 = 7, over 16 samples.
    at = [0] * 6 + [1] * 3 + [2] + [5] * 2
    samples = np.concatenate([RING[at], np.zeros((4, 2))])
    out = mode_coverage_2d(samples, RING, SD)
    assert out["hq_coverage"] == pytest.approx(7 / 16)
    assert out["hq_fraction"] == pytest.approx(12 / 16)


def test_hq_coverage_ranks_sharp_collapse_diffuse_and_true_samples():
    true = mode_coverage_2d(sample_ring(2500), RING, SD)["hq_coverage"]
    assert true == pytest.approx(1 - np.exp(-4.5), abs=0.02)  # every mode at its share, 98.9% high quality
    collapsed = RING[3] + SD * np.random.default_rng(1).normal(size=(2500, 2))
    assert mode_coverage_2d(collapsed, RING, SD)["hq_coverage"] == pytest.approx(1 / 8 * (1 - np.exp(-4.5)), abs=0.01)
    # Diffuse: every mode covered (8 of 8) but samples spread 20x wider than the modes.
    diffuse = mode_coverage_2d(RING[np.arange(2500) % 8] + 20 * SD * np.random.default_rng(2).normal(size=(2500, 2)),
                               RING, SD)  # fmt: skip
    assert diffuse["modes_covered"] == 8
    # P(|N(0, (20 sd)^2 I)| <= 3 sd) = 1 - exp(-(3 / 20)^2 / 2) = 1.1%: a score far below the collapse's.
    assert diffuse["hq_coverage"] == pytest.approx(1 - np.exp(-(3 / 20) ** 2 / 2), abs=0.006)
    assert diffuse["hq_coverage"] < 0.1 < mode_coverage_2d(collapsed, RING, SD)["hq_coverage"] < true


def test_mode_histogram_metrics_hand_computed():
    labels = np.array([0, 0, 1, 3])  # p = (1/2, 1/4, 0, 1/4) over 4 modes
    out = mode_histogram_metrics(labels, num_modes=4)
    expected = 0.5 * np.log(0.5 * 4) + 2 * 0.25 * np.log(0.25 * 4)  # = 0.5 log 2; the empty mode adds 0
    assert out["mode_kl"] == pytest.approx(expected) == pytest.approx(0.5 * np.log(2))
    assert out["modes_covered"] == 3
    assert out["mode_histogram"] == [2, 1, 0, 1]


def test_mode_histogram_metrics_extremes():
    assert mode_histogram_metrics(torch.arange(10) % 5, 5)["mode_kl"] == pytest.approx(0.0)
    assert mode_histogram_metrics(np.full(7, 2), 1000)["mode_kl"] == pytest.approx(np.log(1000))


def test_stacked_labels():
    channels = np.array([[1, 2, 3], [0, 0, 7], [9, 9, 9]])
    np.testing.assert_array_equal(stacked_labels(channels), [123, 7, 999])
    assert stacked_labels(torch.tensor(channels)).dtype == np.int64


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mode_coverage_2d(np.zeros(5), RING, SD), "samples must be 2D"),
        (lambda: mode_coverage_2d(np.zeros((5, 3)), RING, SD), "samples have 3 coordinates"),
        (lambda: mode_coverage_2d(np.full((5, 2), np.nan), RING, SD), "samples contains NaN"),
        (lambda: mode_coverage_2d(np.zeros((5, 2)), RING, 0.0), "sd must be a positive"),
        (lambda: mode_coverage_2d(np.zeros((5, 2)), RING, SD, threshold_sd=-1), "threshold_sd must be"),
        (lambda: mode_histogram_metrics(np.array([0, 4]), 4), r"labels must lie in \[0, 4\)"),
        (lambda: mode_histogram_metrics(np.array([0.5]), 4), "integer labels"),
        (lambda: mode_histogram_metrics(np.array([]), 4), "non-empty"),
        (lambda: mode_histogram_metrics(np.array([0]), 0), "num_modes must be"),
        (lambda: stacked_labels(np.zeros((4, 2))), r"shape \(N, 3\)"),
        (lambda: stacked_labels(np.array([[1, 2, 10]])), r"digits in \[0, 9\]"),
    ],
)
def test_invalid_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()

"""Datasets that ship with ganbench or its dependencies: no download, no files.

- ``ring8`` and ``grid25``: the 2D Gaussian mixtures of PacGAN's synthetic experiments
  (fjxmlzn/PacGAN): 8 means evenly on a circle of radius 1 with sd 0.01, and 25 means on
  ``{-4,-2,0,2,4}^2`` with sd 0.05. 100,000 training points (PacGAN's count), 10,000 test points.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), split 80/20 stratified
  with a fixed seed; stored as their grey levels 0..16 (uint8), ``level / 16 * 2 - 1`` in data space.
- ``stacked-digits``: three digits from the digits train (or test) split stacked as RGB channels,
  1,000 modes (digit triples), built deterministically like Stacked MNIST.
"""

from __future__ import annotations

import numpy as np
import torch

from ganbench.data.base import Dataset, DatasetInfo, pixel_levels, register_dataset

# Data seeds are fixed and distinct from training and evaluation seeds: the data never changes.
_TRAIN_DATA_SEED = 1234
_TEST_DATA_SEED = 5678
MIXTURE_TRAIN_SIZE = 100_000
MIXTURE_TEST_SIZE = 10_000
STACKED_TRAIN_SIZE = 25_000
STACKED_TEST_SIZE = 5_000
_STACK_ROWS = 8192


def ring_centers(num_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(num_modes) / num_modes  # not linspace(0, 2pi, 8): that repeats a mode
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_centers(values=(-4.0, -2.0, 0.0, 2.0, 4.0)) -> np.ndarray:
    return np.array([(x, y) for x in values for y in values], dtype=np.float64)


def sample_mixture(centers: np.ndarray, sd: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points from the equal-weight isotropic mixture; returns points and component labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centers), size=n)
    points = centers[labels] + sd * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int64)


def _mixture(info: DatasetInfo, centers: np.ndarray, sd: float) -> Dataset:
    xtr, ytr = sample_mixture(centers, sd, MIXTURE_TRAIN_SIZE, _TRAIN_DATA_SEED)
    xte, yte = sample_mixture(centers, sd, MIXTURE_TEST_SIZE, _TEST_DATA_SEED)
    return Dataset(
        info,
        torch.from_numpy(xtr),
        torch.from_numpy(xte),
        torch.from_numpy(ytr),
        torch.from_numpy(yte),
        centers=centers,
        sd=sd,
    )


RING8 = DatasetInfo("ring8", "points2d", (2,), 8, "embedded", "8 Gaussians on a circle of radius 1, sd 0.01 (PacGAN)")
GRID25 = DatasetInfo("grid25", "points2d", (2,), 25, "embedded", "25 Gaussians on {-4,-2,0,2,4}^2, sd 0.05 (PacGAN)")
DIGITS = DatasetInfo("digits", "image", (1, 8, 8), 10, "embedded", "scikit-learn's 8x8 digits, 1,797 images, 10 classes")
STACKED_DIGITS = DatasetInfo(
    "stacked-digits", "image", (3, 8, 8), 1000, "embedded", "three 8x8 digits stacked as RGB, 1,000 modes"
)


@register_dataset(RING8)
def load_ring8(data_root=None, download=False) -> Dataset:
    return _mixture(RING8, ring_centers(8, 1.0), 0.01)


@register_dataset(GRID25)
def load_grid25(data_root=None, download=False) -> Dataset:
    return _mixture(GRID25, grid_centers(), 0.05)


# The digits' 17 grey levels 0..16 map to [-1, 1] as level / 16 * 2 - 1 (in float64, then float32); the
# table runs on to 255 only because every uint8 set carries 256 levels.
DIGIT_LEVELS = pixel_levels(np.arange(256) / 16.0 * 2.0 - 1.0)


def _digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The digits as uint8 grey levels 0..16 ``(N, 1, 8, 8)``, split 80/20 stratified."""
    # 2 s to import: only the digits need it
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = d.images.astype(np.uint8)[:, None]  # whole numbers 0..16 stored as float64
    return train_test_split(images, d.target.astype(np.int64), test_size=0.2, random_state=0, stratify=d.target)


@register_dataset(DIGITS)
def load_digits_dataset(data_root=None, download=False) -> Dataset:
    xtr, xte, ytr, yte = _digits_split()
    return Dataset(DIGITS, torch.from_numpy(xtr), torch.from_numpy(xte), torch.from_numpy(ytr), torch.from_numpy(yte),
                   levels=DIGIT_LEVELS)  # fmt: skip


def stack_channels(images: np.ndarray, labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack three randomly chosen single-channel images as RGB (Stacked MNIST's construction).

    Returns the stacked images ``(n, 3, H, W)`` and per-channel labels ``(n, 3)``.
    """
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(images), size=(n, 3))
    c = images.shape[1]
    stacked = np.empty((n, 3 * c, *images.shape[2:]), dtype=images.dtype)
    for start in range(0, n, _STACK_ROWS):  # filled in place, a slice at a time: no whole-size temporaries
        rows = slice(start, start + _STACK_ROWS)
        for k in range(3):
            stacked[rows, k * c : (k + 1) * c] = images[idx[rows, k]]
    return stacked, labels[idx]


def triple_labels(channel_labels: np.ndarray) -> np.ndarray:
    """Mode index ``100 a + 10 b + c`` of each digit triple ``(a, b, c)``."""
    return channel_labels[:, 0] * 100 + channel_labels[:, 1] * 10 + channel_labels[:, 2]


@register_dataset(STACKED_DIGITS)
def load_stacked_digits(data_root=None, download=False) -> Dataset:
    xtr, xte, ytr, yte = _digits_split()
    str_, ctr = stack_channels(xtr, ytr, STACKED_TRAIN_SIZE, _TRAIN_DATA_SEED)
    ste, cte = stack_channels(xte, yte, STACKED_TEST_SIZE, _TEST_DATA_SEED)
    return Dataset(
        STACKED_DIGITS,
        torch.from_numpy(str_),
        torch.from_numpy(ste),
        torch.from_numpy(triple_labels(ctr)),
        torch.from_numpy(triple_labels(cte)),
        extra={"train_channel_labels": ctr, "test_channel_labels": cte, "base": "digits"},
        levels=DIGIT_LEVELS,
    )

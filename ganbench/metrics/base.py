"""Metric metadata (name, direction, version) and the input conversion every metric shares.

The metric functions themselves live in one module per family (``frechet``, ``kid``, ...).
They all take numpy arrays or torch tensors and compute in float64; ``as_float64`` and
``as_features`` are the single place where that conversion and its validation happen.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np
import torch

from ganbench.errors import UserError
from ganbench.registry import UnknownNameError

__all__ = ["MetricInfo", "METRICS", "metric_info", "as_float64", "as_features"]


@dataclass(frozen=True)
class MetricInfo:
    """Static description of one reported number.

    Attributes:
        name: the key under which the value is reported (``fd``, ``kid``, ...).
        higher_is_better: direction used when ranking models.
        version: bumped whenever the definition or implementation changes the value,
            so stored results from different versions are never compared silently.
        description: one line for listings and reports.
    """

    name: str
    higher_is_better: bool
    version: str
    description: str


def _info(name: str, higher_is_better: bool, description: str, version: str = "1") -> MetricInfo:
    return MetricInfo(name=name, higher_is_better=higher_is_better, version=version, description=description)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _info("fd", False, "Frechet distance between Gaussian fits of real and generated features."),
        _info("is", True, "Inception score: exp of the mean KL between p(y|x) and p(y)."),
        _info("kid", False, "Kernel inception distance: unbiased MMD^2 with a cubic polynomial kernel."),
        _info("precision", True, "Fraction of generated samples inside the real k-NN manifold."),
        _info("recall", True, "Fraction of real samples inside the generated k-NN manifold."),
        _info("density", True, "Mean count of real k-NN balls containing a generated sample, divided by k."),
        _info("coverage", True, "Fraction of real k-NN balls that contain at least one generated sample."),
        _info("modes_covered", True, "Number of modes hit by at least one (high-quality) sample."),
        _info("hq_fraction", True, "Fraction of 2D samples within 3 sd of their nearest mode."),
        _info("reverse_kl", False, "KL(p_gen || uniform) over modes of high-quality 2D samples."),
        _info("mode_kl", False, "KL(p_gen || uniform) over predicted mode labels."),
    )
}


def metric_info(name: str) -> MetricInfo:
    """Return the metadata of a metric.

    Args:
        name: a key of ``METRICS``.

    Returns:
        The ``MetricInfo`` registered under ``name``.

    Raises:
        UnknownNameError: (a ``KeyError`` and ``ValueError``) for an unknown name; the message
            suggests the closest known names.
    """
    try:
        return METRICS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), list(METRICS), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown metric {name!r}.{hint} Available: {', '.join(sorted(METRICS))}."
        ) from None


def as_float64(x, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a float64 numpy array.

    Args:
        x: the input.
        name: argument name, used in error messages.

    Raises:
        UserError: if ``x`` cannot be converted to a numeric array.
    """
    if isinstance(x, torch.Tensor):
        # detach/cpu so that GPU tensors and tensors that require grad are accepted as-is.
        return x.detach().cpu().to(torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UserError(f"{name} must be a numeric array or tensor, got {type(x).__name__} ({e}).") from None


def as_features(x, name: str, min_rows: int = 1) -> np.ndarray:
    """Convert ``x`` to a finite float64 ``(N, D)`` feature matrix with ``N >= min_rows``.

    Args:
        x: features as a numpy array or torch tensor.
        name: argument name, used in error messages.
        min_rows: the smallest acceptable number of samples.

    Raises:
        UserError: for a wrong number of dimensions, too few rows, or NaN/Inf values.
    """
    a = as_float64(x, name)
    if a.ndim != 2:
        raise UserError(f"{name} must be 2D (samples, features), got shape {a.shape}; reshape to (N, D).")
    if a.shape[0] < min_rows or a.shape[1] < 1:
        raise UserError(
            f"{name} needs at least {min_rows} samples and 1 feature, got shape {a.shape}; pass more samples."
        )
    if not np.isfinite(a).all():
        bad = int((~np.isfinite(a)).sum())
        raise UserError(f"{name} contains NaN or Inf ({bad} values); fix the model or features.")
    return a

"""Kernel inception distance (Binkowski et al. 2018): unbiased MMD^2 with a polynomial kernel.

Subsets are drawn exactly as torch-fidelity's ``kid_features_to_metric`` draws them (one
``numpy.random.RandomState(seed)``; per subset, first the indices of the first set then those of the
second, each ``choice(n, subset_size, replace=False)``), so both give the same numbers for the same seed.
Scoring passes the generated features first and the real ones second with torch-fidelity's defaults
(100 subsets of 1,000, seed 2020), as ``torch_fidelity.calculate_metrics(input1=generated,
input2=real, kid=True)`` does.
"""

from __future__ import annotations

import numpy as np

from ganbench.errors import UserError
from ganbench.metrics.base import MetricContext, MetricSpec, as_features, register_metric

__all__ = ["kernel_inception_distance"]


def _poly_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    k = x @ y.T  # numpy computes x @ x.T with the symmetric rank-k product (half the work)
    k *= gamma
    k += coef0
    return np.power(k, degree, out=k)


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int, gamma: float | None, coef0: float) -> float:
    """Unbiased MMD^2 of two float64 sets of equal size m >= 2 (formula in kernel_inception_distance)."""
    m = x.shape[0]
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    k_xx = _poly_kernel(x, x, degree, gamma, coef0)
    k_yy = _poly_kernel(y, y, degree, gamma, coef0)
    k_xy = _poly_kernel(x, y, degree, gamma, coef0)
    off_diag = k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)
    return float(off_diag / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def _check_params(subsets, subset_size, degree, gamma, n_1: int, n_2: int) -> None:
    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(subsets) or subsets < 1:
        raise UserError(f"subsets must be a positive integer, got {subsets!r}; use e.g. 100.")
    if not is_int(subset_size) or subset_size < 2:
        raise UserError(f"subset_size must be an integer >= 2, got {subset_size!r}; use e.g. 1000.")
    if subset_size > min(n_1, n_2):
        raise UserError(
            f"subset_size={subset_size} exceeds the number of samples (features_1: {n_1}, features_2: {n_2}); "
            f"lower subset_size to at most {min(n_1, n_2)} or pass more samples."
        )
    if not is_int(degree) or degree < 1:
        raise UserError(f"degree must be a positive integer, got {degree!r}; the KID default is 3.")
    if gamma is not None and not gamma > 0:
        raise UserError(f"gamma must be positive or None (meaning 1/D), got {gamma!r}.")


def kernel_inception_distance(
    features_1,
    features_2,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel inception distance: mean and std of unbiased MMD^2 over random subsets.

    For each of ``subsets`` rounds, ``subset_size`` samples of each set are drawn without replacement
    (first set first) and the unbiased MMD^2 with kernel ``k(a, b) = (gamma <a, b> + coef0) ** degree``
    is computed: ``sum_{i!=j} (k(x_i,x_j) + k(y_i,y_j)) / (m(m-1)) - 2 sum_{i,j} k(x_i,y_j) / m^2``
    with ``m = subset_size``. Computation is in float64.

    Args:
        features_1: the first feature set ``(N1, D)``, numpy or torch (torch-fidelity's ``input1``: the
            generated samples' features when scoring). float32 arrays are not copied whole: each subset
            is converted to float64 on its own.
        features_2: the second set ``(N2, D)`` (``input2``: the real reference features).
        subsets: number of random subsets.
        subset_size: samples per subset; at most ``min(N1, N2)``.
        degree: polynomial degree (3 in the KID paper).
        gamma: kernel scale; ``None`` means ``1 / D``.
        coef0: kernel offset.
        seed: seed of the ``numpy.random.RandomState`` that draws the subsets.

    Returns:
        ``(mean, std)`` of the per-subset estimates, std with ddof=0 (as torch-fidelity).
        The mean can be slightly negative for near-identical distributions.

    Raises:
        UserError: (a ``ValueError``) for invalid features or parameters.
    """
    x = as_features(features_1, "features_1", min_rows=2, keep_float32=True)
    y = as_features(features_2, "features_2", min_rows=2, keep_float32=True)
    if x.shape[1] != y.shape[1]:
        raise UserError(f"features_1 has {x.shape[1]} features but features_2 has {y.shape[1]}; "
                        "use the same feature extractor.")  # fmt: skip
    _check_params(subsets, subset_size, degree, gamma, x.shape[0], y.shape[0])
    rng = np.random.RandomState(seed)
    mmds = np.empty(subsets)
    for i in range(subsets):
        # Draw order (first set, then second) matches torch-fidelity so equal seeds give equal subsets.
        xs = x[rng.choice(x.shape[0], subset_size, replace=False)].astype(np.float64, copy=False)
        ys = y[rng.choice(y.shape[0], subset_size, replace=False)].astype(np.float64, copy=False)
        mmds[i] = _mmd2_unbiased(xs, ys, degree, gamma, coef0)
    return float(mmds.mean()), float(mmds.std())


def _kid_metric(ctx: MetricContext) -> dict:
    p = ctx.params
    # Generated first, as torch-fidelity's input1; the seed is the protocol's kid_seed (2020 by default).
    mean, std = kernel_inception_distance(ctx.fake_feats, ctx.real_feats, subsets=p.kid_subsets,
                                          subset_size=p.kid_subset_size, seed=p.kid_seed)  # fmt: skip
    return {"kid": mean, "kid_std": std}


register_metric(MetricSpec(
    name="kid", higher_is_better=False, compute=_kid_metric, version="2", kinds=("image",), inputs={"features"},
    extras=("kid_std",),
    description="Kernel inception distance: unbiased MMD^2 with a cubic polynomial kernel."))  # fmt: skip

"""Frechet distance between Gaussian fits of two feature sets (FID when the features are Inception's).

FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})   (Heusel et al. 2017).

The matrix square root term is computed from symmetric eigenvalues instead of
``scipy.linalg.sqrtm`` or general eigenvalues: for any factor S1 = L L^T (Cholesky, or
A = S1^{1/2} when S1 is singular), S1 S2 = L (L^T S2 L) L^{-1} is similar to the symmetric PSD
matrix L^T S2 L, so tr((S1 S2)^{1/2}) is the sum of the square roots of its eigenvalues. This is
exact, always real, stays valid when the covariances are singular (fewer samples than dimensions),
and is several times faster than ``sqrtm`` or ``numpy.linalg.eigvals(S1 @ S2)``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ganbench.errors import UserError
from ganbench.metrics.base import MetricContext, MetricSpec, as_features, as_float64, register_metric

__all__ = ["GaussianStats", "feature_statistics", "frechet_distance_from_stats", "frechet_distance"]


class GaussianStats:
    """Streaming mean and covariance of feature batches, in float64.

    Keeps the running mean and the sum of centred outer products (M2) and merges each batch with
    Chan et al.'s parallel update. Memory is O(d^2) whatever the number of samples, and centring
    per batch avoids the cancellation of the naive ``sum(x x^T) - n mu mu^T`` formula when the
    features have a large mean.

    Args:
        dim: feature dimension; inferred from the first batch when omitted.

    Example:
        >>> stats = GaussianStats()
        >>> for batch in loader:
        ...     stats.update(model_features(batch))
        >>> mu, sigma = stats.mean, stats.cov
    """

    def __init__(self, dim: int | None = None) -> None:
        self.n = 0
        self._dim = dim
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def update(self, feats) -> "GaussianStats":
        """Add a batch of features ``(B, D)`` (numpy or torch). Returns ``self`` for chaining."""
        x = as_features(feats, "feats", min_rows=0)
        if self._dim is not None and x.shape[1] != self._dim:
            raise UserError(
                f"feats has {x.shape[1]} features but earlier batches had {self._dim}; pass features of one layer."
            )
        if x.shape[0] == 0:
            return self
        self._dim = x.shape[1]
        nb = x.shape[0]
        mean_b = x.mean(axis=0)
        xc = x - mean_b
        m2_b = xc.T @ xc
        if self.n == 0:
            self._mean, self._m2 = mean_b, m2_b
        else:
            n = self.n + nb
            delta = mean_b - self._mean
            self._mean = self._mean + delta * (nb / n)
            self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (self.n * nb / n)
        self.n += nb
        return self

    @classmethod
    def from_moments(cls, n: int, mean, cov) -> GaussianStats:
        """Statistics of ``n`` samples with this ``mean`` and unbiased covariance (e.g. read from a cache)."""
        mean, cov = as_float64(mean, "mean"), as_float64(cov, "cov")
        if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]) or n < 2:
            raise UserError(f"GaussianStats.from_moments: need n >= 2, mean (D,) and cov (D, D); got n={n}, "
                            f"shapes {mean.shape} and {cov.shape}")  # fmt: skip
        stats = cls(mean.shape[0])
        stats.n, stats._mean, stats._m2 = int(n), mean.copy(), cov * (n - 1)
        return stats

    @property
    def mean(self) -> np.ndarray:
        """Feature mean ``(D,)``, float64."""
        if self.n == 0:
            raise UserError("GaussianStats has no samples yet; call update(feats) before reading mean.")
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased (ddof=1) covariance ``(D, D)``, float64, as ``numpy.cov`` and pytorch-fid compute it."""
        if self.n < 2:
            raise UserError(f"GaussianStats has {self.n} samples; the covariance needs at least 2, so add more.")
        return self._m2 / (self.n - 1)


def feature_statistics(feats) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature matrix.

    Args:
        feats: features ``(N, D)`` with ``N >= 2``, numpy or torch.

    Returns:
        ``(mu, sigma)``: float64 arrays of shapes ``(D,)`` and ``(D, D)``.
    """
    x = as_features(feats, "feats", min_rows=2)
    stats = GaussianStats().update(x)
    return stats.mean, stats.cov


def _check_stats(mu, sigma, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = as_float64(mu, f"mu{which}")
    sigma = as_float64(sigma, f"sigma{which}")
    if mu.ndim != 1:
        raise UserError(f"mu{which} must be 1D (D,), got shape {mu.shape}; pass the feature mean.")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise UserError(f"sigma{which} must have shape ({d}, {d}) to match mu{which}, got {sigma.shape}.")
    for name, a in ((f"mu{which}", mu), (f"sigma{which}", sigma)):
        # A sum is finite only if every term is (NaN and Inf propagate): one pass, no boolean copy.
        if not np.isfinite(a.sum()):
            raise UserError(f"{name} contains NaN or Inf; recompute the statistics from finite features.")
    # Only the lower triangle is read below (Cholesky, eigh and eigvalsh all read it), so a stored
    # covariance with rounding-level asymmetry needs no symmetrising copy.
    return mu, sigma


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix, clipping rounding-level negative eigenvalues to 0."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((s1 s2)^{1/2}) from the eigenvalues of a symmetric PSD matrix similar to s1 s2.

    With a factor s1 = L L^T, s1 s2 is similar to L^T s2 L. When s1 is positive definite, LAPACK's
    generalized symmetric eigensolver with ``itype=2`` (``dsygv``: A B x = lambda x with B = s1)
    does exactly this: Cholesky of s1, then L^T s2 L by ``dsygst``, which uses the symmetry of s2
    and costs a quarter of the two general matrix products, then the symmetric eigenvalues. When s1
    is singular (n < d) Cholesky fails and the symmetric square root s1^{1/2} serves as the factor.
    Only the lower triangles of s1 and s2 are read.
    """
    try:
        eig = scipy.linalg.eigh(s2, s1, type=2, eigvals_only=True, driver="gv", check_finite=False)
    except np.linalg.LinAlgError:
        factor = _psd_sqrt(np.tril(s1) + np.tril(s1, -1).T)
        m = factor @ (np.tril(s2) + np.tril(s2, -1).T) @ factor
        eig = np.linalg.eigvalsh(m)  # reads the lower triangle of the (rounding-level) symmetric product
    return float(np.sqrt(np.clip(eig, 0.0, None)).sum())


def frechet_distance_from_stats(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^{1/2})``, in float64.
    Valid for singular covariances (fewer samples than dimensions); never NaN or complex.

    Args:
        mu1, sigma1: mean ``(D,)`` and covariance ``(D, D)`` of the first set.
        mu2, sigma2: the same for the second set.

    Returns:
        The distance, a non-negative float.

    Raises:
        UserError: (a ``ValueError``) for mismatched shapes or NaN/Inf values.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise UserError(
            f"mu1 has dimension {mu1.shape[0]} but mu2 has {mu2.shape[0]}; use features from the same layer."
        )
    diff = mu1 - mu2
    fd = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * _trace_sqrt_product(sigma1, sigma2)
    # The exact value is >= 0; rounding can leave about -1e-12 for identical statistics.
    return max(float(fd), 0.0)


def frechet_distance(real_feats, fake_feats) -> float:
    """Frechet distance between Gaussian fits of two feature sets.

    Args:
        real_feats: reference features ``(N1, D)``, ``N1 >= 2``.
        fake_feats: generated features ``(N2, D)``, ``N2 >= 2``.

    Returns:
        The distance, a non-negative float (FID when the features are Inception pool3 features).
    """
    real = as_features(real_feats, "real_feats", min_rows=2)
    fake = as_features(fake_feats, "fake_feats", min_rows=2)
    if real.shape[1] != fake.shape[1]:
        raise UserError(
            f"real_feats has {real.shape[1]} features but fake_feats has {fake.shape[1]}; "
            "use the same feature extractor."
        )
    return frechet_distance_from_stats(*feature_statistics(real), *feature_statistics(fake))


def _fd_metric(ctx: MetricContext) -> dict:
    real, fake = ctx.real_stats, ctx.fake_stats
    return {"fd": frechet_distance_from_stats(real.mean, real.cov, fake.mean, fake.cov)}


register_metric(MetricSpec(
    name="fd", higher_is_better=False, compute=_fd_metric, kinds=("image",), inputs={"stats"}, rank={"image": 0},
    bounds=(0.0, None),
    description="Frechet distance between Gaussian fits of real and generated features."))  # fmt: skip

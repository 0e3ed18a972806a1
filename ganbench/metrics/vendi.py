"""The Vendi score (Friedman and Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine
Learning"): the effective number of distinct samples.

``VS(K) = exp(-sum_i lambda_i log lambda_i)``, ``lambda_i`` the eigenvalues of ``K / n`` for an ``n x n``
positive semi-definite similarity matrix ``K`` with ``K_ii = 1`` (``0 log 0 = 0``). ganbench's kernel is the
cosine similarity of the feature vectors, ``K = X X^T`` with unit-norm rows, as the authors' ``score_X``
and ``score_dual`` (vertaix/Vendi-Score, ``vendi_score/vendi.py``). When the feature dimension ``d`` is below
``n`` the eigenvalues come from the ``d x d`` matrix ``X^T X / n``, which has the same non-zero eigenvalues
(their ``score_dual``). All eigenvalues are computed exactly (``scipy.linalg.eigvalsh``), in float64.
It is 1 for a sampler that returns one image and n for n orthogonal samples.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ganbench.errors import UserError
from ganbench.metrics.base import (
    MetricContext,
    MetricSpec,
    as_features,
    as_float64,
    register_metric,
)

__all__ = ["vendi_score", "vendi_score_from_kernel"]


def _entropy_exp(eigenvalues: np.ndarray) -> float:
    w = eigenvalues[eigenvalues > 0]  # rounding-level negatives and exact zeros contribute 0 log 0 = 0
    return float(np.exp(-(w * np.log(w)).sum()))


def vendi_score_from_kernel(kernel) -> float:
    """Vendi score of a precomputed similarity matrix ``K`` (symmetric PSD, unit diagonal)."""
    k = as_float64(kernel, "kernel")
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise UserError(f"kernel must be a non-empty square matrix, got shape {k.shape}")
    if not np.isfinite(k).all():
        raise UserError("kernel contains NaN or Inf")
    return _entropy_exp(scipy.linalg.eigvalsh(k / k.shape[0]))


def vendi_score(feats) -> float:
    """Vendi score of feature vectors under the cosine-similarity kernel.

    Args:
        feats: features ``(n, d)``. An all-zero row stays zero (its similarities are 0), as the authors'
            ``sklearn.preprocessing.normalize`` leaves it.
    """
    x = as_features(feats, "feats", min_rows=1)
    norms = np.linalg.norm(x, axis=1)
    x = x / np.where(norms == 0, 1.0, norms)[:, None]
    n, d = x.shape
    gram = x.T @ x if d < n else x @ x.T  # same non-zero eigenvalues
    return _entropy_exp(scipy.linalg.eigvalsh(gram / n))


def _vendi_metric(ctx: MetricContext) -> dict:
    return {"vendi": vendi_score(ctx.fake_feats)}


register_metric(MetricSpec(
    name="vendi", higher_is_better=True, compute=_vendi_metric, kinds=("image",), inputs={"features"},
    bounds=(1.0, None),
    description="Vendi score (Friedman and Dieng 2023): exp of the entropy of the eigenvalues of K/n, K the "
    "cosine similarities of the generated features; the effective number of distinct samples."))  # fmt: skip

"""Inception score (Salimans et al. 2016) from class probabilities."""

from __future__ import annotations

import numpy as np

from ganbench.errors import UserError
from ganbench.metrics.base import MetricContext, MetricSpec, as_features, register_metric

__all__ = ["inception_score"]

_ROW_SUM_TOL = 1e-3


def _check_probs(probs) -> np.ndarray:
    p = as_features(probs, "probs", min_rows=1)
    if (p < 0).any():
        raise UserError(f"probs has negative entries (min {p.min():.3g}); pass softmax probabilities, not logits.")
    sums = p.sum(axis=1)
    worst = float(np.abs(sums - 1.0).max())
    if worst > _ROW_SUM_TOL:
        raise UserError(f"probs rows must sum to 1 (worst row off by {worst:.3g}); apply softmax to the logits first.")
    return p


def _chunk_score(p: np.ndarray) -> float:
    """exp(mean_x KL(p(y|x) || p(y))) for one chunk, with 0 log 0 = 0."""
    marginal = p.mean(axis=0, keepdims=True)
    # Where p(y|x) = 0 the term is 0 whatever log gives; where p(y|x) > 0, p(y) > 0 too.
    safe_p = np.where(p > 0, p, 1.0)
    safe_m = np.where(marginal > 0, marginal, 1.0)
    kl = np.where(p > 0, p * (np.log(safe_p) - np.log(safe_m)), 0.0).sum(axis=1)
    return float(np.exp(kl.mean()))


def inception_score(probs, splits: int = 10, shuffle_seed: int | None = None) -> tuple[float, float]:
    """Inception score: ``exp(E_x KL(p(y|x) || p(y)))``, averaged over splits.

    The samples are cut into ``splits`` contiguous chunks with boundaries ``i * N // splits`` (so every
    sample is used, as in openai/improved-gan and torch-fidelity): in sample order when ``shuffle_seed``
    is ``None`` (the original code), else after the permutation
    ``numpy.random.RandomState(shuffle_seed).permutation(N)`` (torch-fidelity, whose default seed is
    2020; the protocol uses it, so both give the same number on the same logits). Within each
    chunk ``p(y)`` is the chunk's mean of ``p(y|x)`` and the score is ``exp`` of the mean KL
    divergence. The result is the mean and the population standard deviation (ddof=0) of the
    chunk scores. It lies in ``[1, C]`` for ``C`` classes.

    Args:
        probs: class probabilities ``(N, C)``, rows non-negative and summing to 1 (within 1e-3).
        splits: number of chunks, ``1 <= splits <= N``. The customary value is 10.
        shuffle_seed: seed of the permutation applied before splitting; ``None``: no permutation.

    Returns:
        ``(mean, std)`` over the chunks.

    Raises:
        UserError: (a ``ValueError``) for invalid probabilities or ``splits``.
    """
    p = _check_probs(probs)
    n = p.shape[0]
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise UserError(f"splits must be an integer in [1, {n}] (the number of samples), got {splits!r}; lower splits.")
    if shuffle_seed is not None:
        p = p[np.random.RandomState(shuffle_seed).permutation(n)]
    scores = [_chunk_score(p[i * n // splits : (i + 1) * n // splits]) for i in range(splits)]
    return float(np.mean(scores)), float(np.std(scores))


def _is_metric(ctx: MetricContext) -> dict:
    p = ctx.params
    mean, std = inception_score(ctx.probs, splits=min(p.is_splits, len(ctx.probs)), shuffle_seed=p.is_shuffle_seed)
    return {"is": mean, "is_std": std}


register_metric(MetricSpec(
    name="is", higher_is_better=True, compute=_is_metric, version="2", kinds=("image",), inputs={"probs"}, extras=("is_std",),
    bounds=(1.0, None),
    description="Inception score: exp of the mean KL between p(y|x) and p(y)."))  # fmt: skip

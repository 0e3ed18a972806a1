"""Evaluation noise: a bootstrap confidence interval of each metric over the generated samples.

The generated samples (their features, probabilities, points and mode labels) are resampled with
replacement ``resamples`` times, the real and held-out sides held fixed, and every metric is recomputed
on each resample. The interval is ``value +- z sd``, ``sd`` the standard deviation of the resampled values
(the bootstrap standard error) and ``z`` the normal quantile of the level (1.96 for 95%), centred on the
reported value: resampling with replacement repeats samples, which shifts the metrics that depend on the
number of distinct samples (FD and KID are biased upwards, recall and Vendi downwards), so the resamples'
percentiles can miss the value itself while their spread still measures the noise. It measures how much a
score moves with the evaluation's draw of generated samples, to be read beside the spread over training
seeds (the leaderboard's ``std`` and ``ci95`` columns), which measures training noise. The features are computed once, so the cost is
``resamples`` times the metrics' own cost (k-means for C_T, each time), not the extractor's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.stats

from ganbench.errors import UserError
from ganbench.metrics import METRICS, GaussianStats, MetricContext, compute_metrics
from ganbench.metrics.base import MetricSpec

__all__ = ["bootstrap_intervals", "resample_context"]


def resample_context(ctx: MetricContext, rng: np.random.Generator) -> MetricContext:
    """``ctx`` with its generated side resampled with replacement (mode labels on their own count)."""
    changes: dict = {}
    n = next(len(x) for x in (ctx.fake_feats, ctx.gen_feats, ctx.points, ctx.probs, ctx.mode_labels)
             if x is not None)  # fmt: skip
    idx = rng.integers(0, n, size=n)
    for name in ("fake_feats", "gen_feats", "probs", "points"):
        value = getattr(ctx, name)
        if value is not None and len(value) == n:
            changes[name] = value[idx]
    if ctx.gap_feats is not None and len(ctx.gap_feats[0]) == n:  # the same samples in pixels (fd_gap)
        changes["gap_feats"] = (ctx.gap_feats[0][idx], *ctx.gap_feats[1:])
    if ctx.fake_stats is not None and "fake_feats" in changes:
        changes["fake_stats"] = GaussianStats().update(changes["fake_feats"])
    if ctx.mode_labels is not None:
        changes["mode_labels"] = ctx.mode_labels[rng.integers(0, len(ctx.mode_labels), size=len(ctx.mode_labels))]
    return dataclasses.replace(ctx, **changes)


def bootstrap_intervals(specs: list[MetricSpec], ctx: MetricContext, resamples: int, seed: int = 0,
                        level: float = 0.95, values: dict | None = None) -> dict[str, list[float]]:  # fmt: skip
    """``{metric: [low, high]}``: ``value +- z sd`` at ``level`` for each scalar metric, ``sd`` over ``resamples``
    bootstrap resamples of the generated samples (NaN values, e.g. C_T without a valid cell, are dropped).
    ``values``: the metrics on ``ctx`` itself, computed here when omitted."""
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 2:
        raise UserError(f"--bootstrap needs at least 2 resamples, got {resamples!r}")
    values = compute_metrics(specs, ctx) if values is None else values
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(resamples):
        for k, v in compute_metrics(specs, resample_context(ctx, rng)).items():
            if k in METRICS and isinstance(v, (int, float)) and np.isfinite(v):
                draws.setdefault(k, []).append(float(v))
    z = float(scipy.stats.norm.ppf(0.5 + level / 2))
    out = {}
    for k, v in draws.items():
        if len(v) >= 2 and np.isfinite(values.get(k, np.nan)):
            sd = float(np.std(v, ddof=1))
            out[k] = [float(values[k]) - z * sd, float(values[k]) + z * sd]
    return out

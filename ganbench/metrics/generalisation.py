"""Frechet distance against a held-out split, its gap to the training split, and FD extrapolated in n.

- ``fd_heldout``: FD between the generated features and the held-out real split (the test split), which
  the model never saw. ``fd`` is measured against the training split.
- ``fd_gap = fd_heldout - fd_train_matched``, ``fd_train_matched`` the FD against as many training samples
  as there are held-out ones (the first of the protocol's random training subset), so both terms have the
  same sample-size bias: about 0 for a model that generalises, clearly positive for one that reproduces
  its training set (its samples are closer to the training data than to unseen data).
- ``fd_inf`` (Chong and Forsyth 2020, "Effectively unbiased FID and Inception Score and where to find
  them"): FD is biased in the generated-sample count ``n`` like ``1/n``, so it is computed on random
  subsets at ``FD_INF_POINTS`` counts evenly spaced from ``n/10`` to ``n`` (their ``np.linspace(5000,
  50000, 15)`` for 50,000 images), a least-squares line is fitted to FD against ``1/n``, and its value at
  ``1/n = 0`` is reported (mchong6/FID_IS_infinity, ``score_infinity.py``, ``calculate_FID_infinity``).
  Each subset is the head of a fresh random permutation of the generated features (their
  ``np.random.shuffle`` then ``[:N]``), seeded by the evaluation seed; the real statistics are fixed.
  It costs ``FD_INF_POINTS`` Frechet distances, so default protocols leave it out (``--metrics fd_inf``).
"""

from __future__ import annotations

import numpy as np

from ganbench.errors import UserError
from ganbench.metrics.base import (
    MetricContext,
    MetricSpec,
    as_features,
    register_metric,
)
from ganbench.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
)

__all__ = ["FD_INF_POINTS", "GAP_METRICS", "fd_generalisation", "fd_inf_counts", "fd_infinity"]

FD_INF_POINTS = 15
# The metrics computed by ``fd_generalisation``: they compare the generated samples' distance to training data
# with their distance to held-out data, so they need a space in which the two splits are exchangeable
# (``ganbench.evaluation.protocol.generalisation_space``).
GAP_METRICS = ("fd_heldout", "fd_gap")
FD_TRAIN_CHUNKS = 4


def fd_generalisation(gen, train, heldout, max_chunks: int = FD_TRAIN_CHUNKS) -> dict[str, float]:
    """``fd_heldout``, ``fd_train_matched`` and ``fd_gap`` (see the module docstring).

    Args:
        gen: generated features ``(M, D)``.
        train: training features ``(N, D)`` in random order; ``fd_train_matched`` is the mean FD to its
            first ``min(max_chunks, N // L)`` disjoint chunks of ``L`` rows (one chunk of all rows if N < L).
        heldout: held-out features ``(L, D)``.
    """
    g = as_features(gen, "generated", min_rows=2)
    t = as_features(train, "train", min_rows=2)
    h = as_features(heldout, "heldout", min_rows=2)
    size = min(len(h), len(t))
    chunks = max(1, min(max_chunks, len(t) // size))
    fd_heldout = frechet_distance(h, g)
    fd_train = float(np.mean([frechet_distance(t[i * size:(i + 1) * size], g) for i in range(chunks)]))
    return {"fd_heldout": fd_heldout, "fd_train_matched": fd_train, "fd_gap": fd_heldout - fd_train}


def fd_inf_counts(n: int, points: int = FD_INF_POINTS) -> np.ndarray:
    """The subset sizes: ``points`` counts evenly spaced from ``n // 10`` to ``n`` (as int32, like theirs),
    distinct; at least 2 samples each."""
    counts = np.unique(np.linspace(max(2, n // 10), n, points).astype(np.int32))
    if len(counts) < 2:
        raise UserError(f"fd_inf needs at least 2 distinct subset sizes; {n} generated samples are too few")
    return counts


def fd_infinity(real_mean, real_cov, gen, seed: int = 0, points: int = FD_INF_POINTS) -> dict[str, float]:
    """FD extrapolated to infinitely many generated samples (Chong and Forsyth 2020).

    Args:
        real_mean, real_cov: Gaussian statistics of the real features (fixed, as their precomputed ones).
        gen: generated features ``(n, D)``.
        seed: seed of the random subsets.
        points: number of subset sizes in the fit.

    Returns:
        ``fd_inf`` (the intercept) and ``fd_inf_slope`` (the fitted slope in ``1/n``).
    """
    g = as_features(gen, "generated", min_rows=4)
    counts = fd_inf_counts(len(g), points)
    rng = np.random.default_rng(seed)
    fds = []
    for n in counts:
        mu, cov = feature_statistics(g[rng.permutation(len(g))[:n]])
        fds.append(frechet_distance_from_stats(mu, cov, real_mean, real_cov))
    slope, intercept = np.polyfit(1.0 / counts, np.asarray(fds), 1)
    return {"fd_inf": float(intercept), "fd_inf_slope": float(slope)}


def _gap_metrics(ctx: MetricContext) -> dict:
    return fd_generalisation(*(ctx.gap_feats or (ctx.gen_feats, ctx.train_feats, ctx.heldout_feats)))


def _fd_inf_metric(ctx: MetricContext) -> dict:
    return fd_infinity(ctx.real_stats.mean, ctx.real_stats.cov, ctx.fake_feats, seed=ctx.params.eval_seed)


register_metric(MetricSpec(
    name="fd_heldout", higher_is_better=False, compute=_gap_metrics, kinds=("image",), inputs={"heldout"},
    bounds=(0.0, None),
    description="Frechet distance to the held-out (test) split, which the model never saw (on pixels where the "
    "extractor was trained on the training split: protocol.generalisation_space)."))  # fmt: skip
register_metric(MetricSpec(
    name="fd_gap", higher_is_better=False, target=0.0, compute=_gap_metrics, kinds=("image",),
    inputs={"heldout"}, extras=("fd_train_matched",), description="fd_heldout minus the FD to as many training "
    "samples: about 0 when generalising, positive when the samples are closer to the training data than to unseen "
    "data."))  # fmt: skip
register_metric(MetricSpec(
    name="fd_inf", higher_is_better=False, compute=_fd_inf_metric, kinds=("image",), inputs={"features", "stats"},
    extras=("fd_inf_slope",), default=False, description="FD extrapolated to infinitely many generated samples "
    "(Chong and Forsyth 2020): a line fitted to FD at 15 subset sizes against 1/n, read at 1/n = 0."))  # fmt: skip

"""Memorisation and novelty: is a generated sample a copy of a training sample?

All three compare generated samples ``G`` with the training split ``T`` (and, for the last two, a
held-out real split ``H`` the model never saw) by Euclidean nearest-neighbour distances in feature space
(the points themselves on 2D sets). With ``d_T(x)`` the distance from ``x`` to its nearest training
sample:

- ``authenticity`` (Alaa et al. 2022, "How faithful is your synthetic data?", Sec. 3.3): generated
  sample ``g`` with nearest training sample ``t*`` is *authentic* when ``d(g, t*) > r(t*)``, ``r(t*)`` the
  distance from ``t*`` to its own nearest other training sample (a copy is closer to ``t*`` than any
  real sample is). ``authenticity`` is the fraction of authentic generated samples: 0 for a sampler that
  returns training samples. The comparison is the authors' (vanderschaarlab/evaluating-generative-models,
  ``compute_alpha_precision``: ``authen = real_to_real[...] < real_to_synth``, strict), taken per
  generated sample as the paper defines it; the reference code averages over the real samples and indexes
  the real radii by the generated sample's index, which only coincides with the paper when the two sets
  have the same size and order, so it is not reproduced.
- ``ct`` (Meehan, Chaudhuri and Dasgupta 2020, "A non-parametric test to detect data-copying in generative
  models"), as their code computes it (casey-meehan/data-copying, ``data_copying_tests.py``): the space is
  cut into cells by k-means on the training features (scikit-learn ``KMeans``); in each cell ``pi``,
  ``U`` is the Mann-Whitney statistic of the generated samples' ``d_T`` against the held-out samples'
  ``d_T`` (``T`` restricted to the cell), Z-scored under the null with their continuity correction,
  ``Z = (U - (n m / 2 - 0.5)) / sqrt(n m (n + m + 1) / 12)``; ``C_T`` is the average of the cells' ``Z``
  weighted by the held-out fraction in each cell, over the cells holding more than 20 generated samples
  (their ``tau = 20 / m``). About 0 for a model that generalises, strongly negative for data copying,
  positive for a model whose samples are farther from the training data than real data is (underfitting).
  Cells: 50 when there are 5,000 held-out and generated samples or more (their MNIST experiment: 50 cells,
  10,000 of each), else one per 100 samples of the smaller set (at least 1); cells without held-out samples
  are left out (their code raises there), and ``C_T`` is NaN when no cell holds more than 20 generated
  samples (their code divides 0 by 0). k-means: scikit-learn's ``KMeans`` (k-means++, one initialisation,
  seeded by the evaluation seed).
- ``nn_ratio``: ``median_g d_T(g) / median_h d_T(h)``: how close generated samples are to the training
  data relative to real samples the model never saw. 1 for a model that generalises, 0 for copies.
"""

from __future__ import annotations

import numpy as np
import scipy.spatial
import scipy.stats

from ganbench.errors import UserError
from ganbench.metrics.base import (
    MetricContext,
    MetricSpec,
    as_features,
    register_metric,
)

__all__ = ["authenticity", "ct_cells", "ct_statistic", "mann_whitney_z", "nearest_neighbours", "nn_ratio"]

# Brute-force distance blocks of 2**22 float64 values (32 MB); low-dimensional sets use a k-d tree.
_BLOCK_ELEMENTS = 2**22
_KDTREE_MAX_DIM = 8
CT_MAX_CELLS = 50
CT_SAMPLES_PER_CELL = 100
CT_MIN_GENERATED = 20


def nearest_neighbours(query, ref) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance from each row of ``query`` to its nearest row of ``ref``, and that row's index.

    Exact: a k-d tree in low dimension, float64 blocks of the full distance matrix otherwise.
    """
    q, r = np.asarray(query, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if q.shape[1] <= _KDTREE_MAX_DIM:
        return scipy.spatial.cKDTree(r).query(q, k=1)
    r_sq = (r * r).sum(axis=1)
    dist, idx = np.empty(len(q)), np.empty(len(q), dtype=np.int64)
    step = max(1, _BLOCK_ELEMENTS // max(len(r), 1))
    for s in range(0, len(q), step):
        e = min(s + step, len(q))
        d2 = (q[s:e] * q[s:e]).sum(axis=1)[:, None] + r_sq[None, :] - 2.0 * (q[s:e] @ r.T)
        j = d2.argmin(axis=1)
        idx[s:e] = j
        # The expanded form loses precision for near-duplicates: recompute the chosen distance directly.
        dist[s:e] = np.sqrt(((q[s:e] - r[j]) ** 2).sum(axis=1))
    return dist, idx


def _check(gen, train, heldout=None) -> tuple[np.ndarray, ...]:
    g = as_features(gen, "generated", min_rows=1)
    t = as_features(train, "train", min_rows=2)
    out = [g, t]
    if heldout is not None:
        out.append(as_features(heldout, "heldout", min_rows=1))
    if len({a.shape[1] for a in out}) != 1:
        raise UserError(f"feature dimensions differ ({', '.join(str(a.shape[1]) for a in out)}); "
                        "use the same extractor for generated, training and held-out samples")  # fmt: skip
    return tuple(out)


def authenticity(gen, train) -> float:
    """Fraction of generated samples farther from their nearest training sample ``t*`` than ``t*`` is from
    its nearest other training sample (Alaa et al. 2022). 0 for copies of training samples.

    Args:
        gen: generated features ``(M, D)``.
        train: training features ``(N, D)``, ``N >= 2``.
    """
    g, t = _check(gen, train)
    d_gen, nearest = nearest_neighbours(g, t)
    used = np.unique(nearest)
    radius = np.zeros(len(t))
    radius[used] = _self_radii(t, used)
    return float((d_gen > radius[nearest]).mean())


def _self_radii(t: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Distance from ``t[rows]`` to their nearest other row of ``t`` (by index: a duplicate counts, at 0)."""
    if t.shape[1] <= _KDTREE_MAX_DIM:
        dist, idx = scipy.spatial.cKDTree(t).query(t[rows], k=2)
        own = idx[:, 0] == rows  # a duplicate of the row may come back first instead of the row itself
        return np.where(own, dist[:, 1], dist[:, 0])
    out = np.empty(len(rows))
    t_sq = (t * t).sum(axis=1)
    step = max(1, _BLOCK_ELEMENTS // max(len(t), 1))
    for s in range(0, len(rows), step):
        r = rows[s:s + step]
        d2 = t_sq[r][:, None] + t_sq[None, :] - 2.0 * (t[r] @ t.T)
        d2[np.arange(len(r)), r] = np.inf
        j = d2.argmin(axis=1)
        out[s:s + step] = np.sqrt(((t[r] - t[j]) ** 2).sum(axis=1))
    return out


def mann_whitney_z(x, y) -> float:
    """Meehan et al.'s Z-scored Mann-Whitney ``U`` of ``x`` against ``y``: ``U`` counts the pairs with
    ``x > y`` (ties count 1/2), ``Z = (U - (n m / 2 - 0.5)) / sqrt(n m (n + m + 1) / 12)``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    m, n = len(x), len(y)
    ranks = scipy.stats.rankdata(np.concatenate([x, y]))
    u = ranks[:m].sum() - m * (m + 1) / 2.0
    return float((u - (n * m / 2.0 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12.0))


def ct_cells(n_heldout: int, n_gen: int) -> int:
    """The number of k-means cells for ``n_heldout`` held-out and ``n_gen`` generated samples (see the module
    docstring)."""
    return int(max(1, min(CT_MAX_CELLS, min(n_heldout, n_gen) // CT_SAMPLES_PER_CELL)))


def ct_statistic(gen, train, heldout, cells: int | None = None, seed: int = 0) -> float:
    """Meehan et al.'s data-copying statistic ``C_T`` (see the module docstring).

    Args:
        gen: generated features ``(M, D)``.
        train: training features ``(N, D)``; the cells are k-means clusters of these.
        heldout: held-out real features ``(L, D)``.
        cells: number of cells; ``ct_cells(L, M)`` when omitted.
        seed: k-means seed.

    Returns:
        ``C_T``; NaN when no cell holds both held-out samples and more than 20 generated samples (their
        code divides 0 by 0 there), e.g. for 20 generated samples or fewer.
    """
    g, t, h = _check(gen, train, heldout)
    k = ct_cells(len(h), len(g)) if cells is None else int(cells)
    if not 1 <= k <= len(t):
        raise UserError(f"C_T needs between 1 and {len(t)} cells (the training samples), got {k}")
    # 2 s to import: only this metric needs it
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, random_state=seed, n_init=1).fit(t)
    t_cell, g_cell, h_cell = km.labels_, km.predict(g), km.predict(h)
    zs, weights = [], []
    for c in range(k):
        gc, hc, tc = g[g_cell == c], h[h_cell == c], t[t_cell == c]
        if len(hc) == 0 or len(tc) == 0 or len(gc) <= CT_MIN_GENERATED:  # their tau = 20 / m
            continue
        zs.append(mann_whitney_z(nearest_neighbours(gc, tc)[0], nearest_neighbours(hc, tc)[0]))
        weights.append(len(hc) / len(h))
    if not zs:
        return float("nan")
    w = np.asarray(weights)
    return float(w @ np.asarray(zs) / w.sum())


def nn_ratio(gen, train, heldout) -> float:
    """``median d_T(generated) / median d_T(held-out)``: 1 when generated samples are as far from the training
    data as unseen real data, 0 for copies."""
    g, t, h = _check(gen, train, heldout)
    denom = float(np.median(nearest_neighbours(h, t)[0]))
    if denom == 0.0:
        raise UserError("nn_ratio: half the held-out samples duplicate training samples; the ratio is undefined")
    return float(np.median(nearest_neighbours(g, t)[0]) / denom)


def _authenticity_metric(ctx: MetricContext) -> dict:
    return {"authenticity": authenticity(ctx.gen_feats, ctx.train_feats)}


def _ct_metric(ctx: MetricContext) -> dict:
    return {"ct": ct_statistic(ctx.gen_feats, ctx.train_feats, ctx.heldout_feats, seed=ctx.params.eval_seed)}


def _nn_ratio_metric(ctx: MetricContext) -> dict:
    return {"nn_ratio": nn_ratio(ctx.gen_feats, ctx.train_feats, ctx.heldout_feats)}


register_metric(MetricSpec(
    name="authenticity", higher_is_better=True, compute=_authenticity_metric, kinds=("points2d", "image"),
    inputs={"train"}, bounds=(0.0, 1.0),
    description="Fraction of generated samples that are not copies of a training sample "
    "(Alaa et al. 2022); 0 for a sampler returning training data."))  # fmt: skip
register_metric(MetricSpec(
    name="ct", higher_is_better=True, target=0.0, compute=_ct_metric, kinds=("points2d", "image"),
    inputs={"heldout"}, description="Data-copying statistic C_T (Meehan et al. 2020): about 0 when generalising, "
    "strongly negative when copying training data, positive when underfitting."))  # fmt: skip
register_metric(MetricSpec(
    name="nn_ratio", higher_is_better=True, target=1.0, compute=_nn_ratio_metric, kinds=("points2d", "image"),
    inputs={"heldout"}, bounds=(0.0, None),
    description="Median distance of generated samples to their nearest training sample "
    "over that of held-out real samples: 1 when generalising, 0 for copies."))  # fmt: skip

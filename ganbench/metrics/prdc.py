"""Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020).

Each sample's manifold ball has radius equal to the distance to its k-th nearest neighbour in its
own set (the sample itself excluded). Membership is strict (``distance < radius``), as in the
reference ``prdc`` package. Distances are computed in float64 in row blocks, so memory stays
bounded (a few tens of MB) even for 10k x 10k sets, instead of holding N x M matrices.
"""

from __future__ import annotations

import numpy as np

from ganbench.errors import UserError
from ganbench.metrics.base import MetricContext, MetricSpec, as_features, register_metric

__all__ = ["PRDC_METRICS", "prdc", "prdc_reference", "prdc_size"]

# Elements per distance block: 2**22 float64 values = 32 MB.
_BLOCK_ELEMENTS = 2**22


def _row_blocks(n_rows: int, n_cols: int):
    step = max(1, _BLOCK_ELEMENTS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield start, min(start + step, n_rows)


def _distances(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Euclidean distances between rows of ``a`` and ``b`` (``b_sq`` = squared norms of ``b``)."""
    d2 = (a * a).sum(axis=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    # The expansion can go slightly negative through rounding; distances cannot.
    return np.sqrt(np.clip(d2, 0.0, None))


def _kth_neighbour_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row."""
    sq = (x * x).sum(axis=1)
    radii = np.empty(x.shape[0])
    for s, e in _row_blocks(x.shape[0], x.shape[0]):
        d = _distances(x[s:e], x, sq)
        # Self-distances are exactly 0 (rounding would leave ~1e-8), so index k skips the sample itself.
        d[np.arange(e - s), np.arange(s, e)] = 0.0
        radii[s:e] = np.partition(d, k, axis=1)[:, k]
    return radii


def _check_k(k, n_real: int, n_fake: int) -> None:
    limit = min(n_real, n_fake) - 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= limit:
        raise UserError(
            f"k must be an integer in [1, {limit}] (fewer than the samples in each set, "
            f"real: {n_real}, fake: {n_fake}), got {k!r}; lower k or pass more samples."
        )


def prdc(real, fake, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of generated samples against real ones.

    With ``r_i`` the distance from real sample ``x_i`` to its k-th nearest real neighbour and
    ``s_j`` the same for fake sample ``y_j`` among fakes, and ``B(c, r)`` the open ball:

    - precision = fraction of fakes ``y_j`` in the union of ``B(x_i, r_i)`` (fidelity);
    - recall = fraction of reals ``x_i`` in the union of ``B(y_j, s_j)`` (diversity);
    - density = ``1/(k M) sum_j #{i : y_j in B(x_i, r_i)}`` (can exceed 1);
    - coverage = fraction of reals ``x_i`` whose ball ``B(x_i, r_i)`` contains some fake.

    Mode collapse therefore shows as high precision with low recall and coverage.

    Args:
        real: reference features ``(N, D)``, numpy or torch.
        fake: generated features ``(M, D)``.
        k: neighbourhood size, ``1 <= k < min(N, M)``; 5 is the customary value.

    Returns:
        Dict with float values under ``precision``, ``recall``, ``density``, ``coverage``.

    Raises:
        UserError: (a ``ValueError``) for invalid features or ``k``.
    """
    x = as_features(real, "real", min_rows=2)
    y = as_features(fake, "fake", min_rows=2)
    if x.shape[1] != y.shape[1]:
        raise UserError(f"real has {x.shape[1]} features but fake has {y.shape[1]}; use the same feature extractor.")
    _check_k(k, x.shape[0], y.shape[0])
    real_radii = _kth_neighbour_radii(x, k)
    fake_radii = _kth_neighbour_radii(y, k)

    y_sq = (y * y).sum(axis=1)
    balls_per_fake = np.zeros(y.shape[0], dtype=np.int64)  # real balls containing each fake
    real_recalled = np.zeros(x.shape[0], dtype=bool)
    real_covered = np.zeros(x.shape[0], dtype=bool)
    for s, e in _row_blocks(x.shape[0], y.shape[0]):
        d = _distances(x[s:e], y, y_sq)
        in_real_ball = d < real_radii[s:e, None]
        balls_per_fake += in_real_ball.sum(axis=0)
        real_recalled[s:e] = (d < fake_radii[None, :]).any(axis=1)
        real_covered[s:e] = in_real_ball.any(axis=1)
    return {
        "precision": float((balls_per_fake > 0).mean()),
        "recall": float(real_recalled.mean()),
        "density": float(balls_per_fake.mean() / k),
        "coverage": float(real_covered.mean()),
    }


def prdc_size(n_real: int, n_fake: int, prdc_n: int | None = None) -> int:
    """How many generated and how many real samples PRDC compares (equal sizes, as the PRDC papers do):
    ``prdc_n``, or as many as the smaller set holds when it is ``None`` or larger."""
    return min(prdc_n or n_fake, n_fake, n_real)


def prdc_reference(real_feats, fake_feats, prdc_n: int | None = None, seed: int = 0):
    """The real features a protocol's PRDC compares with the first ``prdc_size(...)`` generated ones: all
    of ``real_feats`` when it holds no more, else that many rows drawn without replacement by
    ``numpy.random.RandomState(seed).choice`` (the evaluation seed), in their order in ``real_feats``
    (which may be a whole split in its order)."""
    m = prdc_size(len(real_feats), len(fake_feats), prdc_n)
    if len(real_feats) <= m:
        return real_feats
    return real_feats[np.sort(np.random.RandomState(seed).choice(len(real_feats), m, replace=False))]


def _prdc_metrics(ctx: MetricContext) -> dict:
    p, fake = ctx.params, ctx.fake_feats
    real = prdc_reference(ctx.real_feats, fake, p.prdc_n, p.eval_seed)
    return prdc(real, fake[: len(real)], k=p.prdc_k)


_PRDC_SPECS = (
    ("precision", (0.0, 1.0), "Fraction of generated samples inside the real k-NN manifold."),
    ("recall", (0.0, 1.0), "Fraction of real samples inside the generated k-NN manifold."),
    ("density", (0.0, None), "Mean count of real k-NN balls containing a generated sample, divided by k."),
    ("coverage", (0.0, 1.0), "Fraction of real k-NN balls that contain at least one generated sample."),
)
PRDC_METRICS = tuple(name for name, _, _ in _PRDC_SPECS)
for _name, _bounds, _description in _PRDC_SPECS:
    register_metric(MetricSpec(name=_name, higher_is_better=True, description=_description, compute=_prdc_metrics,
                               kinds=("image",), inputs={"features"}, version="2", bounds=_bounds))  # fmt: skip

"""Evaluation curves over training: the mean over the last evaluations, and whether a run has plateaued.

A run's ``metrics.jsonl`` holds an evaluation line ``{"step": k, "eval": {...}}`` every ``eval_every``
steps (``evaluation/tracking.py``). One snapshot of a noisy curve misleads (a 2D GAN's high-quality
fraction can swing by 60 points within 1,000 steps), so beside the final score ganbench reports:

- **last-evaluations mean** (``last_mean``): the mean of the evaluations made in the last 10% of the
  training steps (steps ``s`` with ``T - s < 0.1 T``, ``T`` the run's last step), widened to the last 5
  evaluations when fewer fall there; a curve of fewer than 5 evaluations is averaged whole and its
  ``n`` says so.
- **plateau** (``plateau``): with ``n >= 5`` evaluations and ``k = n // 5`` (20% of the curve), the mean
  ``last`` of the last ``k`` evaluations is compared with the mean ``prev`` of the ``k`` before them.
  The tolerance is ``max(0.1 * |prev|, 0.02)`` (10% relative, with an absolute floor of 0.02 in the
  metric's units for metrics near 0 such as ``hq_fraction`` or ``reverse_kl``). The run has
  *plateaued* when ``|last - prev| <= tolerance``; it is *improving* or *worsening* (both: not
  plateaued) when it moved further in the metric's better or worse direction; with fewer than 5
  evaluations the verdict is *unknown*.
- **plateau over seeds** (``seed_mean_curve``, ``plateau_over_seeds``): the same rule applied to the mean
  over seeds of the seeds' curves, at the steps every seed evaluated. This is the verdict of a
  leaderboard row: one seed's curve of a 2D GAN swings by tens of points between evaluations, so the rule
  on single seeds calls runs "improving" or "worsening" by noise, while the seed mean (the quantity the
  row reports) averages it out.

Points whose step or value is not finite are left out first. The functions are pure; ``eval_curves``
reads the curves of a run folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganbench.errors import UserError
from ganbench.metrics import METRICS
from ganbench.runs import files
from ganbench.runs.layout import RunDir

__all__ = ["LAST_FRACTION", "MIN_POINTS", "PLATEAU_ABS_TOL", "PLATEAU_FRACTION", "PLATEAU_REL_TOL", "LastMean",
           "Plateau", "eval_curves", "last_mean", "plateau", "plateau_over_seeds", "seed_mean_curve"]  # fmt: skip

LAST_FRACTION = 0.1  # the last-evaluations window: the last 10% of the training steps ...
MIN_POINTS = 5  # ... but at least 5 evaluations; also the fewest evaluations a plateau verdict needs
PLATEAU_FRACTION = 0.2  # a plateau compares the last 20% of the evaluations with the 20% before them
PLATEAU_REL_TOL = 0.1  # ... and calls them equal within 10% of the earlier mean
PLATEAU_ABS_TOL = 0.02  # ... or within 0.02, whichever is larger (metrics near 0)

PLATEAUED, IMPROVING, WORSENING, UNKNOWN = "plateaued", "improving", "worsening", "unknown"


@dataclass(frozen=True)
class LastMean:
    """The mean of a curve's last evaluations.

    Attributes:
        mean: their mean (NaN for an empty curve).
        n: how many evaluations were averaged.
        n_total: how many finite evaluations the curve has.
        first_step: the step of the first averaged evaluation (None for an empty curve).
    """

    mean: float
    n: int
    n_total: int
    first_step: int | float | None

    @property
    def short(self) -> bool:
        """Whether the curve had fewer than ``MIN_POINTS`` evaluations (all of them were averaged)."""
        return self.n_total < MIN_POINTS


@dataclass(frozen=True)
class Plateau:
    """A plateau verdict.

    Attributes:
        status: ``plateaued``, ``improving``, ``worsening`` or ``unknown`` (too few evaluations).
        last: mean of the last ``window`` evaluations (NaN when unknown).
        prev: mean of the ``window`` evaluations before them (NaN when unknown).
        tolerance: ``max(rel_tol * |prev|, abs_tol)`` (NaN when unknown).
        window: evaluations per window (0 when unknown).
        n_total: finite evaluations of the curve.
    """

    status: str
    last: float
    prev: float
    tolerance: float
    window: int
    n_total: int

    @property
    def plateaued(self) -> bool | None:
        """True or False, or None when the curve is too short to tell."""
        return None if self.status == UNKNOWN else self.status == PLATEAUED


def _clean(steps, values) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if s.shape != v.shape:
        raise UserError(f"steps and values must have the same length; got {s.size} and {v.size}")
    keep = np.isfinite(s) & np.isfinite(v)
    s, v = s[keep], v[keep]
    order = np.argsort(s, kind="stable")
    return s[order], v[order]


def _step(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def last_mean(steps, values, total_steps: float | None = None, fraction: float = LAST_FRACTION,
              min_points: int = MIN_POINTS) -> LastMean:  # fmt: skip
    """The mean of a curve's evaluations in the last ``fraction`` of training, at least ``min_points``.

    Args:
        steps: evaluated steps, shape ``(N,)`` (any order; sorted stably here).
        values: the metric at those steps, shape ``(N,)``; non-finite points are left out.
        total_steps: the run's training steps ``T`` (default: the last evaluated step). An evaluation at
            step ``s`` is in the window when ``T - s < fraction * T``.
        fraction: the share of the training steps the window covers, in ``(0, 1]``.
        min_points: the fewest evaluations averaged (all of them when the curve is shorter).
    """
    if not 0 < fraction <= 1:
        raise UserError(f"fraction must be in (0, 1]; got {fraction!r}")
    s, v = _clean(steps, values)
    if not len(v):
        return LastMean(math.nan, 0, 0, None)
    t = float(s[-1]) if total_steps is None else float(total_steps)
    # The boundary step T - fraction*T itself is outside (it measures the model before that stretch);
    # the relative slack keeps it outside whatever the rounding of fraction * T.
    in_window = (t - s) < fraction * t * (1 - 1e-9)
    k = max(int(in_window.sum()), min(min_points, len(v)))
    tail = v[-k:]
    return LastMean(float(tail.mean()), k, len(v), _step(s[-k]))


def plateau(steps, values, higher_is_better: bool, fraction: float = PLATEAU_FRACTION,
            rel_tol: float = PLATEAU_REL_TOL, abs_tol: float = PLATEAU_ABS_TOL,
            min_points: int = MIN_POINTS) -> Plateau:  # fmt: skip
    """Whether a curve has plateaued: its last ``fraction`` of evaluations against the ``fraction`` before.

    Args:
        steps: evaluated steps, shape ``(N,)``.
        values: the metric at those steps; non-finite points are left out.
        higher_is_better: the metric's direction (a change beyond the tolerance is ``improving`` in it,
            ``worsening`` against it).
        fraction: each window holds ``max(1, floor(fraction * n))`` evaluations, in ``(0, 0.5]``.
        rel_tol, abs_tol: the tolerance is ``max(rel_tol * |prev|, abs_tol)``.
        min_points: fewer finite evaluations than this give ``unknown``.
    """
    if not 0 < fraction <= 0.5:
        raise UserError(f"fraction must be in (0, 0.5]; got {fraction!r}")
    _, v = _clean(steps, values)
    n = len(v)
    if n < max(min_points, 2):
        return Plateau(UNKNOWN, math.nan, math.nan, math.nan, 0, n)
    k = max(1, math.floor(fraction * n + 1e-9))
    last, prev = float(v[-k:].mean()), float(v[-2 * k : -k].mean())
    tol = max(rel_tol * abs(prev), abs_tol)
    gain = (last - prev) if higher_is_better else (prev - last)
    status = PLATEAUED if abs(last - prev) <= tol else (IMPROVING if gain > 0 else WORSENING)
    return Plateau(status, last, prev, tol, k, n)


def aligned_curves(curves) -> tuple[np.ndarray, np.ndarray]:
    """Several curves at the steps where every one of them has a finite value.

    Args:
        curves: ``[(steps, values), ...]``, one per seed.

    Returns:
        ``(steps, values)``: the common steps sorted, shape ``(T,)``, and the curves' values there, shape
        ``(len(curves), T)``; ``T = 0`` when no step is common to every curve (or there are no curves).
    """
    cleaned = [_clean(s, v) for s, v in curves]
    common = sorted(set.intersection(*(set(s.tolist()) for s, _ in cleaned))) if cleaned else []
    vals = np.array([[dict(zip(s.tolist(), v.tolist()))[t] for t in common] for s, v in cleaned], dtype=np.float64)
    return np.array(common, dtype=np.float64), vals.reshape(len(cleaned), len(common))


def seed_mean_curve(curves) -> tuple[np.ndarray, np.ndarray]:
    """The mean over seeds of several curves, at the steps where every curve has a finite value.

    Args:
        curves: ``[(steps, values), ...]``, one per seed.

    Returns:
        ``(steps, mean)``, sorted by step; both empty when no step is common to every curve.
    """
    steps, vals = aligned_curves(curves)
    if not steps.size:
        return np.array([]), np.array([])
    return steps, vals.mean(0)


def plateau_over_seeds(curves, higher_is_better: bool, **kwargs) -> Plateau:
    """``plateau`` of the seed-mean curve (``seed_mean_curve``); ``kwargs`` are ``plateau``'s."""
    return plateau(*seed_mean_curve(curves), higher_is_better, **kwargs)


def eval_curves(run_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{metric: (steps, values)}`` of every registered metric in the eval lines of a run's ``metrics.jsonl``.

    Args:
        run_dir: a run folder, or a JSON-lines file of ``{"step": k, "eval": {...}}`` lines.

    Returns:
        One sorted curve per metric that has at least one numeric value; empty without a metrics file.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = RunDir(path).metrics
    recs = [r for r in files.read_jsonl(path) if isinstance(r.get("eval"), dict) and _number(r.get("step"))]
    out = {}
    for m in METRICS:
        pts = sorted((r["step"], r["eval"][m]) for r in recs
                     if _number(r["eval"].get(m)))  # fmt: skip
        if pts:
            out[m] = (np.array([p[0] for p in pts]), np.array([p[1] for p in pts], dtype=np.float64))
    return out


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)

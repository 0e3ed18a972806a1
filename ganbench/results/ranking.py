"""Statistics over training seeds: the confidence interval of a leaderboard row's mean (``mean_ci``); how far
seed noise lets a leaderboard rank move: pairwise Welch tests over training seeds between the ranked rows of
one protocol, from each row's mean, standard deviation and seed count; and how many seeds a t-test would need
to tell two models apart (``power``, ``seeds_needed``: ``ganbench compare`` and
``scripts/seeds_needed.py``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ganbench.metrics import METRICS

__all__ = [
    "RANK_ALPHA", "mean_ci", "t_interval", "clip_interval", "holm", "pooled_sd", "welch_p", "rank_ranges",
    "range_cell", "power", "seeds_needed"]

RANK_ALPHA = 0.05  # a rank range counts the rows that differ from a row at this level (Welch, two-sided)
POWER, ALPHA, CAP = 0.8, 0.05, 1000  # seeds_needed: 80% power at a two-sided 5% level, at most 1,000 seeds


def mean_ci(values, confidence: float = 0.95, bounds: tuple = (None, None)) -> tuple[float, float]:
    """The Student-t interval of the mean over training seeds, ``mean ± t((1 + confidence) / 2, n - 1) * sd /
    sqrt(n)`` (sd with ddof=1; ``scipy.stats.t``): its coverage is exact when a model's scores over seeds are
    normal, whatever n. Cut to ``bounds`` (the metric's range, ``MetricSpec.bounds``: the mean of scores in
    that range lies in it, so the cut interval covers it as often). Non-finite values are left out; NaN with
    fewer than 2 values; the value itself when all are equal. Not a percentile bootstrap: over the 2 to 5 seeds
    of a leaderboard row, resampling the seeds gives intervals far narrower than their stated level (with 2
    seeds it is the two values, which hold the true mean half the time; ``scripts/seed_ci_coverage.py``,
    ``reports/seed-ci-coverage.md``)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return math.nan, math.nan
    return t_interval(float(values.mean()), float(values.std(ddof=1)), len(values), confidence, bounds)


def t_interval(mean: float, sd: float, n: int, confidence: float = 0.95, bounds: tuple = (None, None)):
    """``mean_ci`` from a row's ``(mean, sd, n)`` over seeds (as a published leaderboard keeps them)."""
    if n < 2 or not (math.isfinite(mean) and math.isfinite(sd)):
        return math.nan, math.nan
    if sd == 0:
        return mean, mean
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sd / math.sqrt(n))
    return clip_interval(float(low), float(high), bounds)


def clip_interval(low: float, high: float, bounds: tuple) -> tuple[float, float]:
    """``(low, high)`` cut to ``bounds`` (``(low, high)``, None for an open side)."""
    lo, hi = bounds
    return (low if lo is None else max(low, lo)), (high if hi is None else min(high, hi))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (Holm 1979): the i-th smallest of m becomes
    ``max over j <= i of min(1, (m - j + 1) * p_(j))``; rejecting where the adjusted p is below alpha keeps the
    chance of any false rejection in the family at most alpha. NaN p-values (no test) stay NaN and do not
    count in m."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def pooled_sd(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """The pooled standard deviation of two rows' ``(mean, std, n)`` over training seeds (Cohen's d's unit)."""
    (_, sa, na), (_, sb, nb) = a, b
    return math.sqrt(((na - 1) * sa**2 + (nb - 1) * sb**2) / (na + nb - 2))


def welch_p(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """Two-sided p of Welch's t-test between two rows from their ``(mean, std, n)`` over training seeds
    (``scipy.stats.ttest_ind_from_stats``); NaN with fewer than 2 seeds on either side, 0 or 1 when both
    have no spread (different or equal means)."""
    (ma, sa, na), (mb, sb, nb) = a, b
    if na < 2 or nb < 2 or not (math.isfinite(sa) and math.isfinite(sb)):
        return math.nan
    if sa == 0 and sb == 0:
        return 1.0 if ma == mb else 0.0
    return float(stats.ttest_ind_from_stats(ma, sa, na, mb, sb, nb, equal_var=False).pvalue)


def rank_ranges(board: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The ranks each ranked row could take given seed noise on its primary metric: best = 1 + the ranked
    rows of its protocol that are better and differ from it (Welch's t-test over training seeds, p <
    ``RANK_ALPHA``, not corrected for the number of pairs), worst = the number of ranked rows - those that
    are worse and differ. A pair with fewer than 2 seeds on a side is not told apart. Unranked rows: NaN."""
    best, worst = pd.Series(np.nan, index=board.index), pd.Series(np.nan, index=board.index)
    ranked = board[board["rank"].notna()]
    for _, g in ranked.groupby(["dataset", "fingerprint"]):
        m = g["primary_metric"].iloc[0]
        sign = 1 if METRICS[m].higher_is_better else -1
        rows = {i: (float(r[f"{m}_mean"]), float(r[f"{m}_std"]), int(r["n_seeds"])) for i, r in g.iterrows()}
        for i, a in rows.items():
            differ = [(sign * (b[0] - a[0]), welch_p(a, b)) for j, b in rows.items() if j != i]
            better = sum(d > 0 and p < RANK_ALPHA for d, p in differ)
            worse = sum(d < 0 and p < RANK_ALPHA for d, p in differ)
            best[i], worst[i] = 1 + better, len(rows) - worse
    return best, worst


def range_cell(best, worst) -> str:
    """``1-4``: the ranks a row could take given seed noise (``rank_ranges``); one rank when it is told
    apart from every other ranked row; empty for unranked rows."""
    if pd.isna(best):
        return ""
    return str(int(best)) if best == worst else f"{int(best)}-{int(worst)}"


def power(d: float, n: int, alpha: float = ALPHA) -> float:
    """The power of the two-sided two-sample t-test (equal variances, ``n`` per group) against a true
    standardised difference ``d``: P(|T| > t_crit) with T noncentral t, ``2n - 2`` degrees of freedom and
    noncentrality ``d * sqrt(n / 2)``."""
    df, nc = 2 * n - 2, abs(d) * math.sqrt(n / 2)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc))


def seeds_needed(d: float, target: float = POWER, alpha: float = ALPHA, cap: int = CAP) -> int | None:
    """The fewest seeds per model (at least 2) whose t-test reaches ``target`` power against ``d``; None when
    more than ``cap`` would be needed (or d is 0 or NaN); 2 for an infinite d (no spread, different means)."""
    if not d or math.isnan(d):
        return None
    if math.isinf(d):  # no spread on either side and different means: any two seeds tell them apart
        return 2
    lo, hi = 2, 2
    # Doubling, then bisection (power grows with n). Not a bisection over [2, cap] from the start: scipy's
    # noncentral t returns NaN at large noncentrality (d = 0.8 at n = 250), so n stays near the answer.
    while power(d, hi, alpha) < target:
        lo, hi = hi, hi * 2
        if hi > cap:
            return None if power(d, cap, alpha) < target else _bisect(d, lo, cap, target, alpha)
    return _bisect(d, lo, hi, target, alpha) if power(d, lo, alpha) < target else lo


def _bisect(d: float, lo: int, hi: int, target: float, alpha: float) -> int:
    """The smallest n in (lo, hi] with enough power, given power(lo) < target <= power(hi)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power(d, mid, alpha) >= target else (mid, hi)
    return hi

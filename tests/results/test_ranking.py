"""Welch's test from summary statistics (what rank ranges use) against scipy's test on the values themselves."""

import math

import numpy as np
import pytest
from scipy import stats

from ganbench.metrics import METRICS
from ganbench.results.ranking import mean_ci, range_cell, welch_p


@pytest.mark.parametrize("a, b", [([10.0, 11.0, 12.0], [10.5, 12.5, 14.0]), ([0.61, 0.55, 0.67], [0.30, 0.71]),
                                  ([5.0, 5.1], [7.0, 9.0, 8.5, 7.7])])  # fmt: skip
def test_welch_p_from_mean_std_n_is_scipys_on_the_values(a, b):
    summary = [(float(np.mean(x)), float(np.std(x, ddof=1)), len(x)) for x in (a, b)]
    assert welch_p(*summary) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)


def test_welch_p_edge_cases_and_the_cell():
    assert math.isnan(welch_p((1.0, math.nan, 1), (2.0, 0.5, 3)))  # one seed: no test
    assert welch_p((1.0, 0.0, 3), (2.0, 0.0, 3)) == 0.0 and welch_p((1.0, 0.0, 3), (1.0, 0.0, 3)) == 1.0
    assert [range_cell(1, 5), range_cell(3, 3), range_cell(math.nan, math.nan)] == ["1-5", "3", ""]


def test_mean_ci_is_students_t_interval_of_the_mean():
    # t(0.975, n - 1) from Student's t table: 12.706205 (n = 2), 4.302653 (3), 2.776445 (5).
    assert mean_ci([3.0, 5.0]) == pytest.approx((4.0 - 12.706205, 4.0 + 12.706205), rel=1e-7)  # sd/sqrt(2) = 1
    vals = np.array([0.61, 0.55, 0.67, 0.52, 0.70])
    half = 2.776445 * vals.std(ddof=1) / math.sqrt(5)
    assert mean_ci(vals) == pytest.approx((vals.mean() - half, vals.mean() + half), rel=1e-6)
    # and scipy's one-sample t-test gives the same interval
    assert mean_ci(vals, 0.9) == pytest.approx(tuple(stats.ttest_1samp(vals, 0.0).confidence_interval(0.9)), rel=1e-12)
    half = 4.302653 * 2.0 / math.sqrt(3)
    assert mean_ci([10.0, np.nan, 12.0, 14.0, np.inf]) == pytest.approx((12.0 - half, 12.0 + half), rel=1e-6)
    assert all(math.isnan(v) for v in mean_ci([3.0])) and all(math.isnan(v) for v in mean_ci([]))
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


@pytest.mark.parametrize("n", [2, 3])
def test_mean_ci_holds_the_mean_at_its_stated_rate(n):
    # Normal scores: the interval should hold the true mean 95% of the time at any n (4,000 rows: binomial
    # standard error 0.0034); the percentile bootstrap the leaderboard used before held it about 50% (n = 2)
    # and 75% (n = 3) of the time (reports/seed-ci-coverage.md).
    rows = np.random.default_rng(n).normal(3.0, 0.5, size=(4000, n))
    held = np.mean([lo <= 3.0 <= hi for lo, hi in map(mean_ci, rows)])
    assert abs(held - 0.95) < 0.015


def test_mean_ci_is_cut_to_the_metrics_range():
    # two seeds of a fraction: 0.5 -+ 12.706205 * 0.1 reaches below 0 and above 1
    assert mean_ci([0.4, 0.6], bounds=METRICS["precision"].bounds) == (0.0, 1.0)
    low, high = mean_ci([2.0, 4.0], bounds=METRICS["fd"].bounds)  # FD >= 0, open above
    assert low == 0.0 and high == pytest.approx(3.0 + 12.706205, rel=1e-7)
    assert mean_ci([-0.01, 0.03], bounds=METRICS["kid"].bounds)[0] < 0  # KID's unbiased estimate may be negative
    assert METRICS["is"].bounds == (1.0, None) and METRICS["ct"].bounds == (None, None)

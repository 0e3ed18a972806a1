"""Welch's test from summary statistics (what rank ranges use) against scipy's test on the values themselves."""

import math

import numpy as np
import pytest
from scipy import stats

from ganbench.results.ranking import range_cell, welch_p


@pytest.mark.parametrize("a, b", [([10.0, 11.0, 12.0], [10.5, 12.5, 14.0]), ([0.61, 0.55, 0.67], [0.30, 0.71]),
                                  ([5.0, 5.1], [7.0, 9.0, 8.5, 7.7])])  # fmt: skip
def test_welch_p_from_mean_std_n_is_scipys_on_the_values(a, b):
    summary = [(float(np.mean(x)), float(np.std(x, ddof=1)), len(x)) for x in (a, b)]
    assert welch_p(*summary) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)


def test_welch_p_edge_cases_and_the_cell():
    assert math.isnan(welch_p((1.0, math.nan, 1), (2.0, 0.5, 3)))  # one seed: no test
    assert welch_p((1.0, 0.0, 3), (2.0, 0.0, 3)) == 0.0 and welch_p((1.0, 0.0, 3), (1.0, 0.0, 3)) == 1.0
    assert [range_cell(1, 5), range_cell(3, 3), range_cell(math.nan, math.nan)] == ["1-5", "3", ""]

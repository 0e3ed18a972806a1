"""scripts/seed_ci_coverage.py: the leaderboard's interval against statsmodels' t-interval of the mean, the
simulated coverage of the old and new intervals, and ``--republish`` of a published leaderboard CSV."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from ganbench.results.ranking import mean_ci
from scripts.seed_ci_coverage import coverage, main, republish

SCORES = {"gan": [6.61, 5.47, 6.37], "vae": [25.2, 26.9, 26.1]}  # a metric's values over 3 seeds


@pytest.mark.parametrize("vals", [[6.61, 5.47, 6.37], [0.3, 0.71], [1.0, 1.5, 0.7, 2.2, 1.1]])
def test_mean_ci_is_statsmodels_t_interval(vals):
    assert mean_ci(vals) == pytest.approx(DescrStatsW(np.array(vals)).tconfint_mean(alpha=0.05), rel=1e-12)


def test_simulated_coverage_of_the_old_and_new_intervals():
    rows = {(r["distribution"], r["n"]): r for r in coverage(reps=600, seed=3)}
    # 600 rows: binomial standard error 0.009 at 0.95, 0.02 at 0.5
    assert abs(rows["normal", 2]["bootstrap"] - 0.5) < 0.08  # the two values hold the mean half the time
    for n in (2, 3, 5, 10):
        assert abs(rows["normal", n]["t"] - 0.95) < 0.035
        assert rows["normal", n]["bootstrap"] < rows["normal", n]["t"]


def _csv(path, ci):
    """A leaderboard CSV as the report writes it: fd over SCORES' seeds, a blank-able integer column."""
    rows = []
    for model, vals in SCORES.items():
        v = np.array(vals)
        rows.append({"dataset": "digits", "model": model, "n_seeds": len(v), "fd_mean": v.mean(),
                     "fd_std": v.std(ddof=1), "fd_ci95_low": ci(v)[0], "fd_ci95_high": ci(v)[1], "last_n": 5})
    rows.append({"dataset": "digits", "model": "real-data", "n_seeds": 1, "fd_mean": 1.2})  # no seeds: kept
    pd.DataFrame(rows).to_csv(path, index=False)


def test_republish_rewrites_only_the_intervals(tmp_path):
    path = tmp_path / "leaderboard.csv"
    _csv(path, lambda v: (v.min(), v.max()))  # any old interval
    before = path.read_text()
    assert main(["--republish", str(path)]) == 0
    after = pd.read_csv(path)
    for model, vals in SCORES.items():
        row = after[after.model == model].iloc[0]
        expected = DescrStatsW(np.array(vals)).tconfint_mean(alpha=0.05)
        assert (row.fd_ci95_low, row.fd_ci95_high) == pytest.approx(expected, rel=1e-12)
    old_lines, new_lines = before.splitlines(), path.read_text().splitlines()
    for old, new in zip(old_lines, new_lines):  # every other cell byte for byte as it was written
        o, n = old.split(","), new.split(",")
        assert o[:5] + o[7:] == n[:5] + n[7:]
    assert old_lines[-1] == new_lines[-1]  # the real-data row
    assert republish(path) == 0  # a second pass changes nothing


def test_republish_refuses_an_interval_of_fewer_values_than_the_seeds(tmp_path):
    path = tmp_path / "leaderboard.csv"
    _csv(path, lambda v: (v.min(), v.max()))
    board = pd.read_csv(path)  # gan's fd as if one of its 3 seeds had no finite value: stats of 2 values
    a, b = SCORES["gan"][:2]
    board.loc[0, ["fd_mean", "fd_std", "fd_ci95_low", "fd_ci95_high"]] = [(a + b) / 2, abs(a - b) / math.sqrt(2),
                                                                            min(a, b), max(a, b)]  # fmt: skip
    board.to_csv(path, index=False)
    with pytest.raises(SystemExit, match="not of its 3 seeds"):
        republish(path)


def test_published_standard_suite_intervals_are_t_intervals_of_its_means():
    board = pd.read_csv("reports/standard-suite/leaderboard.csv")
    checked = 0
    for _, row in board[board.n_seeds >= 2].iterrows():
        for m in ("fd", "hq_coverage", "precision", "mode_kl"):
            mean, sd, n = row[f"{m}_mean"], row[f"{m}_std"], int(row.n_seeds)
            if math.isfinite(mean) and sd > 0:
                half = {3: 4.302653}[n] * sd / math.sqrt(n)  # t(0.975, 2), Student's t table
                low, high = {"fd": (0, None), "hq_coverage": (0, 1), "precision": (0, 1), "mode_kl": (0, None)}[m]
                expected = (max(low, mean - half), mean + half if high is None else min(high, mean + half))
                assert (row[f"{m}_ci95_low"], row[f"{m}_ci95_high"]) == pytest.approx(expected, rel=1e-6)
                checked += 1
    assert checked > 50

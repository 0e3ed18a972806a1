"""scripts/budget_seeds.py: the committed budget verdicts follow from the committed curves, and each seed's
gain, the paired t-test and the t-interval are the published definitions (checked on curves whose levels
are known, against scipy.stats.ttest_1samp and the interval worked by hand)."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from scripts.budget_seeds import (
    CURVES,
    OUT,
    SEEDS,
    VERDICTS,
    check_verdicts,
    paired_test,
    read_curves,
    report,
    seed_counts,
    seed_gains,
)


def _flat(level_at_budget, level_after, budget=100):
    """A seed's curve: constant until the budget, then at another level to 1.5x it (evaluations every 10)."""
    steps = np.arange(10, int(1.5 * budget) + 1, 10)
    return steps, np.where(steps <= budget, level_at_budget, level_after).astype(float)


def test_committed_report_is_the_committed_datas():
    # the script stops when a committed verdict does not follow from the committed curves
    assert OUT.read_text() == report(CURVES, VERDICTS)
    # and the leaderboard's seed counts (baselines/budget-seeds.csv) are the report's
    assert SEEDS.read_text() == seed_counts(CURVES, VERDICTS)
    counts = pd.read_csv(SEEDS)
    text = OUT.read_text()
    for r in counts.itertuples():
        row = next(line for line in text.splitlines() if line.startswith(f"| {r.dataset} | {r.model} | {r.budget} |"))
        assert f"| {r.improving}/{r.seeds} | {r.beyond_tolerance}/{r.seeds} |" in row


def test_a_verdict_the_curves_do_not_give_is_caught(tmp_path):
    verdicts = pd.read_csv(VERDICTS, dtype={"baseline": str})
    i = verdicts.index[verdicts.longer_pays == "yes"][0]
    verdicts.loc[i, ["longer_pays", "justified"]] = ["no", "yes"]
    bad = check_verdicts(read_curves(CURVES), verdicts)
    assert len(bad) == 1 and bad[0].startswith(f"{verdicts.dataset[i]}/{verdicts.model[i]}: curves give")
    path = tmp_path / "verdicts.csv"
    verdicts.to_csv(path, index=False)
    with pytest.raises(SystemExit, match="do not follow from the curves"):
        report(CURVES, path)


def test_seed_gains_and_the_paired_test_on_known_levels():
    # fd (lower is better) on digits: seeds from 4.0, 5.0, 8.0 at the budget to 3.6, 4.0, 7.6 after
    curves = {0: _flat(4.0, 3.6), 1: _flat(5.0, 4.0), 2: _flat(8.0, 7.6)}
    g = seed_gains("digits", curves, 100)
    np.testing.assert_allclose(g["at_budget"], [4.0, 5.0, 8.0])
    np.testing.assert_allclose(g["gain"], [0.4, 1.0, 0.4])
    np.testing.assert_allclose(g["rel"], [0.1, 0.2, 0.05])
    np.testing.assert_allclose(g["tol"], [0.4, 0.5, 0.8])  # max(10% of the value at the budget, 0.02)
    p, lo, hi = paired_test(g["at_budget"], g["at_end"], g["rel"])
    assert p == pytest.approx(scipy.stats.ttest_1samp([-0.4, -1.0, -0.4], 0).pvalue)
    half = 4.302652729911275 * np.std([0.1, 0.2, 0.05], ddof=1) / math.sqrt(3)  # t(0.975, 2 df)
    assert (lo, hi) == pytest.approx((0.35 / 3 - half, 0.35 / 3 + half))
    # hq_coverage (higher is better): a fall is a negative gain
    g = seed_gains("ring8", {0: _flat(0.5, 0.4), 1: _flat(0.6, 0.3)}, 100)
    np.testing.assert_allclose(g["gain"], [-0.1, -0.3])
    # equal differences on every seed: no test to make
    g = seed_gains("ring8", {0: _flat(0.5, 0.6), 1: _flat(0.7, 0.8)}, 100)
    assert all(math.isnan(x) for x in paired_test(g["at_budget"], g["at_end"], g["rel"]))

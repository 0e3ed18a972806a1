"""scripts/cross_machine.py: a rerun's leaderboard beside the published one, checked against scipy and numpy on
the seeds' raw values."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from scripts.cross_machine import cohens_d, compare, render

SEEDS = {  # (dataset, model) -> published seeds' fd, rerun seeds' fd
    ("digits", "gan"): ([6.1, 6.8, 5.5], [5.7, 6.1]),
    ("digits", "vae"): ([26.0, 31.0, 23.5], [28.2, 30.4]),
    ("digits", "ae"): ([33.0, 32.1, 32.9], [40.0, 40.5]),
}


def _board(side: int, fingerprint: str) -> pd.DataFrame:
    rows = []
    for (dataset, model), values in SEEDS.items():
        v = np.array(values[side])
        rows.append({"dataset": dataset, "model": model, "n_seeds": len(v), "primary_metric": "fd",
                     "fingerprint": fingerprint, "fd_mean": v.mean(), "fd_std": v.std(ddof=1),
                     "modes_covered_mean": 10.0, "modes_covered_std": 0.0, "hq_coverage_mean": np.nan,
                     "hq_coverage_std": np.nan})  # fmt: skip
    rows.append({"dataset": "digits", "model": "real-data", "n_seeds": 1, "primary_metric": "fd",
                 "fingerprint": fingerprint, "fd_mean": 1.2, "fd_std": np.nan})  # fmt: skip
    board = pd.DataFrame(rows)
    ranked = board["model"] != "real-data"
    board.loc[ranked, "rank"] = board.loc[ranked, "fd_mean"].rank()
    board["rank_best"], board["rank_worst"] = board["rank"], board["rank"]
    return board


def test_cohens_d_is_the_mean_difference_over_the_pooled_sd():
    a, b = np.array([6.1, 6.8, 5.5]), np.array([5.7, 6.1])
    pooled = math.sqrt((2 * a.var(ddof=1) + 1 * b.var(ddof=1)) / 3)
    d = cohens_d((a.mean(), a.std(ddof=1), 3), (b.mean(), b.std(ddof=1), 2))
    assert d == pytest.approx((b.mean() - a.mean()) / pooled, rel=1e-12)
    assert math.isnan(cohens_d((1.0, 0.0, 3), (1.0, 0.0, 3))) and math.isnan(cohens_d((1.0, 0.1, 1), (1.0, 0.1, 3)))


def test_compare_gives_welchs_test_on_the_seeds_and_leaves_out_real_data_and_absent_metrics():
    table = compare(_board(0, "aaa"), _board(1, "bbb"), ["fd", "modes_covered", "hq_coverage"])
    assert set(table["model"]) == {"gan", "vae", "ae"}  # no real-data row
    assert set(table["metric"]) == {"fd", "modes_covered"}  # hq_coverage is NaN on both sides
    for (dataset, model), (pub, new) in SEEDS.items():
        r = table[(table["model"] == model) & (table["metric"] == "fd")].iloc[0]
        assert r["p"] == pytest.approx(stats.ttest_ind(new, pub, equal_var=False).pvalue, rel=1e-9)
        assert np.sign(r["d"]) == np.sign(np.mean(new) - np.mean(pub))
    modes = table[table["metric"] == "modes_covered"]
    assert (modes["p"] == 1.0).all() and modes["d"].isna().all()  # equal, no spread


def test_render_names_the_protocols_ranks_and_what_differs():
    table = compare(_board(0, "aaa"), _board(1, "bbb"), ["fd", "modes_covered"])
    env = {"device": {"name": "AMD EPYC", "capability": "AVX2"}, "git_commit": "abcdef0123"}
    text = render(table, env, "reports/standard-suite/leaderboard.csv", "runs/x", "2026-12-02")
    assert "on AMD EPYC, AVX2 kernels, ganbench commit abcdef0" in text
    assert "published `aaa`, rerun `bbb` (they differ" in text
    assert "| gan | 3 / 2 | 1 (1) | 1 (1) | 6.133 ± 0.65 | 5.9 ± 0.28 |" in text
    assert "Kendall's tau between the two orders: 1.00." in text
    # only the autoencoder differs (40.25 against 32.67, tight seeds); 6 pairs in all
    ae_p = stats.ttest_ind([40.0, 40.5], [33.0, 32.1, 32.9], equal_var=False).pvalue
    assert ae_p < 0.05
    assert "6 (row, metric) pairs; Welch's p < 0.05 for 1 of them (digits ae fd)" in text
    same = render(compare(_board(0, "aaa"), _board(1, "aaa"), ["fd"]), env, "x.csv", "runs/x", "2026-12-02")
    assert "published `aaa`, rerun `aaa` (the same protocol)." in same

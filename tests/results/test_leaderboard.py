"""The leaderboard's aggregation checked against numbers computed here by hand from the scores."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from ganbench.runs import files
from ganbench.results.leaderboard import bootstrap_ci, format_leaderboard, leaderboard


def _run(root, dataset, model, seed, status="complete", metrics=None, fp="fpA", wall=1.0):
    d = root / dataset / model / f"seed-{seed}"
    files.atomic_write_json(d / "config.json", {"dataset": dataset, "model": model, "name": model, "seed": seed})
    files.atomic_write_json(d / "result.json", {"status": status, "wall_time_s": wall, "steps": 10})
    if metrics is not None:
        files.atomic_write_json(d / "scores.json", {fp: {"metrics": metrics, "fingerprint": {"id": fp}}})


def _ref(root, dataset, metrics, fp="fpA"):
    files.atomic_write_json(root / dataset / "_reference" / "scores.json",
                          {fp: {"metrics": metrics, "fingerprint": {"id": fp, "protocol": {"dataset": dataset}}}})


@pytest.fixture
def runs(tmp_path):
    fds = {"gan": [10.0, 12.0, 14.0], "vae": [20.0, 22.0, 30.0]}
    for model, vals in fds.items():
        for seed, v in enumerate(vals):
            _run(tmp_path, "digits", model, seed, metrics={"fd": v, "is": 5.0 + seed, "mode_histogram": [1, 2]})
    _run(tmp_path, "digits", "vae", 3, status="diverged")
    _run(tmp_path, "digits", "lsgan", 0, status="failed")
    _ref(tmp_path, "digits", {"fd": 0.5, "is": 9.9})
    # a score under another protocol must not be averaged in with fpA
    _run(tmp_path, "digits", "wgan-gp", 0, metrics={"fd": 1.0}, fp="fpB")
    return tmp_path, fds


def test_seed_statistics_ranks_and_counts(runs):
    root, fds = runs
    board = leaderboard(root)
    gan = board[(board.model == "gan")].iloc[0]
    assert gan.n_seeds == 3 and gan.fd_mean == pytest.approx(12.0) and gan.fd_std == pytest.approx(2.0)
    vae = board[(board.model == "vae")].iloc[0]
    assert vae.n_seeds == 3 and vae.n_diverged == 1 and vae.fd_mean == pytest.approx(24.0)
    assert gan["rank"] == 1 and vae["rank"] == 2  # lower FD is better
    lsgan = board[board.model == "lsgan"].iloc[0]
    assert lsgan.n_failed == 1 and lsgan.n_seeds == 0 and math.isnan(lsgan["rank"])
    ref = board[board.model == "real-data"].iloc[0]
    assert ref.fd_mean == 0.5 and math.isnan(ref["rank"])
    wg = board[board.model == "wgan-gp"].iloc[0]
    assert wg.fingerprint == "fpB" and wg["rank"] == 1  # ranked alone, not against fpA rows
    for col in ("dataset", "model", "n_seeds", "fd_mean", "fd_std", "fd_ci95_low", "fd_ci95_high"):
        assert col in board.columns


def _exact_percentile_ci(values, confidence):
    """The percentile interval of the exact bootstrap distribution of the mean, by enumerating every
    one of the n**n equally likely resamples: the smallest mean whose CDF reaches each tail level."""
    means = np.sort([np.mean(r) for r in itertools.product(values, repeat=len(values))])
    cdf = np.arange(1, len(means) + 1) / len(means)
    tail = (1 - confidence) / 2
    return means[np.argmax(cdf >= tail)], means[np.argmax(cdf >= 1 - tail)]


def test_bootstrap_ci_is_the_percentile_interval_of_the_resampled_means():
    # [0, 0, 0, 1]: the mean of a resample is (number of 1s drawn) / 4, Binomial(4, 1/4) / 4, so
    # P(0) = 81/256, P(.25) = 108/256, P(.5) = 54/256, P(.75) = 12/256, P(1) = 1/256. The 95% interval
    # is (0, 0.75): the top 2.5% tail ends inside the 0.75 atom, not at the maximum 1. The 80% interval
    # is (0, 0.5). Every tail level is several Monte Carlo standard errors (2000 resamples) from an atom's
    # edge, so the sampled interval equals the exact one whatever the seed.
    vals = np.array([0.0, 0.0, 0.0, 1.0])
    assert _exact_percentile_ci(vals, 0.95) == (0.0, 0.75)
    assert _exact_percentile_ci(vals, 0.8) == (0.0, 0.5)
    for seed in (0, 1, 7):
        assert bootstrap_ci(vals, seed=seed) == (0.0, 0.75)
        assert bootstrap_ci(vals, confidence=0.8, seed=seed) == (0.0, 0.5)
    # Two values: resampled means a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4, so (a, b) at 95%.
    for seed in (0, 7):
        assert bootstrap_ci(np.array([3.0, 5.0]), seed=seed) == (3.0, 5.0)
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([3.0])))
    assert bootstrap_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    assert bootstrap_ci(np.array([3.0, np.nan, 5.0])) == (3.0, 5.0)  # non-finite values are left out


def test_formats(runs):
    root, _ = runs
    board = leaderboard(root)
    csv = format_leaderboard(board, "csv")
    back = pd.read_csv(__import__("io").StringIO(csv))
    assert list(back.columns[:3]) == ["dataset", "model", "n_seeds"] and len(back) == len(board)
    md = format_leaderboard(board, "md")
    assert "12 ± 2" in md and "fd ↓" in md
    assert "\\pm" in format_leaderboard(board, "latex")
    assert "<table" in format_leaderboard(board, "html")

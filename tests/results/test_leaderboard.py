"""The leaderboard's aggregation checked against numbers computed here by hand from the scores."""

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


def test_bootstrap_ci_matches_scipy_percentile_definition():
    vals = np.array([10.0, 12.0, 14.0, 11.0])
    lo, hi = bootstrap_ci(vals, seed=0)
    rng = np.random.default_rng(0)
    from scipy.stats import bootstrap

    ref = bootstrap((vals,), np.mean, n_resamples=2000, method="percentile", random_state=rng).confidence_interval
    assert (lo, hi) == (ref.low, ref.high)
    assert vals.min() <= lo <= vals.mean() <= hi <= vals.max()
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([3.0])))
    # Exact reference: resampled means of two values are a, (a+b)/2, b with probabilities 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% percentiles are a and b whatever the seed.
    for seed in (0, 7):
        assert bootstrap_ci(np.array([3.0, 5.0]), seed=seed) == (3.0, 5.0)


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

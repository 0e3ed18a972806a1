"""fd_heldout / fd_gap on a copycat and a generalising sampler, and fd_inf against Chong and Forsyth's
procedure re-implemented with scipy/sklearn and on Gaussians whose limit is known."""

import numpy as np
import pytest
import scipy.linalg
from sklearn.linear_model import LinearRegression

from ganbench.metrics import fd_generalisation, fd_infinity, frechet_distance
from ganbench.metrics.generalisation import fd_inf_counts


def test_fd_gap_shows_a_copycat_and_not_a_generalising_sampler():
    rng = np.random.default_rng(0)
    cov = np.diag(np.linspace(0.5, 2.0, 8))

    def draw(n):
        return rng.multivariate_normal(np.zeros(8), cov, size=n)

    copy_ratio, gen_ratio = [], []
    for _ in range(8):
        train, held = draw(4000), draw(2000)
        copycat = fd_generalisation(train[rng.permutation(4000)], train, held)  # reproduces its training set
        fresh = fd_generalisation(draw(4000), train, held)  # new samples from the same distribution
        copy_ratio.append(copycat["fd_gap"] / copycat["fd_heldout"])
        gen_ratio.append(fresh["fd_gap"] / fresh["fd_heldout"])
    assert copycat["fd_heldout"] == pytest.approx(frechet_distance(held, train))
    chunks = [frechet_distance(train[:2000], train), frechet_distance(train[2000:], train)]
    assert copycat["fd_train_matched"] == pytest.approx(np.mean(chunks))
    assert copycat["fd_gap"] == pytest.approx(copycat["fd_heldout"] - copycat["fd_train_matched"])
    assert np.mean(copy_ratio) > 0.4 and abs(np.mean(gen_ratio)) < 0.15


def test_fd_inf_counts_are_theirs():
    np.testing.assert_array_equal(fd_inf_counts(50000), np.linspace(5000, 50000, 15).astype("int32"))
    assert fd_inf_counts(360)[0] == 36 and fd_inf_counts(360)[-1] == 360


def _fd_sqrtm(mu1, s1, mu2, s2):
    """pytorch-fid's / FID_IS_infinity's numpy_calculate_frechet_distance (scipy sqrtm)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fd_inf_matches_their_procedure():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((3000, 6))
    gen = 1.1 * rng.standard_normal((2000, 6)) + 0.2
    mu_r, cov_r = real.mean(0), np.cov(real, rowvar=False)
    # calculate_FID_infinity: FD at each count on a shuffled head, LinearRegression on 1/N, predict at 0
    counts = np.linspace(2000 // 10, 2000, 15).astype("int32")
    perm_rng = np.random.default_rng(5)
    fids = []
    for n in counts:
        act = gen[perm_rng.permutation(len(gen))[:n]]
        fids.append(_fd_sqrtm(act.mean(0), np.cov(act, rowvar=False), mu_r, cov_r))
    reg = LinearRegression().fit(1 / counts.reshape(-1, 1), np.array(fids).reshape(-1, 1))
    got = fd_infinity(mu_r, cov_r, gen, seed=5)
    assert got["fd_inf"] == pytest.approx(reg.predict(np.array([[0]]))[0, 0], rel=1e-8)
    assert got["fd_inf_slope"] == pytest.approx(reg.coef_[0, 0], rel=1e-8)


def test_fd_inf_removes_the_sample_size_bias_on_gaussians():
    # real statistics exact: N(0, I); generated N(mu, I), so FD -> ||mu||^2 as n -> infinity
    d, n = 16, 5000
    mu = np.full(d, 0.05)
    truth = float(mu @ mu)
    errors_inf, errors_n = [], []
    for seed in range(8):
        gen = np.random.default_rng(seed).standard_normal((n, d)) + mu
        errors_inf.append(fd_infinity(np.zeros(d), np.eye(d), gen, seed=seed)["fd_inf"] - truth)
        errors_n.append(_fd_sqrtm(gen.mean(0), np.cov(gen, rowvar=False), np.zeros(d), np.eye(d)) - truth)
    assert min(errors_n) > 0.005  # FD at n = 5,000 is biased upwards, every time
    # fd_inf is unbiased (its errors average out) though noisier than one FD: the extrapolation amplifies noise
    assert abs(np.mean(errors_inf)) < np.mean(errors_n) / 4

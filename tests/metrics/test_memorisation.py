"""authenticity, C_T and nn_ratio against independent re-implementations of their published definitions
(sklearn/scipy), and their verdicts on a copycat and on held-out real data (digits and ring8)."""

import json

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import at_most, score, score_reference
from ganbench.metrics import authenticity, ct_statistic, nn_ratio
from ganbench.metrics.memorisation import ct_cells, mann_whitney_z, nearest_neighbours


@pytest.mark.parametrize("dim", [2, 20])
def test_nearest_neighbours_match_brute_force(dim):
    rng = np.random.default_rng(0)
    q, r = rng.standard_normal((300, dim)), rng.standard_normal((700, dim))
    d = scipy.spatial.distance.cdist(q, r)
    dist, idx = nearest_neighbours(q, r)
    np.testing.assert_array_equal(idx, d.argmin(axis=1))
    np.testing.assert_allclose(dist, d.min(axis=1), rtol=1e-12, atol=1e-12)


def _authenticity_reference(gen, train):
    """The paper's per-sample test written with sklearn: g is authentic when its nearest training sample t*
    is closer to its own nearest other training sample than to g (the authors' strict comparison)."""
    nn_train = NearestNeighbors(n_neighbors=2).fit(train)
    radius = nn_train.kneighbors(train)[0][:, 1]
    d, j = NearestNeighbors(n_neighbors=1).fit(train).kneighbors(gen)
    return float(np.mean(radius[j[:, 0]] < d[:, 0]))


@pytest.mark.parametrize("dim", [2, 16])
def test_authenticity_matches_the_published_definition(dim):
    rng = np.random.default_rng(1)
    train = rng.standard_normal((400, dim))
    gen = np.concatenate([train[:50] + 1e-3, rng.standard_normal((150, dim))])  # 50 near-copies
    got = authenticity(gen, train)
    assert got == pytest.approx(_authenticity_reference(gen, train), abs=1e-12)
    assert 0.2 < got <= 150 / 200  # the 50 near-copies are never authentic


def test_authenticity_by_hand():
    train = np.array([[0.0], [1.0], [3.0]])  # radii: 1, 1, 2
    gen = np.array([[0.5], [0.2], [4.5], [3.0]])  # nearest 0 (0.5 < 1), 0 (0.2 < 1), 3 (1.5 < 2), 3 (0: a copy)
    assert authenticity(gen, train) == 0.0
    assert authenticity(np.array([[-1.5], [6.0]]), train) == 1.0  # 1.5 > 1 and 3 > 2


def test_mann_whitney_z_is_meehans_z_of_scipys_u():
    rng = np.random.default_rng(2)
    x, y = rng.exponential(size=40), rng.exponential(size=55)
    x[:5] = y[:5]  # ties count one half
    u = scipy.stats.mannwhitneyu(x, y, alternative="less").statistic
    m, n = len(x), len(y)
    assert mann_whitney_z(x, y) == pytest.approx((u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12))


def _ct_reference(Pn, Qm, T, k, seed):
    """C_T as casey-meehan/data-copying computes it (Zu, Zu_cells, C_T with tau = 20 / m), re-written here
    with sklearn's NearestNeighbors and scipy's mannwhitneyu, skipping cells without test samples."""
    km = KMeans(n_clusters=k, random_state=seed, n_init=1).fit(T)
    Pn_cells, Qm_cells, T_cells = km.predict(Pn), km.predict(Qm), km.labels_
    n, m = len(Pn), len(Qm)
    zs, weights = [], []
    for i in range(k):
        P, Q, Ti = Pn[Pn_cells == i], Qm[Qm_cells == i], T[T_cells == i]
        if len(P) == 0 or len(Q) / m <= 20 / m:
            continue
        nn = NearestNeighbors(n_neighbors=1).fit(Ti)
        LQ, LP = nn.kneighbors(Q)[0][:, 0], nn.kneighbors(P)[0][:, 0]
        u = scipy.stats.mannwhitneyu(LQ, LP, alternative="less").statistic
        ni, mi = len(P), len(Q)
        zs.append((u - (ni * mi / 2 - 0.5)) / np.sqrt(ni * mi * (ni + mi + 1) / 12))
        weights.append(len(P) / n)
    w = np.array(weights)
    return float(w @ np.array(zs) / w.sum())


@pytest.mark.parametrize("k", [1, 5])
def test_ct_matches_the_reference_procedure(k):
    rng = np.random.default_rng(3)
    T, Pn = rng.standard_normal((1500, 3)), rng.standard_normal((600, 3))
    Qm = np.concatenate([T[:200] + 0.01 * rng.standard_normal((200, 3)), 1.2 * rng.standard_normal((400, 3))])
    got = ct_statistic(Qm, T, Pn, cells=k, seed=7)
    assert got == pytest.approx(_ct_reference(Pn, Qm, T, k, seed=7), rel=1e-10)


def test_ct_cell_count_and_too_few_samples():
    assert (ct_cells(360, 360), ct_cells(10000, 10000), ct_cells(10000, 2500), ct_cells(10000, 50)) == (3, 50, 25, 1)
    rng = np.random.default_rng(4)
    # no cell with more than 20 generated samples: undefined, as in the reference (0 / 0)
    assert np.isnan(ct_statistic(rng.standard_normal((15, 2)), rng.standard_normal((100, 2)),
                                 rng.standard_normal((50, 2))))  # fmt: skip
    with pytest.raises(UserError, match="cells"):
        ct_statistic(rng.standard_normal((30, 2)), rng.standard_normal((100, 2)), rng.standard_normal((50, 2)),
                     cells=101)  # fmt: skip


def test_nn_ratio_is_the_ratio_of_median_distances():
    rng = np.random.default_rng(5)
    T, H, G = rng.standard_normal((500, 4)), rng.standard_normal((101, 4)), 2 * rng.standard_normal((99, 4))
    d = scipy.spatial.distance.cdist
    assert nn_ratio(G, T, H) == pytest.approx(np.median(d(G, T).min(1)) / np.median(d(H, T).min(1)), rel=1e-12)


# -- verdicts on a copycat and on held-out real data ---------------------------------------------


def _pixels(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).double().numpy()


def test_copycat_is_flagged_and_heldout_digits_are_not_on_raw_pixels():
    d = load_dataset("digits")
    train, test = _pixels(d.train_float()), _pixels(d.test_float())
    held, fresh = test[:180], test[180:]  # fresh: real digits the "model" never saw, like a generalising one
    copies = train[np.random.default_rng(0).choice(len(train), 180, replace=False)]
    assert authenticity(copies, train) == 0.0 and authenticity(fresh, train) > 0.4
    assert ct_statistic(copies, train, held) < -10 and abs(ct_statistic(fresh, train, held)) < 2
    assert nn_ratio(copies, train, held) == 0.0 and 0.85 < nn_ratio(fresh, train, held) < 1.15


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    p = default_protocol(d)
    return d, p, ProtocolExtractor(d, p)


def test_copycat_is_flagged_and_heldout_digits_are_not_on_classifier_features(digits):
    d, p, ext = digits
    half = len(d.test) // 2
    ph = default_protocol(d, n=half)
    copies = d.as_float(d.train[torch.randperm(len(d.train), generator=torch.Generator().manual_seed(0))[:half]])
    copy = score(copies, d, ph, ext, heldout=d.test_float()[half:])["metrics"]
    fresh = score(d.test_float()[:half], d, ph, ext, heldout=d.test_float()[half:])["metrics"]
    assert copy["authenticity"] == 0.0 and copy["ct"] < -10 and copy["nn_ratio"] == 0.0
    assert fresh["authenticity"] > 0.4 and abs(fresh["ct"]) < 2 and 0.85 < fresh["nn_ratio"] < 1.15
    # the reference row's samples are the held-out split itself: only authenticity is reported for it
    ref = score_reference(d, p, ext)["metrics"]
    assert ref["authenticity"] > 0.4 and not {"ct", "nn_ratio", "fd_heldout", "fd_gap"} & ref.keys()


def test_copycat_is_flagged_and_fresh_points_are_not_on_ring8():
    d = load_dataset("ring8")
    p = default_protocol(d)
    g = torch.Generator().manual_seed(0)
    copy = score(d.train[torch.randint(0, len(d.train), (p.n_fake,), generator=g)], d, p)["metrics"]
    centers = torch.as_tensor(d.centers, dtype=torch.float32)
    fresh = centers[torch.randint(0, 8, (p.n_fake,), generator=g)] + d.sd * torch.randn(p.n_fake, 2, generator=g)
    good = score(fresh, d, p)["metrics"]
    assert copy["authenticity"] == 0.0 and copy["ct"] < -5 and copy["nn_ratio"] == 0.0
    assert good["authenticity"] > 0.3 and abs(good["ct"]) < 2 and 0.9 < good["nn_ratio"] < 1.1


def test_eval_json_flags_a_samples_file_of_training_images(capsys, tmp_path):
    d = load_dataset("digits")
    np.save(tmp_path / "copies.npy", ((d.train_float()[:360].numpy() + 1) / 2).astype(np.float32))
    code = main(["eval", "--samples", str(tmp_path / "copies.npy"), "--dataset", "digits", "--json",
                 "--metrics", "fd,authenticity,ct,nn_ratio"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    m = json.loads(out)["metrics"]
    assert set(m) == {"fd", "authenticity", "ct", "nn_ratio"}
    assert m["authenticity"] == 0.0 and m["ct"] < -10 and m["nn_ratio"] < 1e-3  # float32 round trip: ~1e-6


def test_at_most_draws_distinct_rows_by_seed():
    x = np.arange(50.0)[:, None]
    assert at_most(x, 60, 0) is x
    sub = at_most(x, 20, 3)
    assert len(np.unique(sub)) == 20 and np.array_equal(sub, at_most(x, 20, 3)) and not np.array_equal(sub, x[:20])

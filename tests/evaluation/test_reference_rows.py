"""Real-data rows hold exactly the sample counts their fingerprint states, on every embedded dataset.

Each row is made as the suite makes it (``reference_scores``). Its recorded ``sample_counts`` are checked
against the fingerprint's protocol, and its numbers against a computation from scratch here: numpy and
scipy on the rule's samples (test split in an order drawn with seed eval_seed + 1; for mode counts beyond
the test split, train samples in an order drawn with seed eval_seed + 2), with the extractor's features.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from sklearn.neighbors import NearestNeighbors

from ganbench.data import load_dataset
from ganbench.data.base import Dataset
from ganbench.evaluation.evaluate import reference_scores
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import comparable, default_protocol, fingerprint
from ganbench.evaluation.scoring import score_reference

EVAL_SEED = 0


def _order(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def _kl_to_uniform(labels: np.ndarray, k: int) -> float:
    p = np.bincount(labels, minlength=k) / len(labels)
    p = p[p > 0]
    return float(np.sum(p * np.log(k * p)))


def _frechet(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + tr(Ca + Cb - 2 (Ca Cb)^1/2); tr (Ca Cb)^1/2 is the sum of the square roots of the
    eigenvalues of Ca Cb, which are real and non-negative (a product of covariance matrices).

    The classifier's features have dead units (rank 92 of 128 on digits' test split), so an FD of about
    1 is the difference of traces of about 400 and of square roots of near-zero eigenvalues: exact
    methods differ by up to 3e-4 here, hence the tolerance of 1e-3 below (another sample count or
    another sample gives differences of order 0.1 and more)."""
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_covmean = np.sqrt(np.clip(scipy.linalg.eigvals(ca @ cb).real, 0, None)).sum()
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * tr_covmean)


def _inside_knn_balls(points: np.ndarray, ref: np.ndarray, k: int = 5) -> np.ndarray:
    """Kynkaanniemi et al.: whether each point lies closer to some ref sample than that sample's k-th
    nearest other ref sample (the open ball, as the prdc package)."""
    radius = NearestNeighbors(n_neighbors=k + 1).fit(ref).kneighbors(ref)[0][:, k]  # the first is itself
    return (scipy.spatial.distance.cdist(points, ref) < radius[None]).any(1)


def _check_counts_against_fingerprint(row: dict, complete: bool = True) -> dict:
    """The counts every metric input held are the fingerprint's; the splits they came from follow the rule.
    ``complete``: the row has every metric of its kind, so every input must be counted."""
    fp = row["fingerprint"]
    p, ds, counts, sources = fp["protocol"], fp["dataset"], row["sample_counts"], row["sample_sources"]
    assert p["real_row_rule"] == "test-then-train"
    # 2D metrics compare with the mixture's centres, never with real samples; PRDC compares equal-sized sets.
    expected = {"fake": p["n_fake"], "modes": p["n_modes"]}
    if ds["kind"] == "image":
        expected.update(real_stats=p["n_real"], real_features=p["n_real"], prdc_real=min(p["n_real"], p["n_fake"]))
    assert {k: counts[k] for k in expected if k in counts} == {k: v for k, v in expected.items() if k in counts}
    assert set(counts) == set(expected) if complete else set(counts) <= set(expected)
    assert sources["fake"] == {"test": counts["fake"]} and counts["fake"] <= ds["n_test"]
    assert sum(sources["modes"].values()) == counts["modes"] <= ds["n_test"] + ds["n_train"]
    assert sources["modes"]["test"] == min(p["n_modes"], ds["n_test"])
    return p


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return {name: reference_scores(name, out, eval_seed=EVAL_SEED, device="cpu")
            for name in ("ring8", "grid25", "digits", "stacked-digits")}  # fmt: skip


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_2d_rows_count_modes_on_the_protocols_points(rows, name):
    row = rows[name]
    p = _check_counts_against_fingerprint(row)
    d = load_dataset(name)
    assert p["n_fake"] == p["n_modes"] == 2500
    assert comparable(row["fingerprint"], fingerprint(default_protocol(d), None, d))  # the models' protocol
    # From scratch: nearest centre, within 3 sd, histogram of the high-quality points.
    x = d.test[_order(len(d.test), EVAL_SEED + 1)][:2500].double().numpy()
    dist = np.linalg.norm(x[:, None, :] - d.centers[None], axis=2)
    hq = dist.min(1) <= 3 * d.sd
    nearest = dist.argmin(1)[hq]
    m = row["metrics"]
    assert m["hq_fraction"] == pytest.approx(hq.mean(), abs=1e-12)
    assert m["modes_covered"] == len(np.unique(nearest))
    assert m["reverse_kl"] == pytest.approx(_kl_to_uniform(nearest, len(d.centers)), abs=1e-9)


def test_digits_row_is_the_test_split_against_the_train_split(rows):
    row = rows["digits"]
    p = _check_counts_against_fingerprint(row)
    d = load_dataset("digits")
    assert (p["n_fake"], p["n_real"], p["n_modes"]) == (len(d.test), len(d.train), len(d.test)) == (360, 1437, 360)
    proto = default_protocol(d)
    ext = ProtocolExtractor(d, proto)
    assert comparable(row["fingerprint"], fingerprint(proto, ext.info(), d))
    # From scratch: the whole of each split, so the order does not matter.
    fake, fake_probs = ext.features_and_probs(d.test)
    real, _ = ext.features_and_probs(d.train)
    m = row["metrics"]
    assert m["fd"] == pytest.approx(_frechet(fake, real), abs=1e-3)
    py = fake_probs.mean(0)
    assert m["is"] == pytest.approx(np.exp(np.mean(np.sum(fake_probs * np.log(fake_probs / py), 1))), rel=1e-6)
    prdc_real = real[_order(len(d.train), EVAL_SEED)[:360]]  # the reference split's first n_fake in its order
    assert m["precision"] == pytest.approx(_inside_knn_balls(fake, prdc_real).mean(), abs=1e-12)
    assert m["recall"] == pytest.approx(_inside_knn_balls(prdc_real, fake).mean(), abs=1e-12)
    assert m["mode_kl"] == pytest.approx(_kl_to_uniform(fake_probs.argmax(1), 10), abs=1e-12)


def test_stacked_row_counts_modes_on_26000_real_samples_and_is_the_floor_at_that_count(rows):
    row = rows["stacked-digits"]
    p = _check_counts_against_fingerprint(row)
    d = load_dataset("stacked-digits")
    assert (len(d.test), len(d.train)) == (5000, 25000)
    assert (p["n_fake"], p["n_real"], p["n_modes"]) == (5000, 10000, 26000)
    assert row["sample_sources"]["modes"] == {"test": 5000, "train": 21000}
    proto = default_protocol(d)
    ext = ProtocolExtractor(d, proto)
    # The models' protocol: the same fingerprint, so the row is their floor and says so.
    assert comparable(row["fingerprint"], fingerprint(proto, ext.info(), d))

    # From scratch: every test image, then 21,000 train images in the rule's order.
    test_order, extra = _order(5000, EVAL_SEED + 1), _order(25000, EVAL_SEED + 2)[:21000]
    test_feats, test_probs = ext.features_and_probs(d.test)
    train_feats, train_probs = ext.features_and_probs(d.train)
    predicted = np.concatenate([test_probs[test_order].argmax(1), train_probs[extra].argmax(1)])
    m = row["metrics"]
    assert m["mode_kl"] == pytest.approx(_kl_to_uniform(predicted, 1000), abs=1e-12)
    assert m["modes_covered"] == len(np.unique(predicted))
    # The true labels of the same 26,000 images agree within the classifier's errors; those of the 5,000
    # test images alone (what the row counted before) give five times the KL: sampling noise, (K - 1) / 2n.
    true = np.concatenate([d.test_labels[test_order].numpy(), d.train_labels[extra].numpy()])
    true_kl, test_only_kl = _kl_to_uniform(true, 1000), _kl_to_uniform(d.test_labels.numpy(), 1000)
    assert abs(m["mode_kl"] - true_kl) < 0.003 and 0.015 < true_kl < 0.025 and 0.09 < test_only_kl < 0.12
    # FD: the n_fake test images against n_real train images (the reference split, ordered by eval_seed).
    assert m["fd"] == pytest.approx(_frechet(test_feats, train_feats[_order(25000, EVAL_SEED)[:10000]]), abs=1e-3)


def test_a_row_whose_splits_are_too_small_states_the_counts_it_used(rows):
    # Stacked-digits cut to 400 test and 600 train images: 1,000 real images in all, under 26,000.
    full = load_dataset("stacked-digits")
    d = Dataset(full.info, full.train[:600], full.test[:400], full.train_labels[:600], full.test_labels[:400],
                extra={**full.extra, "train_channel_labels": full.extra["train_channel_labels"][:600],
                       "test_channel_labels": full.extra["test_channel_labels"][:400]})  # fmt: skip
    wanted = default_protocol(d, metrics=["fd", "modes_covered", "mode_kl"])
    ext = ProtocolExtractor(d, wanted)
    row = score_reference(d, wanted, ext)
    p = _check_counts_against_fingerprint(row, complete=False)
    assert set(row["sample_counts"]) == {"fake", "real_stats", "modes"}  # what FD and the mode metrics use
    assert (p["n_fake"], p["n_real"], p["n_modes"]) == (400, 600, 1000)
    assert row["sample_sources"]["modes"] == {"test": 400, "train": 600}
    assert not comparable(row["fingerprint"], fingerprint(wanted, ext.info(), d))  # not the models' protocol
    assert wanted.n_modes == 26000
    labels = np.concatenate([ext.model.predict(d.test), ext.model.predict(d.train)])
    assert row["metrics"]["mode_kl"] == pytest.approx(_kl_to_uniform(labels, 1000), abs=1e-12)

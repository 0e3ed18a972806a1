"""Real-data rows hold exactly the sample counts their fingerprint states, on every embedded dataset.

Each row is made as the suite makes it (``reference_scores``). Its recorded ``sample_counts`` are checked
against the fingerprint's protocol, and its numbers against a computation from scratch here: numpy and
scipy on the rule's samples (test split in an order drawn with seed eval_seed + 1; for mode counts beyond
the test split, train samples in an order drawn with seed eval_seed + 2), with the extractor's features.
"""

import dataclasses

import numpy as np
import pytest
import scipy.linalg
import scipy.spatial.distance
import torch
from prdc import compute_prdc
from sklearn.neighbors import NearestNeighbors
from torch_fidelity.metric_kid import kid_features_to_metric

from ganbench.caches import clear_caches
from ganbench.data import load_dataset, real
from ganbench.data.base import Dataset
from ganbench.evaluation.evaluate import reference_scores
from ganbench.evaluation.extractors import (
    EXTRACTORS,
    Evaluator,
    ExtractorSpec,
    register_extractor,
)
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import comparable, default_protocol, fingerprint
from ganbench.evaluation.scoring import score_reference
from tests.data.test_real import write_cifar10

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
    # 2D metrics compare with the mixture's centres, never with real samples; PRDC compares equal-sized sets
    # of prdc_n samples each, or of all of the smaller set when prdc_n is None.
    expected = {"fake": p["n_fake"], "modes": p["n_modes"]}
    if ds["kind"] == "image":
        prdc_n = min(p["prdc_n"] or p["n_fake"], p["n_fake"], p["n_real"])
        expected.update(real_stats=p["n_real"], real_features=p["n_real"], prdc_fake=prdc_n, prdc_real=prdc_n)
        # Memorisation (authenticity): at most 10,000 generated samples and 10,000 of the n_real train ones.
        expected.update(memo_fake=min(p["n_fake"], 10_000), memo_train=min(p["n_real"], 10_000))
    else:  # 2D sets: the points against the whole train split
        expected.update(memo_fake=p["n_fake"], memo_train=ds["n_train"])
    # The row's samples are the held-out split, so no metric compares them with held-out samples.
    assert "memo_heldout" not in counts and not {"ct", "nn_ratio", "fd_heldout", "fd_gap"} & set(row["metrics"])
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
    fake, fake_probs = ext.features_and_probs(d.test_float())
    real, _ = ext.features_and_probs(d.train_float())
    m = row["metrics"]
    assert m["fd"] == pytest.approx(_frechet(fake, real), abs=1e-3)
    py = fake_probs.mean(0)
    assert m["is"] == pytest.approx(np.exp(np.mean(np.sum(fake_probs * np.log(fake_probs / py), 1))), rel=1e-6)
    # PRDC: prdc_n is None on small sets, so all 360 test images against 360 of the whole train split (the
    # reference features, in the split's order) drawn without replacement by RandomState(eval_seed).
    assert p["prdc_n"] is None and row["sample_counts"]["prdc_real"] == 360
    prdc_real = real[np.sort(np.random.RandomState(EVAL_SEED).choice(len(d.train), 360, replace=False))]
    assert m["precision"] == pytest.approx(_inside_knn_balls(fake, prdc_real).mean(), abs=1e-12)
    assert m["recall"] == pytest.approx(_inside_knn_balls(prdc_real, fake).mean(), abs=1e-12)
    assert m["mode_kl"] == pytest.approx(_kl_to_uniform(fake_probs.argmax(1), 10), abs=1e-12)
    # Authenticity (Alaa et al.): a test image is authentic when its nearest train image lies closer to
    # that image's nearest other train image than to it; all 1,437 train images (under the 10,000 cap).
    dist, nearest = NearestNeighbors(n_neighbors=1).fit(real).kneighbors(fake)
    own = NearestNeighbors(n_neighbors=2).fit(real).kneighbors(real)[0][:, 1]
    assert m["authenticity"] == pytest.approx((own[nearest[:, 0]] < dist[:, 0]).mean(), abs=1e-12)


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
    test_feats, test_probs = ext.features_and_probs(d.test_float())
    train_feats, train_probs = ext.features_and_probs(d.train_float())
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
                       "test_channel_labels": full.extra["test_channel_labels"][:400]}, levels=full.levels)  # fmt: skip
    wanted = default_protocol(d, metrics=["fd", "modes_covered", "mode_kl"])
    ext = ProtocolExtractor(d, wanted)
    row = score_reference(d, wanted, ext)
    p = _check_counts_against_fingerprint(row, complete=False)
    assert set(row["sample_counts"]) == {"fake", "real_stats", "modes"}  # what FD and the mode metrics use
    assert (p["n_fake"], p["n_real"], p["n_modes"]) == (400, 600, 1000)
    assert row["sample_sources"]["modes"] == {"test": 400, "train": 600}
    assert not comparable(row["fingerprint"], fingerprint(wanted, ext.info(), d))  # not the models' protocol
    assert wanted.n_modes == 26000
    labels = np.concatenate([ext.model.predict(d.test_float()), ext.model.predict(d.train_float())])
    assert row["metrics"]["mode_kl"] == pytest.approx(_kl_to_uniform(labels, 1000), abs=1e-12)


# --- published sets: 50,000 generated samples against a 10,000-image test split ----------------------------


class _Pool(Evaluator):
    """4x4 average pooling of each channel (48 features for CIFAR-10) and a fixed linear map to 10 logits."""

    name, num_classes, feature_dim, weights_sha256 = "pool4-rows", 10, 48, "3" * 64
    preprocessing, in_channels, device = {"pool": "4x4 mean"}, (3,), torch.device("cpu")
    projection = torch.from_numpy(np.random.default_rng(5).normal(size=(48, 10)) / 20)

    def _forward(self, x):
        feats = torch.nn.functional.avg_pool2d(x, 8).flatten(1)
        return feats, (feats.double() @ self.projection).softmax(1)


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """cifar10 in torchvision's format with 500 train and 20 test images, scored by 4x4 pooling; the
    whole-split reference features are cached under tmp_path."""
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    clear_caches()
    register_extractor(ExtractorSpec("pool4-rows", ("image",), False, lambda d, dev, opt: _Pool(), "4x4 pooling"))
    write_cifar10(tmp_path / "data", per_batch=100, n_test=20)
    yield real.load_cifar10(str(tmp_path / "data"), verify_checksums=False)
    EXTRACTORS.unregister("pool4-rows")
    clear_caches()


def _is(probs: np.ndarray, splits: int, seed: int) -> float:
    """Salimans et al.'s score over contiguous splits after torch-fidelity's permutation."""
    p = probs[np.random.RandomState(seed).permutation(len(probs))]
    parts = [p[i * len(p) // splits : (i + 1) * len(p) // splits] for i in range(splits)]
    return float(np.mean([np.exp(np.mean(np.sum(q * np.log(q / q.mean(0)), 1))) for q in parts]))


def test_published_row_is_at_the_test_splits_count_against_the_whole_train_split(cifar):
    d = cifar
    models = default_protocol(d, "pool4-rows")
    assert (models.n_fake, models.n_real, models.prdc_n, models.n_modes) == (50_000, 500, 500, 50_000)
    ext = ProtocolExtractor(d, models)
    row = score_reference(d, models, ext)
    p = _check_counts_against_fingerprint(row)
    # n_fake cut to the 20 test images; what n bounds follows the published rule at 20 (10 IS splits, PRDC and
    # KID subsets of 20); the models' 50,000 mode-count samples cut to both splits' 520 images.
    assert (p["n_fake"], p["n_real"], p["n_modes"]) == (20, 500, 520)
    assert (p["kid_subset_size"], p["prdc_n"], p["is_splits"], p["kid_seed"]) == (20, 20, 10, 2020)
    assert row["sample_sources"]["modes"] == {"test": 20, "train": 500}
    at_20 = dataclasses.replace(default_protocol(d, "pool4-rows", n=20), n_modes=520)  # a model's `--n 20`
    assert comparable(row["fingerprint"], fingerprint(at_20, ext.info(), d))
    assert not comparable(row["fingerprint"], fingerprint(models, ext.info(), d))

    # From scratch: the 20 test images in the rule's order against all 500 train images.
    test_feats, test_probs = ext.features_and_probs(d.test_float())
    train_feats, train_probs = ext.features_and_probs(d.train_float())
    fake, fake_probs = test_feats[_order(20, EVAL_SEED + 1)], test_probs[_order(20, EVAL_SEED + 1)]
    m = row["metrics"]
    assert m["fd"] == pytest.approx(_frechet(fake, train_feats), abs=1e-6)
    tf_kid = kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(train_feats), kid_subsets=100,
                                    kid_subset_size=20, kid_kernel="poly", kid_kernel_poly_degree=3,
                                    kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=2020,
                                    verbose=False)  # fmt: skip
    assert m["kid"] == pytest.approx(tf_kid["kernel_inception_distance_mean"], rel=1e-6)
    assert m["is"] == pytest.approx(_is(fake_probs, 10, 2020), rel=1e-9)
    prdc_real = train_feats[np.sort(np.random.RandomState(EVAL_SEED).choice(500, 20, replace=False))]
    ref = compute_prdc(real_features=prdc_real, fake_features=fake, nearest_k=5)
    assert {k: m[k] for k in ref} == pytest.approx(ref, abs=1e-12)
    labels = np.concatenate([test_probs.argmax(1), train_probs.argmax(1)])  # every image of both splits
    assert m["mode_kl"] == pytest.approx(_kl_to_uniform(labels, 10), abs=1e-12)

    # The whole train split's statistics read back from the disk cache state their sample count too.
    clear_caches()
    again = score_reference(d, models, ProtocolExtractor(d, models))
    assert again["sample_counts"] == row["sample_counts"] and again["sample_counts"]["real_stats"] == 500
    assert again["metrics"]["fd"] == pytest.approx(m["fd"], rel=1e-9)


def test_a_cut_row_keeps_the_counts_a_user_set_within_its_bounds(cifar):
    d = cifar
    user = default_protocol(d, "pool4-rows", options={"prdc_n": 300, "kid_subset_size": 8, "is_splits": 4})
    row = score_reference(d, user, ProtocolExtractor(d, user))
    p = _check_counts_against_fingerprint(row)
    # prdc_n 300 is cut to the row's 20 generated samples; the subset size and splits fit and are kept.
    assert (p["n_fake"], p["prdc_n"], p["kid_subset_size"], p["is_splits"]) == (20, 20, 8, 4)
    assert row["sample_counts"]["prdc_real"] == row["sample_counts"]["prdc_fake"] == 20
    small = default_protocol(d, "pool4-rows", options={"prdc_n": 12})
    row = score_reference(d, small, ProtocolExtractor(d, small))
    assert _check_counts_against_fingerprint(row)["prdc_n"] == 12 and row["sample_counts"]["prdc_real"] == 12
    # PRDC on the first 12 of the row's test images and 12 train images drawn by the eval seed.
    ext = ProtocolExtractor(d, small)
    fake = ext.features_and_probs(d.test_float())[0][_order(20, EVAL_SEED + 1)][:12]
    train_feats = ext.features_and_probs(d.train_float())[0]
    ref = compute_prdc(real_features=train_feats[np.sort(np.random.RandomState(EVAL_SEED).choice(500, 12, replace=False))],
                       fake_features=fake, nearest_k=5)  # fmt: skip
    assert {k: row["metrics"][k] for k in ref} == pytest.approx(ref, abs=1e-12)

"""Where fd_heldout and fd_gap compare samples: in pixels when the extractor was trained on the scored dataset's
training split (ganbench's classifier), in the extractor's features otherwise; the nearest-neighbour memorisation
metrics (authenticity, ct, nn_ratio) stay in the extractor's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganbench.data import load_dataset
from ganbench.evaluation.extractors import EXTRACTORS
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol, fingerprint, fingerprint_id, generalisation_space
from ganbench.evaluation.scoring import reference_protocol, reference_samples, score, score_reference
from ganbench.metrics.generalisation import fd_generalisation
from ganbench.metrics.memorisation import authenticity, ct_statistic, nn_ratio

MEMO = ["fd", "fd_heldout", "fd_gap", "ct", "nn_ratio", "authenticity"]
HALF = 180  # digits' 360 test images: half generated stand-ins, half held out


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    p = default_protocol(d, n=HALF, metrics=MEMO)
    return d, p, ProtocolExtractor(d, p)


def _pixels(x: torch.Tensor) -> np.ndarray:
    return x.reshape(len(x), -1).double().numpy()


def test_only_an_extractor_trained_on_the_train_split_moves_fd_gap_to_pixels():
    flags = {name: EXTRACTORS.get(name).fit_to_train_split for name in EXTRACTORS}
    assert flags["classifier"] is True
    assert not any(v for k, v in flags.items() if k != "classifier")  # inception, dinov2, clip, points
    d = load_dataset("digits")
    assert generalisation_space(default_protocol(d)) == "pixels"
    assert generalisation_space(default_protocol(d, extractor="inception", metrics=MEMO)) == "features"


def test_the_space_enters_the_fingerprint_and_protocols_in_features_keep_their_ids():
    d = load_dataset("digits")
    fp = fingerprint(default_protocol(d, metrics=MEMO), None, d)
    assert fp["generalisation_features"] == "pixels"
    without = {k: v for k, v in fp.items() if k not in ("generalisation_features", "id")}
    assert fingerprint_id(without) != fp["id"]  # the space is part of the id
    inception = fingerprint(default_protocol(d, extractor="inception", metrics=MEMO), None, d)
    assert inception["memorisation_n"] == 10_000 and "generalisation_features" not in inception
    nn_only = fingerprint(default_protocol(d, metrics=["fd", "ct", "authenticity"]), None, d)  # no fd_gap: no key
    assert nn_only["memorisation_n"] == 10_000 and "generalisation_features" not in nn_only
    ring = load_dataset("ring8")  # 2D sets: the points are their own features
    assert "generalisation_features" not in fingerprint(default_protocol(ring, metrics=["authenticity"]), None, ring)


def test_scored_metrics_are_the_definitions_in_the_space_of_each(digits):
    d, p, ext = digits
    order = torch.randperm(len(d.test), generator=torch.Generator().manual_seed(3))
    gen, held = d.as_float(d.test[order[:HALF]]), d.as_float(d.test[order[HALF:]])
    result = score(gen, d, p, ext, heldout=held)
    m = result["metrics"]
    # The protocol's training samples: the whole split in order (1,437 <= 10,000 and n_real is the split's size).
    assert p.n_real == len(d.train) and result["sample_counts"]["memo_train"] == len(d.train)
    expected = fd_generalisation(_pixels(gen), _pixels(d.train_float()), _pixels(held))
    assert m["fd_heldout"] == pytest.approx(expected["fd_heldout"], rel=1e-9)
    assert m["fd_gap"] == pytest.approx(expected["fd_gap"], rel=1e-9, abs=1e-12)
    # The nearest-neighbour metrics in the classifier's features (computed here from scratch, not from its cache).
    f = ext.features_and_probs
    g, t, h = f(gen)[0], f(d.train_float())[0], f(held)[0]
    assert m["nn_ratio"] == pytest.approx(nn_ratio(g, t, h), rel=1e-12)
    assert m["authenticity"] == pytest.approx(authenticity(g, t), abs=0)
    assert m["ct"] == pytest.approx(ct_statistic(g, t, h, seed=p.eval_seed), rel=1e-9)
    assert fd_generalisation(g, t, h)["fd_heldout"] != pytest.approx(m["fd_heldout"], rel=0.1)  # not features


def test_degraded_unseen_images_read_as_generalising_in_pixels_not_as_in_classifier_features(digits):
    """The defect the pixel space removes: in the classifier's features (trained on the training split), worse
    samples of images the model never saw get a strongly negative fd_gap ("closer to unseen data"), as every
    trained run of the published standard suite did (reports/fd-gap-features.md)."""
    d, p, ext = digits
    test = d.test_float()
    pixel_gaps, feature_gaps = [], []
    for seed in range(5):
        gen_rng = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(test), generator=gen_rng)
        noisy = (test[order[:HALF]] + 0.4 * torch.randn(HALF, *test.shape[1:], generator=gen_rng)).clamp(-1, 1)
        held = test[order[HALF:]]
        pixel_gaps.append(score(noisy, d, p, ext, heldout=held)["metrics"]["fd_gap"])
        f = ext.features_and_probs
        feature_gaps.append(fd_generalisation(f(noisy)[0], ext.real(p)[1], f(held)[0])["fd_gap"])
    assert -0.3 < np.mean(pixel_gaps) < 0.4
    assert np.mean(feature_gaps) < -1.0


def test_copies_of_training_images_are_caught_and_the_real_data_row_is_scored_in_the_same_spaces(digits):
    d, p, ext = digits
    train = d.train_float()
    copies = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:HALF]]
    held = d.test_float()[:HALF]
    m = score(copies, d, p, ext, heldout=held)["metrics"]
    assert m["authenticity"] == 0.0 and m["nn_ratio"] == 0.0 and m["ct"] < -10
    # The real-data row: its test images against the training images, in the classifier's features.
    ref = score_reference(d, p, ext)
    fake = reference_samples(d, reference_protocol(d, p))[0]
    f = ext.features_and_probs
    assert ref["metrics"]["authenticity"] == pytest.approx(authenticity(f(fake)[0], f(train)[0]), abs=0)
    assert ref["fingerprint"]["generalisation_features"] == "pixels"  # the models' protocol, so their floor


def test_bootstrap_resamples_the_pixels_fd_gap_is_computed_on(digits):
    from ganbench.evaluation.bootstrap import resample_context
    from ganbench.evaluation.scoring import image_context

    d, p, ext = digits
    order = torch.randperm(len(d.test), generator=torch.Generator().manual_seed(4))
    gen, held = d.as_float(d.test[order[:HALF]]), d.as_float(d.test[order[HALF:]])
    _, ctx = image_context(gen, ext, None, p, held)
    rng = np.random.default_rng(0)
    again = resample_context(ctx, rng)
    idx = np.random.default_rng(0).integers(0, HALF, size=HALF)  # the rows resample_context draws first
    np.testing.assert_array_equal(again.gap_feats[0], _pixels(gen)[idx])  # the same draw as the features'
    np.testing.assert_array_equal(again.gen_feats, ctx.gen_feats[idx])
    assert again.gap_feats[1] is ctx.gap_feats[1] and again.gap_feats[2] is ctx.gap_feats[2]  # real sides fixed
    result = score(gen, d, p, ext, heldout=held, bootstrap=20)
    low, high = result["eval_ci95"]["fd_gap"]
    assert low < result["metrics"]["fd_gap"] < high and high - low < 1.0  # on the pixels

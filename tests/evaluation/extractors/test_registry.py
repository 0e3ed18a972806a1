"""The extractor registry: what --extractor accepts, each kind's default, and the errors for wrong names."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.cli import build_parser, main
from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors import EXTRACTORS, Evaluator, ExtractorSpec, register_extractor
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol

KINDS = ("points2d", "image")


@pytest.mark.parametrize("name", list(EXTRACTORS))
def test_every_spec_is_consistent_and_a_cli_choice(name):
    spec = EXTRACTORS.get(name)
    assert spec.name == name and spec.kinds and spec.description
    assert set(spec.default_for) <= set(spec.kinds)
    args = build_parser().parse_args(["eval", "RUN", "--extractor", name])
    assert args.extractor == name


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_exactly_one_default(kind):
    assert len([n for n in EXTRACTORS if kind in EXTRACTORS.get(n).default_for]) == 1


def test_cli_refuses_an_unregistered_extractor(capsys):
    assert main(["eval", "RUN", "--extractor", "vgg"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'vgg'" in err and "classifier" in err and "inception" in err and "points" in err


def test_defaults_and_wrong_names_per_kind():
    ring8, digits = load_dataset("ring8"), load_dataset("digits")
    assert default_protocol(ring8).extractor == "points"
    assert default_protocol(digits).extractor == "classifier"
    assert default_protocol(digits, "inception").extractor == "inception"
    with pytest.raises(UserError, match=r"^--extractor classifier: 2D sets are scored on the points themselves; omit"):
        default_protocol(ring8, "classifier")
    every = "classifier, clip-vit-b32, clip-vit-l14, dinov2-vit-b14, dinov2-vit-l14, dinov2-vit-s14 or inception"
    with pytest.raises(UserError, match=rf"^--extractor must be {every}; got 'points'$"):
        default_protocol(digits, "points")


def test_unlabelled_images_name_the_real_flag(tmp_path, capsys):
    """The classifier (default) on unlabelled data names the extractors that need no labels, flags that exist."""
    unlabelled = dataclasses.replace(load_dataset("digits"), train_labels=None, test_labels=None)
    unlabelled_ok = "clip-vit-b32, clip-vit-l14, dinov2-vit-b14, dinov2-vit-l14, dinov2-vit-s14 or inception"
    with pytest.raises(UserError, match=rf"for unlabelled data; use --extractor {unlabelled_ok}$"):
        ProtocolExtractor(unlabelled, default_protocol(unlabelled))
    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i in range(20):  # no class subfolders: no labels
        Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    np.save(tmp_path / "s.npy", rng.integers(0, 255, (4, 8, 8, 1), dtype=np.uint8))
    code = main(["eval", "--samples", str(tmp_path / "s.npy"), "--dataset", f"folder:{tmp_path / 'imgs'}",
                 "--device", "cpu"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "dinov2-vit-s14 or inception" in err and "--evaluator" not in err


class _MeanPool(Evaluator):
    """Features: the mean of each channel; probabilities: uniform over 2 classes."""

    name, num_classes, feature_dim, weights_sha256 = "mean-pool", 2, 1, "0" * 64
    preprocessing, in_channels, device = {}, (1,), torch.device("cpu")

    def _forward(self, x):
        return x.mean(dim=(1, 2, 3))[:, None], torch.full((len(x), 2), 0.5)


def test_one_registration_makes_a_new_extractor_usable():
    digits = load_dataset("digits")
    register_extractor(ExtractorSpec("mean-pool", ("image",), False, lambda d, dev, opt: _MeanPool(), "channel means"))
    try:
        protocol = default_protocol(digits, "mean-pool")
        ext = ProtocolExtractor(digits, protocol)
        stats, feats = ext.real()
        assert ext.info()["name"] == "mean-pool" and feats.shape == (protocol.n_real, 1)
        assert build_parser().parse_args(["eval", "RUN", "--extractor", "mean-pool"]).extractor == "mean-pool"
    finally:
        EXTRACTORS.unregister("mean-pool")
    with pytest.raises(UserError, match=r"must be classifier, clip-vit-b32, .* or inception; got 'mean-pool'"):
        default_protocol(digits, "mean-pool")


def test_a_kind_has_one_default():
    with pytest.raises(ValueError, match="already the default"):
        register_extractor(ExtractorSpec("other", ("image",), False, lambda d, dev, opt: None, "x", ("image",)))
    assert "other" not in EXTRACTORS

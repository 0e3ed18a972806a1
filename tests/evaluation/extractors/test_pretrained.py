"""What the published-weights extractors (DINOv2, CLIP) share: where the weights come from, the SHA-256 rule,
the features-only protocol, and ``ganbench eval --extractor NAME`` end to end, with FD, KID and PRDC checked
against pytorch-fid, torch-fidelity and the prdc package on the same features."""

from __future__ import annotations

import hashlib
import json
from urllib.error import URLError

import numpy as np
import prdc
import pytest
import torch
from PIL import Image
from pytorch_fid.fid_score import calculate_frechet_distance
from torch_fidelity.metric_kid import kid_features_to_metric

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors import EXTRACTORS, ExtractorOptions, build_extractor
from ganbench.evaluation.extractors.clip import CLIP_VARIANTS, ClipEvaluator
from ganbench.evaluation.extractors.dinov2 import DINOV2_VARIANTS, DinoV2Evaluator
from ganbench.evaluation.protocol import default_protocol

WEIGHTS = {**{n: v.weights for n, v in DINOV2_VARIANTS.items()}, **{n: v.weights for n, v in CLIP_VARIANTS.items()}}
WEIGHTS_NAMES = {**{n: v.fidelity_name for n, v in DINOV2_VARIANTS.items()},
                 **{n: v.fidelity_name for n, v in CLIP_VARIANTS.items()}}  # torch-fidelity's names
EVALUATORS = {**{n: DinoV2Evaluator for n in DINOV2_VARIANTS}, **{n: ClipEvaluator for n in CLIP_VARIANTS}}


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """torch hub pointed at an empty folder, downloads made to fail loudly; both restored after."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # an earlier set_dir would override TORCH_HOME
    monkeypatch.delenv("GANBENCH_OFFLINE", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("the test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_every_published_weights_extractor_is_registered_features_only():
    taking = {n for n in EXTRACTORS if EXTRACTORS.get(n).takes_weights}
    assert taking == set(WEIGHTS) | {"inception"}
    assert all(not EXTRACTORS.get(n).has_classes and EXTRACTORS.get(n).kinds == ("image",) for n in WEIGHTS)


@pytest.mark.parametrize("name", list(WEIGHTS))
def test_offline_without_weights_is_one_line_naming_file_hash_url_and_place(name, empty_hub):
    spec = WEIGHTS[name]
    with pytest.raises(UserError) as err:
        build_extractor(name, load_dataset("digits"), "cpu", ExtractorOptions(offline=True))
    msg = str(err.value)
    assert "\n" not in msg and "offline" in msg
    for needle in (spec.filename, f"SHA-256 {spec.sha256}", spec.url, str(empty_hub / spec.filename),
                   "--extractor-weights PATH"):  # fmt: skip
        assert needle in msg
    assert not empty_hub.exists()


def test_offline_from_the_environment(empty_hub, monkeypatch):
    monkeypatch.setenv("GANBENCH_OFFLINE", "yes")
    with pytest.raises(UserError, match="downloading is off"):
        DinoV2Evaluator("dinov2-vit-l14")


@pytest.mark.parametrize("name", ["dinov2-vit-b14", "clip-vit-l14"])
def test_download_is_checked_against_the_whole_sha256_and_a_failure_leaves_nothing(name, empty_hub, monkeypatch):
    calls = []

    def broken(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        with open(dst, "wb") as f:
            f.write(b"partial")
        raise URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", broken)
    with pytest.raises(UserError, match="downloading it failed.*no route to host"):
        EVALUATORS[name](name)
    assert calls == [(WEIGHTS[name].url, WEIGHTS[name].sha256)]  # torch hub compares the full digest
    assert list(empty_hub.iterdir()) == []


@pytest.mark.parametrize("name", ["dinov2-vit-s14", "clip-vit-b32"])
def test_a_cached_file_that_is_not_the_published_one_is_an_error(name, empty_hub):
    empty_hub.mkdir(parents=True)
    (empty_hub / WEIGHTS[name].filename).write_bytes(b"a broken download")
    with pytest.raises(UserError) as err:
        EVALUATORS[name](name)
    digest = hashlib.sha256(b"a broken download").hexdigest()
    assert str(err.value) == (f"{WEIGHTS[name].label} weights {empty_hub / WEIGHTS[name].filename} have SHA-256 "
                              f"{digest}, not the published {WEIGHTS[name].sha256} (a broken or foreign file); "
                              f"delete it and fetch {WEIGHTS[name].url} again")  # fmt: skip


def test_a_missing_explicit_file_names_the_flag_and_the_file(tmp_path):
    with pytest.raises(UserError, match=r"^--extractor-weights: no file at .*missing.pth; pass the path of DINOv2 "
                                        r"ViT-L/14's dinov2_vitl14_pretrain.pth \(SHA-256 d5383ea8"):  # fmt: skip
        DinoV2Evaluator("dinov2-vit-l14", weights_path=tmp_path / "missing.pth")


def test_weights_for_an_extractor_that_takes_none(tmp_path):
    with pytest.raises(UserError, match=r"^--extractor-weights: the classifier extractor takes no weights file"):
        build_extractor("classifier", load_dataset("digits"), "cpu", ExtractorOptions(weights=str(tmp_path)))


def test_features_only_protocols_leave_out_class_metrics():
    digits = load_dataset("digits")
    metrics = default_protocol(digits, "dinov2-vit-s14").metrics
    assert "fd" in metrics and "kid" in metrics and "precision" in metrics
    assert not {"is", "modes_covered", "mode_kl"} & set(metrics)
    assert {"is", "modes_covered"} <= set(default_protocol(digits, "inception").metrics)
    with pytest.raises(UserError, match=r"^--metrics: is needs class probabilities, which --extractor clip-vit-b32 "
                                        r"does not give \(features only\)"):  # fmt: skip
        default_protocol(digits, "clip-vit-b32", metrics=["fd", "is"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """12 RGB 16x16 images in two classes (train and test split 90/10) and 7 samples as uint8 NHWC."""
    root = tmp_path_factory.mktemp("pretrained-eval")
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / "imgs" / c / f"{i}.png")
    np.save(root / "s.npy", rng.integers(0, 255, (7, 16, 16, 3), dtype=np.uint8))
    return root


@pytest.mark.parametrize("name", ["dinov2-vit-s14", "clip-vit-b32"])
def test_cli_eval_end_to_end(name, folder, request, capsys):
    """``ganbench eval --samples s.npy --extractor NAME --extractor-weights FILE --offline``."""
    weights = request.getfixturevalue("dinov2_small_weights" if name.startswith("dinov2") else "clip_weights")
    args = ["eval", "--samples", str(folder / "s.npy"), "--dataset", f"folder:{folder / 'imgs'}", "--extractor", name,
            "--extractor-weights", str(weights), "--offline", "--n", "7", "--json", "--device", "cpu",
            "--metrics", "fd,kid,precision,recall,density,coverage"]  # fmt: skip
    with pytest.warns(RuntimeWarning, match="not be comparable"):
        code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    res = json.loads(out)

    # The fingerprint names the extractor and its weights' SHA-256, and no path of this machine.
    with pytest.warns(RuntimeWarning):
        ev = EVALUATORS[name](name, weights_path=weights)
    ext = res["fingerprint"]["extractor"]
    assert ext["name"] == ev.name == WEIGHTS_NAMES[name]
    assert ext["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert ext["standard_weights"] is False and str(weights.parent) not in json.dumps(res["fingerprint"])

    # The same numbers from the features, by independent implementations.
    real = ev.features(load_dataset(f"folder:{folder / 'imgs'}").train_float())
    fake = ev.features(torch.from_numpy(np.load(folder / "s.npy")).permute(0, 3, 1, 2).float() / 127.5 - 1)
    m = res["metrics"]
    fd = calculate_frechet_distance(fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False))
    assert m["fd"] == pytest.approx(fd, rel=1e-6)
    kid = kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=100, kid_subset_size=7,
                                 kid_degree=3, kid_gamma=None, kid_coef0=1, rng_seed=2020, verbose=False)  # fmt: skip
    assert m["kid"] == pytest.approx(kid["kernel_inception_distance_mean"], rel=1e-6)
    # PRDC's 7 real samples: the protocol's draw by the evaluation seed (ganbench.metrics.prdc_reference).
    subset = real[np.sort(np.random.RandomState(0).choice(len(real), 7, replace=False))]
    ref = prdc.compute_prdc(real_features=subset, fake_features=fake, nearest_k=5)
    for k in ("precision", "recall", "density", "coverage"):
        assert m[k] == pytest.approx(ref[k], rel=1e-9), k

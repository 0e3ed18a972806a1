"""End-to-end scoring: the 'done when' checks of the metrics issue, the CLI, and fingerprints."""

import json

import numpy as np
import pytest
import torch

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.data.embedded import ring_centers
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import comparable, default_protocol
from ganbench.evaluation.scoring import score, score_reference


class MixtureSampler:
    """Draws from the true ring (or, collapsed, from one of its modes)."""

    def __init__(self, collapsed=False):
        self.centers = torch.tensor(ring_centers(), dtype=torch.float32)
        self.collapsed = collapsed

    def sample(self, n, generator=None):
        idx = torch.zeros(n, dtype=torch.long) if self.collapsed else torch.randint(0, 8, (n,), generator=generator)
        return self.centers[idx] + 0.01 * torch.randn(n, 2, generator=generator)


def test_ring_true_mixture_covers_8_modes_collapsed_covers_1():
    from ganbench.evaluation.scoring import score_model

    d = load_dataset("ring8")
    p = default_protocol(d)
    good = score_model(MixtureSampler(), d, p)["metrics"]
    assert good["modes_covered"] == 8 and abs(good["hq_fraction"] - 0.9889) < 0.01 and good["reverse_kl"] < 0.01
    bad = score_model(MixtureSampler(collapsed=True), d, p)["metrics"]
    assert bad["modes_covered"] == 1 and bad["reverse_kl"] == pytest.approx(np.log(8))


@pytest.fixture(scope="module")
def digits():
    d = load_dataset("digits")
    p = default_protocol(d)
    return d, p, ProtocolExtractor(d, p)


def test_digits_reference_is_near_the_floor_and_noise_is_far_worse(digits):
    d, p, ext = digits
    ref = score_reference(d, p, ext)["metrics"]
    assert ref["fd"] < 3 and ref["is"] > 9.3 and ref["modes_covered"] == 10
    assert ref["precision"] > 0.9 and ref["recall"] > 0.9
    noise = torch.rand(p.n_fake, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = score(noise, d, p, ext)["metrics"]
    assert bad["fd"] > 30 * ref["fd"] and bad["is"] < ref["is"] / 2 and bad["kid"] > ref["kid"] + 10
    assert bad["recall"] < 0.2 and bad["mode_kl"] > 10 * ref["mode_kl"]


def test_reference_row_is_scored_under_the_protocol_it_records(digits):
    d, _, _ = digits
    p = default_protocol(d, n=5000)  # more than the 360 test images: the reference row shrinks its protocol
    r = score_reference(d, p, ProtocolExtractor(d, p))
    proto = r["fingerprint"]["protocol"]
    assert proto["n_fake"] == 360 and proto["kid_subset_size"] == 360 and proto["is_splits"] == 1
    # the metrics are those of the recorded protocol: the same as scoring it directly
    shrunk = default_protocol(d)
    assert (proto["n_fake"], proto["kid_subset_size"], proto["is_splits"]) == (
        shrunk.n_fake, shrunk.kid_subset_size, shrunk.is_splits)
    assert r["metrics"]["kid"] == score_reference(d, shrunk, ProtocolExtractor(d, shrunk))["metrics"]["kid"]


def test_mode_histogram_comes_from_fake_modes_when_they_differ_from_fake(digits):
    d, p, ext = digits
    fake = d.test_float()[: p.n_fake]
    one_image = d.test_float()[:1].repeat(p.n_fake, 1, 1, 1)  # a collapsed sampler: one mode
    assert score(fake, d, p, ext)["metrics"]["modes_covered"] == 10
    assert score(fake, d, p, ext, fake_modes=one_image)["metrics"]["modes_covered"] == 1
    assert score(fake, d, p, ext, fake_modes=one_image[:100])["metrics"]["modes_covered"] == 1


def test_fingerprint_holds_the_protocol_and_separates_protocols(digits):
    d, p, ext = digits
    r = score_reference(d, p, ext)
    fp = r["fingerprint"]
    assert fp["extractor"]["name"].startswith("classifier") and len(fp["extractor"]["weights_sha256"]) == 64
    assert fp["protocol"]["n_fake"] == 360 and fp["protocol"]["eval_seed"] == 0
    assert fp["protocol"]["reference_split"] == "train" and fp["metric_versions"]["fd"] == "1"
    assert {"torch", "torch-fidelity", "ganbench"} <= set(fp["versions"])
    p2 = default_protocol(d, n=300)
    r2 = score_reference(d, p2, ProtocolExtractor(d, p2))
    again = score(d.test_float()[: p.n_fake], d, default_protocol(d), ProtocolExtractor(d, default_protocol(d)))  # same protocol
    assert comparable(fp, again["fingerprint"]) and not comparable(fp, r2["fingerprint"])


def _cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_samples_file_layouts_agree(capsys, tmp_path, digits):
    d, p, _ = digits
    x = ((d.test_float().numpy() + 1) / 2)  # float [0, 1] NCHW
    u8 = np.round(x * 255).astype(np.uint8)
    np.save(tmp_path / "nchw.npy", u8)
    np.save(tmp_path / "nhwc.npy", u8.transpose(0, 2, 3, 1))
    np.save(tmp_path / "nhw.npy", u8[:, 0])
    np.savez(tmp_path / "f.npz", samples=x.astype(np.float32))
    results = []
    for name in ("nchw.npy", "nhwc.npy", "nhw.npy", "f.npz"):
        code, out, err = _cli(capsys, "eval", "--samples", str(tmp_path / name), "--dataset", "digits", "--json")
        assert code == 0, err
        results.append(json.loads(out))
    fds = [r["metrics"]["fd"] for r in results]
    assert fds[0] == fds[1] == fds[2] and abs(fds[3] - fds[0]) < 0.02 * fds[0]  # uint8 rounding aside
    assert set(results[0]["metrics"]) >= {"fd", "is", "kid", "precision", "recall", "density", "coverage",
                                          "modes_covered", "mode_kl", "authenticity", "ct", "nn_ratio",
                                          "fd_heldout", "fd_gap", "fd_train_matched", "vendi"}  # fmt: skip
    assert "fd_inf" not in results[0]["metrics"]  # asked for by name only
    assert results[0]["fingerprint"]["protocol"]["dataset"] == "digits"


def test_eval_points_file_and_metric_choice(capsys, tmp_path):
    pts = MixtureSampler().sample(2500, torch.Generator().manual_seed(1)).numpy()
    np.save(tmp_path / "p.npy", pts)
    code, out, _ = _cli(capsys, "eval", "--samples", str(tmp_path / "p.npy"), "--dataset", "ring8", "--json",
                        "--metrics", "modes_covered")  # fmt: skip
    res = json.loads(out)
    assert code == 0 and res["metrics"]["modes_covered"] == 8 and "hq_fraction" not in res["metrics"]


@pytest.mark.parametrize(
    "array,dataset,message",
    [
        (np.zeros((10, 3), np.float32), "ring8", r"ring8 needs float points of shape \(N, 2\); got \(10, 3\)"),
        (np.full((10, 2), np.nan, np.float32), "ring8", "contain NaN or Inf"),
        (np.zeros((0, 2), np.float32), "ring8", "is empty"),
        (np.zeros((5, 1, 8, 8), np.float32) + 2, "digits", r"float images must be in \[0, 1\]; got values in \[2, 2\]"),
        (np.zeros((5, 1, 9, 9), np.uint8), "digits", r"needs images of 1x8x8"),
        (np.zeros((5, 1, 8, 8), np.int32), "digits", "must be uint8 in \\[0, 255\\] or float in \\[0, 1\\]; got int32"),
        (np.zeros((0, 1, 8, 8), np.uint8), "digits", "holds no samples"),
    ],
)
def test_bad_samples_files_get_one_line_and_exit_2(capsys, tmp_path, array, dataset, message):
    import re

    np.save(tmp_path / "bad.npy", array)
    code, _, err = _cli(capsys, "eval", "--samples", str(tmp_path / "bad.npy"), "--dataset", dataset)
    assert code == 2 and err.count("\n") == 1 and re.search(message, err), err


def test_truncated_and_absurd_files(capsys, tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((1000, 2), np.float32))
    data = (tmp_path / "t.npy").read_bytes()
    (tmp_path / "t.npy").write_bytes(data[: len(data) // 2])
    code, _, err = _cli(capsys, "eval", "--samples", str(tmp_path / "t.npy"), "--dataset", "ring8")
    assert code == 2 and "truncated" in err
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 2), np.float32))
    header["shape"] = (10**12, 2)
    with open(tmp_path / "huge.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
    code, _, err = _cli(capsys, "eval", "--samples", str(tmp_path / "huge.npy"), "--dataset", "ring8")
    assert code == 2 and "GiB limit" in err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    code, _, err = _cli(capsys, "eval", "--samples", str(tmp_path / "junk.npz"), "--dataset", "ring8")
    assert code == 2 and "not a readable numpy file" in err


def test_eval_run_dir_writes_scores(capsys, tmp_path):
    code, _, _ = _cli(capsys, "train", "gan", "--dataset", "ring8", "--steps", "30", "--out", str(tmp_path))
    run = tmp_path / "ring8" / "gan" / "seed-0"
    code, out, _ = _cli(capsys, "eval", str(run), "--json")
    res = json.loads(out)
    saved = json.loads((run / "scores.json").read_text())
    assert code == 0 and saved[res["fingerprint"]["id"]]["metrics"]["modes_covered"] == res["metrics"]["modes_covered"]
    code, _, err = _cli(capsys, "eval", str(tmp_path))
    assert code == 2 and "not a run directory" in err

"""scripts/reproduce_images.py: its refusals (no CUDA device, no data files) and a smoke run on a CPU that
writes the report, whose numbers are checked with numpy against the runs' own scores.json."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from scripts.reproduce_images import main
from tests.test_image_baselines import data_root  # noqa: F401  (the fixture: files in torchvision's formats)

SMOKE = ["--allow-cpu", "--steps", "2", "--batch-size", "8", "--n", "48", "--protocol", "n_real=40",
         "--fid-extractor", "classifier", "--fid-n", "40", "--modes-n", "48", "--eval-seeds", "0", "1"]  # fmt: skip


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_without_cuda_it_says_so_and_exits_2(tmp_path, capsys):
    assert main(["--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reproduce_images: no CUDA device")


def test_without_data_files_it_names_them_and_exits_2(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["--data-root", str(empty), "--allow-cpu", "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"reproduce_images: no data for mnist, fashion-mnist, cifar10, stacked-mnist under {empty}")
    assert "MNIST/raw" in err[0] and not (tmp_path / "runs").exists()


def test_without_inception_weights_it_says_so_before_training(data_root, tmp_path, capsys):  # noqa: F811
    missing = tmp_path / "pt_inception.pth"
    args = ["--data-root", data_root, "--datasets", "mnist", "--allow-cpu", "--out", str(tmp_path / "runs"),
            "--inception-weights", str(missing), "--offline"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("reproduce_images: no Inception weights for the FID rows")
    assert str(missing) in err[0] and not (tmp_path / "runs").exists()


def _fd(run: Path, seeds) -> list[float]:
    """The run's FID-row scores: classifier features, 40 generated vs 40 real, fd only."""
    out = []
    for score in json.loads((run / "scores.json").read_text()).values():
        p = score["fingerprint"]["protocol"]
        if p["metrics"] == ["fd"] and p["n_fake"] == 40 and p["n_real"] == 40 and p["eval_seed"] in seeds:
            out.append((p["eval_seed"], score["metrics"]["fd"]))
    assert sorted(s for s, _ in out) == sorted(seeds)
    return [v for _, v in sorted(out)]


def _cell(report: str, name: str) -> str:
    return next(line for line in report.splitlines() if line.startswith(f"| {name} [")).split("|")[2].strip()


def test_smoke_run_writes_the_report_beside_the_published_numbers(data_root, tmp_path, capsys):  # noqa: F811
    out, report = tmp_path / "runs", tmp_path / "images.md"
    # no evaluations during training (2,000 samples each, most of the test's time; the tracker is tested elsewhere)
    args = ["--data-root", data_root, "--datasets", "mnist", "--models", "dcgan-tf", "lsgan", "vae", "--seeds", "0",
            "1", "--out", str(out), "--report", str(report), "--eval-every", "0", *SMOKE]  # fmt: skip
    assert main(args) == 0
    text = report.read_text()
    assert "**Smoke run, not the published budgets or protocols**" in text
    for name, published in (("dcgan-tf", "6.8"), ("lsgan", "7.8"), ("vae", "16.6")):
        runs = [out / "mnist" / name / f"seed-{s}" for s in (0, 1)]
        per_run = np.array([np.mean(_fd(r, [0, 1])) for r in runs])
        eval_sd = np.mean([np.std(_fd(r, [0, 1]), ddof=1) for r in runs])
        cell = _cell(text, name)
        assert cell == (f"FID {per_run.mean():.2f} ± {per_run.std(ddof=1):.2f} (2 seeds, sd); "
                        f"evaluation-seed sd {eval_sd:.2f} (2 seeds)")  # fmt: skip
        row = next(line for line in text.splitlines() if line.startswith(f"| {name} ["))
        assert f"| {published} |" in row
    assert "Lucic et al. 2018 report the best FID over 100 sampled hyperparameter settings" in text
    assert "Dai and Wipf's VAE and budget" in text
    # the standard protocol's leaderboard: one row per baseline and the real-data row
    board = text[text.index("## ganbench's standard protocol"):text.index("## Runs")]
    assert [m for m in ("dcgan-tf", "lsgan", "vae", "real-data") if f"| {m} " in board] == [
        "dcgan-tf", "lsgan", "vae", "real-data"]
    assert sum(line.startswith("| mnist ") for line in board.splitlines()) == 4
    assert "6 of 6 runs complete." in text
    # a second call reuses the stored scores: nothing trained, no new score
    counts = {p: len(json.loads(p.read_text())) for p in out.glob("mnist/*/seed-*/scores.json")}
    assert main([*args, "--no-run"]) == 0
    assert {p: len(json.loads(p.read_text())) for p in out.glob("mnist/*/seed-*/scores.json")} == counts
    def body(t):  # the report less its first lines (the command line differs by --no-run)
        return t[t.index("## mnist"):]

    assert body(report.read_text()) == body(text)


@pytest.mark.slow
def test_smoke_run_reports_stacked_mnist_modes(data_root, tmp_path):  # noqa: F811
    out, report = tmp_path / "runs", tmp_path / "images.md"
    # no evaluations during training: on stacked-mnist they score 2,000 samples each (minutes on a CPU)
    assert main(["--data-root", data_root, "--datasets", "stacked-mnist", "--models", "dcgan", "pacdcgan2", "--seeds",
                 "0", "1", "--out", str(out), "--report", str(report), "--eval-every", "0", *SMOKE]) == 0  # fmt: skip
    text = report.read_text()
    for name, published in (("dcgan", "78.9 ± 6.46 modes, KL 4.50 ± 0.127"), ("pacdcgan2", "1000 ± 0.00 modes")):
        vals = []
        for s in (0, 1):
            scores = json.loads((out / "stacked-mnist" / name / f"seed-{s}" / "scores.json").read_text()).values()
            (m,) = [sc["metrics"] for sc in scores if sc["fingerprint"]["protocol"]["metrics"] == ["modes_covered",
                                                                                                  "mode_kl"]]  # fmt: skip
            vals.append((m["modes_covered"], m["mode_kl"]))
        modes, kl = np.array(vals, dtype=float).T
        se_modes, se_kl = modes.std(ddof=1) / np.sqrt(2), kl.std(ddof=1) / np.sqrt(2)
        assert _cell(text, name) == (f"{modes.mean():.1f} ± {se_modes:.1f} (2 seeds, s.e.) modes, KL "
                                     f"{kl.mean():.3f} ± {se_kl:.3f} (2 seeds, s.e.)")  # fmt: skip
        assert published in text
    assert re.search(r"The classifier's MNIST test accuracy: [01]\.\d{4}\.", text)
    assert "PacGAN's code stacks 3 digits drawn with replacement" in text

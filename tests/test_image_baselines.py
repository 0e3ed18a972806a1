"""The real image sets' baselines (baselines/*_{mnist,fashion-mnist,cifar10,stacked-mnist}.toml, the paper-images
suite) end to end: small files in torchvision's on-disk formats under a temporary --data-root, every baseline
trained for a few steps, scored, and ranked in a leaderboard; the CLI by model and by baseline name.

Each baseline's plan is checked against the values of the code it reproduces (tensorflow/docs dcgan.ipynb,
pytorch/examples dcgan/main.py, fjxmlzn/PacGAN stacked_MNIST_experiments/VEEGAN_experiment/config.py), and
each budget against the published epochs and the training-set sizes.
"""

import dataclasses
import hashlib
import json
import math
import os

import numpy as np
import pytest
from torchvision.datasets import CIFAR10

from ganbench.cli import main
from ganbench.config import find_baseline, list_baselines
from ganbench.data import get_dataset_info
from ganbench.results.leaderboard import leaderboard
from ganbench.runs.layout import RunDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Suite, load_suite, run_suite
from ganbench.training import train
from tests.data.test_real import write_cifar10, write_mnist

IMAGE_SETS = ["mnist", "fashion-mnist", "cifar10", "stacked-mnist"]
N_TRAIN = {"mnist": 60_000, "fashion-mnist": 60_000, "cifar10": 50_000, "stacked-mnist": 128_000}


def write_all(root) -> None:
    """MNIST, Fashion-MNIST and CIFAR-10 where torchvision looks under ``root`` (stacked-mnist is built
    from the MNIST files)."""
    write_mnist(root, "MNIST", n_train=64, n_test=32, seed=0)
    write_mnist(root, "FashionMNIST", n_train=64, n_test=32, seed=1)
    write_cifar10(root, per_batch=16, n_test=20)


def md5_table(root) -> dict:
    """The md5 of each written CIFAR-10 file, in torchvision's lists: they are the real format, not the
    original bytes, so the checksums the registered loader verifies are theirs."""
    folder = os.path.join(root, CIFAR10.base_folder)

    def md5(name):
        with open(os.path.join(folder, name), "rb") as f:
            return hashlib.md5(f.read()).hexdigest()

    return {"train_list": [[n, md5(n)] for n, _ in CIFAR10.train_list],
            "test_list": [[n, md5(n)] for n, _ in CIFAR10.test_list],
            "meta": {**CIFAR10.meta, "md5": md5(CIFAR10.meta["filename"])}}  # fmt: skip


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """The files under a temporary root. The evaluator classifiers stay in $GANBENCH_CACHE (content-addressed:
    the files are the same on every run): the classifier recipe's ~40,000 training examples take about a
    minute a dataset on one CPU thread the first time."""
    root = tmp_path_factory.mktemp("data")
    write_all(str(root))
    with pytest.MonkeyPatch.context() as mp:
        for attr, value in md5_table(str(root)).items():
            mp.setattr(CIFAR10, attr, value)
        mp.delenv("GANBENCH_DATA", raising=False)
        yield str(root)


# -- the plans and budgets ------------------------------------------------------------------------------


def test_every_reference_model_has_a_baseline_on_every_image_set():
    have = {(b.model, b.dataset) for b in list_baselines()}
    for model in ("gan", "wgan-gp", "lsgan", "hinge-sn", "pacgan", "vae", "ae"):
        for d in IMAGE_SETS:
            assert (model, d) in have


def test_budgets_are_the_published_epochs_in_updates():
    # the DCGAN codes keep each epoch's last partial batch: ceil(train size / batch) updates an epoch;
    # PacGAN's code drops it (batch_idxs = len // batch_size)
    published = {"mnist": (50, 256, math.ceil), "fashion-mnist": (50, 256, math.ceil),
                 "cifar10": (25, 64, math.ceil), "stacked-mnist": (50, 64, lambda x: int(x))}  # fmt: skip
    for b in list_baselines():
        if b.dataset in published:
            epochs, batch, per_epoch = published[b.dataset]
            assert b.train.batch_size == batch, b.source
            assert b.train.steps == epochs * per_epoch(N_TRAIN[b.dataset] / batch), b.source
            assert str(b.train.steps) in b.description.replace(",", "") and "epochs" in b.description


def test_the_classic_dcgans_carry_their_codes_values():
    tf = find_baseline("gan", "mnist")
    assert tf.name == "dcgan-tf" and find_baseline("gan", "fashion-mnist").name == "dcgan-tf"
    p = tf.model_params
    assert (p["z_dim"], p["width"], p["lr_g"], p["lr_d"], list(p["betas"])) == (100, 64, 1e-4, 1e-4, [0.9, 0.999])
    assert (p["update"], p["init"], p["bn_eps"], p["bn_momentum"]) == ("simultaneous", "glorot-uniform", 1e-3, 0.01)
    pt = find_baseline("gan", "cifar10").model_params
    assert find_baseline("gan", "cifar10").name == "dcgan-pytorch"
    assert (pt["z_dim"], pt["width"], pt["lr_g"], pt["lr_d"], list(pt["betas"])) == (100, 64, 2e-4, 2e-4, [0.5, 0.999])
    assert (pt["init"], pt["update"], pt["g_latents"]) == ("default", "alternating", "shared")  # DCGAN init on images
    dc, pac = find_baseline("gan", "stacked-mnist"), find_baseline("pacgan", "stacked-mnist")
    assert (dc.name, pac.name) == ("dcgan", "pacdcgan2")
    for b in (dc, pac):
        q = b.model_params
        assert (q["arch"], q["z_dim"], q["z_dist"], q["width"], q["lr_g"], list(q["betas"])) == (
            "carpedm20", 100, "uniform", 64, 2e-4, [0.5, 0.999])
        assert (q["init"], q["g_steps"], q["g_latents"]) == ("normal-0.02", 2, "shared")
    assert (pac.model_params["pack"], pac.model_params["pack_generator_calls"]) == (2, "per-pack")


def test_the_other_objectives_share_the_plans_networks():
    for d, arch in (("mnist", "auto"), ("cifar10", "auto"), ("stacked-mnist", "carpedm20")):
        for model in ("lsgan", "wgan-gp", "hinge-sn", "vae", "ae"):
            p = find_baseline(model, d).model_params
            assert p["width"] == 64 and p["arch"] == arch
            if model not in ("vae", "ae"):
                assert p["z_dim"] == 100


def test_find_baseline_by_name_and_the_suite():
    assert find_baseline("dcgan-tf", "mnist") == find_baseline("gan", "mnist")
    assert find_baseline("pacdcgan2", "stacked-mnist").model == "pacgan"
    suite = load_suite("paper-images")
    assert {(j.config.dataset, j.config.name) for j in suite.jobs} >= {
        ("mnist", "dcgan-tf"), ("fashion-mnist", "dcgan-tf"), ("cifar10", "dcgan-pytorch"),
        ("stacked-mnist", "dcgan"), ("stacked-mnist", "pacdcgan2")}  # fmt: skip
    assert len(suite.jobs) == 7 * 4 * 3
    assert {j.config.dataset for j in load_suite("paper-images", models=["dcgan-tf"]).jobs} == {"mnist",
                                                                                                 "fashion-mnist"}


# -- end to end -----------------------------------------------------------------------------------------


TINY = {"steps": 2, "batch_size": 8, "log_every": 1, "eval_every": 2, "eval_samples": 48, "checkpoint_every": 2}
EVAL = {"eval_n": 48, "eval_options": {"n_real": 40, "n_modes": 48}}


def tiny(job):
    """``job`` at the tiny budget. On stacked-mnist without the evaluations during training: the tracker
    scores 2,000 samples against 10,000 test stacks whatever ``eval_samples`` says (a minute a run on a
    CPU); mnist's runs take that path."""
    train = {**TINY, "eval_every": 0} if job.config.dataset == "stacked-mnist" else TINY
    return dataclasses.replace(job, config=dataclasses.replace(job.config, train=dataclasses.replace(
        job.config.train, **train)))  # fmt: skip


def tiny_suite(datasets, exclude=(), models=None, seeds=(0,)) -> Suite:
    suite = load_suite("paper-images", datasets=datasets, models=models, seeds=list(seeds))
    jobs = tuple(tiny(j) for j in suite.jobs if (j.config.dataset, j.config.model) not in exclude)
    return Suite("tiny-images", suite.description, jobs)


def _check_runs(out, suite: Suite) -> None:
    board = leaderboard(out)
    for job in suite.jobs:
        run = RunDir.of(out, job.config.dataset, job.config.name, job.seed)
        assert run.read_result()["status"] == "complete", job.id
        cfg = json.loads(run.config.read_text())
        assert cfg["name"] == job.config.name and cfg["train"]["steps"] == 2
        for k, v in job.config.model_params.items():  # the baseline's values are the ones trained with
            assert cfg["model_params"][k] == (list(v) if isinstance(v, tuple) else v), (job.id, k)
        (score,) = run.read_scores().values()
        assert score["fingerprint"]["protocol"]["n_fake"] == 48 and score["fingerprint"]["protocol"]["n_real"] == 40
        seeds = [j.seed for j in suite.jobs if (j.config.dataset, j.config.name) == (job.config.dataset, job.config.name)]
        fds = [next(iter(RunDir.of(out, job.config.dataset, job.config.name, s).read_scores().values()))["metrics"]["fd"]
               for s in seeds]  # fmt: skip
        row = board[(board.dataset == job.config.dataset) & (board.model == job.config.name)]
        assert len(row) == 1 and row.n_seeds.item() == len(seeds)
        assert row.fd_mean.item() == pytest.approx(np.mean(fds))  # the mean over the baseline's seeds
        if job.config.dataset == "stacked-mnist":
            assert score["fingerprint"]["protocol"]["n_modes"] == 48 and 1 <= score["metrics"]["modes_covered"] <= 48
            assert 0 <= score["metrics"]["mode_kl"] <= math.log(1000)
    for d in suite.datasets():
        assert len(board[(board.dataset == d) & (board.model == "real-data")]) == 1


def _run(suite: Suite, data_root, out, vectorise=False) -> None:
    records = run_suite(suite, RunOptions(out, "cpu", data_root, vectorise=vectorise, **EVAL), jobs=1,
                        log=lambda m: None)  # fmt: skip
    assert all(r.get("status") == "complete" for r in records), [r for r in records if r.get("status") != "complete"]
    _check_runs(out, suite)


def test_mnist_baselines_train_score_and_rank(data_root, tmp_path):
    suite = tiny_suite(["mnist"])
    assert len(suite.jobs) == 7
    _run(suite, data_root, tmp_path / "runs")


# The autoencoder's exact code fit encodes all 128,000 stacks when training ends (minutes on a CPU), and
# scoring stacked-mnist first measures the classifier on its 10,000 test stacks (40 s): the fast test
# trains the other stacked-mnist baselines, the slow ones score every baseline of the other sets.
@pytest.mark.parametrize("dataset", ["fashion-mnist", "cifar10", "stacked-mnist"])
def test_every_other_image_baseline_trains_from_the_real_files(data_root, tmp_path, dataset):
    for job in tiny_suite([dataset], exclude={("stacked-mnist", "ae")}).jobs:
        result = train(job.config, 0, tmp_path, device="cpu", data_root=data_root, progress=False)
        assert result.status == "complete" and result.steps == 2, job.id


@pytest.mark.slow
def test_fashion_mnist_and_cifar10_baselines_train_score_and_rank(data_root, tmp_path):
    _run(tiny_suite(["fashion-mnist", "cifar10"]), data_root, tmp_path / "runs")


@pytest.mark.slow
def test_stacked_mnist_baselines_train_score_and_rank_with_vectorised_seeds(data_root, tmp_path):
    _run(tiny_suite(["stacked-mnist"], seeds=(0, 1)), data_root, tmp_path / "runs", vectorise=True)


def test_cli_trains_a_baseline_by_model_and_by_name(data_root, tmp_path, capsys):
    out = tmp_path / "runs"
    common = ["--data-root", data_root, "--steps", "3", "--batch-size", "8", "--no-eval", "--out", str(out)]
    assert main(["train", "dcgan-tf", "--dataset", "mnist", *common]) == 0
    assert main(["train", "gan", "--dataset", "cifar10", *common]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("complete: dcgan-tf on mnist, seed 0, 3 steps") and lines[0].endswith(
        os.path.join("mnist", "dcgan-tf", "seed-0"))
    assert lines[1].startswith("complete: dcgan-pytorch on cifar10, seed 0, 3 steps")
    cfg = json.loads(RunDir.of(out, "mnist", "dcgan-tf", 0).config.read_text())
    assert cfg["model"] == "gan" and cfg["model_params"]["init"] == "glorot-uniform"
    assert cfg["dataset_info"]["shape"] == list(get_dataset_info("mnist").shape)
    # a name that is no model and no baseline on the dataset fails as an unknown model does
    assert main(["train", "dcgan-tf", "--dataset", "cifar10", *common]) == 2
    assert "dcgan-tf" in capsys.readouterr().err


def test_list_baselines_names_them(capsys):
    assert main(["list", "baselines", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    named = {(r["name"], r["model"], r["dataset"]) for r in rows}
    assert {("dcgan-tf", "gan", "mnist"), ("dcgan-pytorch", "gan", "cifar10"), ("dcgan", "gan", "stacked-mnist"),
            ("pacdcgan2", "pacgan", "stacked-mnist"), ("lsgan", "lsgan", "cifar10")} <= named  # fmt: skip
    assert main(["list", "baselines"]) == 0
    text = capsys.readouterr().out
    assert any(line.split()[:3] == ["dcgan-pytorch", "gan", "cifar10"] for line in text.splitlines())


def test_written_files_are_what_the_loaders_read(data_root):
    # the fixture's files in torchvision's formats, read back by the registered loaders (CIFAR-10 with its
    # checksums verified against the files' own md5s)
    from ganbench.data import load_dataset

    c = load_dataset("cifar10", data_root=data_root)
    assert c.train.shape == (80, 3, 32, 32) and c.test.shape == (20, 3, 32, 32)
    m = load_dataset("mnist", data_root=data_root)
    assert m.train.shape == (64, 1, 28, 28) and np.isin(m.train_labels.numpy(), range(10)).all()

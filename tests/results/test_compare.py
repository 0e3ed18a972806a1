"""`ganbench compare` places the example plugin among the baselines, with significance tests."""

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganbench import cli
from ganbench.data import DATASETS, Dataset, DatasetInfo, register_dataset
from ganbench.data.embedded import ring_centers, sample_mixture
from ganbench.data.real import resolve_data_root
from ganbench.results.compare import compare, dataset_budget, significance
from ganbench.results.ranking import holm
from ganbench.errors import UserError
from ganbench.runs import files
from ganbench.runs.suite import Job, Suite, load_suite

ROOT = Path(__file__).resolve().parents[2]


def tiny_suite(models=("gan", "vae"), seeds=(0, 1), steps=80, datasets=("ring8",)):
    s = load_suite("quick", models=list(models), datasets=list(datasets), seeds=list(seeds))
    jobs = [Job(dataclasses.replace(j.config, train=dataclasses.replace(j.config.train, steps=steps, eval_every=40,
                                                                        checkpoint_every=40)), j.seed)
            for j in s.jobs]  # fmt: skip
    return Suite("tiny", "", tuple(jobs))


@pytest.fixture
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(ROOT)


def test_trainable_plugin_is_trained_and_placed_among_baselines(tmp_path, plugin_path):
    res = compare("scripts.example_plugin:build_tiny_gan", "ring8", tmp_path / "out", runs=tmp_path / "runs",
                  jobs=1, suite=tiny_suite(), log=lambda m: None)  # fmt: skip
    board = pd.read_csv(res["leaderboard"])
    assert set(board.model) == {"gan", "vae", "real-data", res["label"]}
    mine = board[board.model == res["label"]].iloc[0]
    # 80 steps with an evaluation every 40: too few evaluations for a plateau verdict, so no rank (a
    # leaderboard ranks only rows trained to a plateau), and the report's table shows "—".
    assert mine.n_seeds == 2 and np.isnan(mine["rank"]) and mine.plateaued == "unknown"
    sig = pd.read_csv(res["significance"])
    assert set(sig.baseline) == {"gan", "vae"}  # the real-data row is a reference, not a baseline
    row = sig[(sig.baseline == "gan") & (sig.metric == "modes_covered")].iloc[0]
    assert row.n_new == 2 and row.n_baseline == 2 and 0 <= row.p_value <= 1
    assert row.verdict in ("new model better", "new model worse", "no significant difference (Holm-adjusted p >= 0.05)")
    text = Path(res["report"]).read_text()
    assert res["label"] in text and "Welch" in text
    mine_line = next(line for line in text.splitlines() if f"| {res['label']} " in line)
    assert "| —" in mine_line and "unknown (seeds 0/2; 2 with under 5 evaluations)" in mine_line
    assert "Only rows trained to a plateau are ranked" in text
    # the user model trained under the baseline budget with the baselines' seeds
    cfg = __import__("json").loads((tmp_path / "out/runs/ring8" / res["label"] / "seed-1/config.json").read_text())
    assert cfg["train"]["steps"] == 80 and cfg["seed"] == 1


def test_sampler_is_evaluated_only_and_too_few_seeds_is_said(tmp_path, plugin_path):
    # A Suite object is narrowed to the dataset and seeds asked for, as a suite name is.
    suite = tiny_suite(models=("gan",), datasets=("ring8", "grid25"))
    res = compare("scripts.example_plugin:ring_oracle", "ring8", tmp_path / "out", runs=tmp_path / "runs", jobs=1,
                  seeds=[1], suite=suite, log=lambda m: None)  # fmt: skip
    assert sorted(p.relative_to(tmp_path / "runs").as_posix() for p in (tmp_path / "runs").glob("*/gan/seed-*")) == [
        "ring8/gan/seed-1"]
    board = pd.read_csv(res["leaderboard"])
    mine = board[board.model == res["label"]].iloc[0]
    # A sampler is scored, not trained here: "external", and ranked (the 80-step GAN is not: "unknown").
    assert mine.modes_covered_mean == 8 and mine["rank"] == 1 and mine.plateaued == "external"
    assert np.isnan(board[board.model == "gan"]["rank"]).all()
    sig = pd.read_csv(res["significance"])
    assert sig.verdict.str.contains("too few seeds").all()


def test_broken_sampler_gets_a_clear_error(tmp_path, plugin_path, monkeypatch):
    import types

    mod = types.ModuleType("broken_plugin")

    class Nan:
        def sample(self, n, generator=None):
            return torch.full((n, 2), float("nan"))

    class Raises:
        def sample(self, n, generator=None):
            raise RuntimeError("boom")

    class Shape:
        def sample(self, n, generator=None):
            return torch.zeros(n, 3)

    mod.nan, mod.raises, mod.shape = Nan(), Raises(), Shape()
    monkeypatch.setitem(sys.modules, "broken_plugin", mod)
    suite = tiny_suite(models=("gan",), seeds=(0,), steps=20)
    for attr, msg in [("nan", "NaN or Inf"), ("raises", "sample\\(\\) raised RuntimeError: boom"),
                      ("shape", "shape \\(.*, 3\\); ring8 needs \\(N, 2\\)")]:  # fmt: skip
        with pytest.raises(UserError, match=msg):
            compare(f"broken_plugin:{attr}", "ring8", tmp_path / attr, runs=tmp_path / "runs", jobs=1, suite=suite,
                    log=lambda m: None)  # fmt: skip


def test_significance_against_scipy_welch():
    from scipy import stats

    rows = []
    for model, vals in {"new": [1.0, 2.0, 3.0, 4.0], "base": [3.0, 4.0, 5.0, 6.5]}.items():
        rows += [{"model": model, "fingerprint": "f", "status": "complete", "fd": v} for v in vals]
    sig = significance(pd.DataFrame(rows), "new", "f").iloc[0]
    # Welch's test from its definition: t = (ma - mb) / sqrt(va/na + vb/nb), Welch-Satterthwaite df.
    a, b = np.array([1, 2, 3, 4.0]), np.array([3, 4, 5, 6.5])
    qa, qb = a.var(ddof=1) / 4, b.var(ddof=1) / 4
    t = (a.mean() - b.mean()) / np.sqrt(qa + qb)
    df = (qa + qb) ** 2 / (qa**2 / 3 + qb**2 / 3)
    assert sig.p_value == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-10)
    assert sig.p_value == pytest.approx(0.0757, abs=1e-4)
    # Hedges' g by hand: pooled sd 1.3957, d = -2.125 / 1.3957 = -1.5225, correction 1 - 3 / (4 * 8 - 9).
    assert sig.hedges_g == pytest.approx(-1.5225 * (1 - 3 / 23), abs=1e-4)
    assert sig.p_holm == sig.p_value  # one baseline: a family of one
    assert sig.verdict == "no significant difference (Holm-adjusted p >= 0.05)"
    # the seeds a t-test needs to detect |g| with 80% power: statsmodels' solution, rounded up
    from statsmodels.stats.power import TTestIndPower

    assert sig.seeds_needed == math.ceil(TTestIndPower().solve_power(effect_size=abs(sig.hedges_g), alpha=0.05,
                                                                     power=0.8))  # fmt: skip


def test_holm_is_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04])
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], rel=1e-12)
    with_nan = holm([0.02, np.nan, 0.01])  # an untested pair is no member of the family
    assert math.isnan(with_nan[1]) and with_nan[[0, 2]] == pytest.approx(multipletests([0.02, 0.01], method="holm")[1])


def test_significance_verdicts_read_the_holm_adjusted_p_over_the_baselines_of_a_metric():
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    scores = {"new": [1.0, 2.0, 3.0, 4.0], "b1": [4.0, 4.5, 5.0, 5.5], "b2": [2.0, 3.0, 3.5, 4.5],
              "b3": [0.5, 2.5, 3.0, 4.5]}  # fmt: skip
    rows = [{"model": m, "fingerprint": "f", "status": "complete", "fd": v} for m, vals in scores.items() for v in vals]
    sig = significance(pd.DataFrame(rows), "new", "f").set_index("baseline")
    raw = [stats.ttest_ind(scores["new"], scores[b], equal_var=False).pvalue for b in ("b1", "b2", "b3")]
    assert list(sig.loc[["b1", "b2", "b3"], "p_value"]) == pytest.approx(raw, rel=1e-10)
    holm_p = multipletests(raw, method="holm")[1]
    assert list(sig.loc[["b1", "b2", "b3"], "p_holm"]) == pytest.approx(holm_p, rel=1e-10)
    # b1 differs at p < 0.05 alone, not once the three comparisons are accounted for
    assert raw[0] < 0.05 <= holm_p[0] and sig.loc["b1", "verdict"].startswith("no significant difference")


def test_significance_of_a_target_metric_is_judged_by_the_distance_from_its_target():
    # C_T: about 0 when generalising, positive when underfitting. A new model at ct ~1 against a baseline at
    # ~8 is lower and better (nearer 0); one at ~15 is higher and worse, however "higher" reads elsewhere.
    rows = [{"model": "base", "fingerprint": "f", "status": "complete", "ct": v} for v in (7.9, 8.1, 8.0)]
    for name, vals in {"near": (0.9, 1.1, 1.0), "far": (14.9, 15.1, 15.0)}.items():
        rows += [{"model": name, "fingerprint": "f", "status": "complete", "ct": v} for v in vals]
    board = pd.DataFrame(rows)
    near = significance(board[board.model != "far"], "near", "f").iloc[0]
    far = significance(board[board.model != "near"], "far", "f").iloc[0]
    assert near.p_value < 0.05 and near.verdict == "new model better"
    assert far.p_value < 0.05 and far.verdict == "new model worse"


# A 2D dataset whose points are a file under the data root, read by the real root lookup
# (--data-root, else $GANBENCH_DATA): a real-data loader as cheap to score as ring8.
FILE_SET = DatasetInfo("ring8-file", "points2d", (2,), 8, "test", "ring8 points read from <data root>/ring8-file.npz")
FILE_SUITE = """
name = "file-set"
seeds = [0]
models = ["gan"]
datasets = ["ring8-file"]
[train.points2d]
steps = 20
log_every = 10
checkpoint_every = 20
eval_every = 0
"""


def _load_file_set(data_root=None, download=False) -> Dataset:
    path = Path(resolve_data_root(data_root)) / "ring8-file.npz"
    if not path.is_file():
        raise UserError(f"ring8-file: {path} not found; pass --data-root")
    t = {k: torch.from_numpy(v) for k, v in np.load(path).items()}
    return Dataset(FILE_SET, t["train"], t["test"], t["train_labels"], t["test_labels"], ring_centers(8, 1.0), 0.01)


@pytest.fixture
def file_set():
    register_dataset(FILE_SET)(_load_file_set)
    yield
    DATASETS.unregister(FILE_SET.name)


def test_cli_compare_data_root_reaches_every_dataset_load(file_set, tmp_path, monkeypatch, capsys):
    """The dataset's file is under --data-root only ($GANBENCH_DATA is an empty folder): the baselines,
    the real-data row and the samples file are all scored on its 300 test points."""
    root, empty = tmp_path / "data", tmp_path / "empty"
    root.mkdir()
    empty.mkdir()
    train, train_labels = sample_mixture(ring_centers(8, 1.0), 0.01, 3000, seed=1)
    test, test_labels = sample_mixture(ring_centers(8, 1.0), 0.01, 300, seed=2)
    np.savez(root / "ring8-file.npz", train=train, test=test, train_labels=train_labels, test_labels=test_labels)
    monkeypatch.setenv("GANBENCH_DATA", str(empty))
    suite = tmp_path / "file-set.toml"
    suite.write_text(FILE_SUITE)
    samples = tmp_path / "points.npy"
    np.save(samples, train[:2500])  # training points: a perfect "model", as many samples as a model's score uses
    argv = ["compare", str(samples), "--dataset", "ring8-file", "--suite", str(suite), "--runs", str(tmp_path / "runs"),
            "--jobs", "1", "--device", "cpu", "--eval-seed", "3"]  # fmt: skip

    assert cli.main([*argv, "-o", str(tmp_path / "without")]) == 2
    assert f"{empty / 'ring8-file.npz'} not found" in capsys.readouterr().err  # the default root, not ours

    assert cli.main([*argv, "-o", str(tmp_path / "out"), "--data-root", str(root)]) == 0
    board = pd.read_csv(tmp_path / "out" / "leaderboard.csv")
    assert set(board.model) == {"gan", "real-data", "user-points"}
    assert board.set_index("model").fingerprint["gan"] == board.set_index("model").fingerprint["user-points"]
    for scores in [tmp_path / "runs/ring8-file/gan/seed-0/scores.json",
                   tmp_path / "runs/ring8-file/_reference/scores.json",
                   tmp_path / "out/runs/ring8-file/user-points/seed-0/scores.json"]:  # fmt: skip
        (score,) = files.read_json(scores).values()
        protocol = score["fingerprint"]["protocol"]
        assert (protocol["dataset"], protocol["n_real"], protocol["eval_seed"]) == ("ring8-file", 300, 3)


def test_a_new_model_trains_under_the_budget_most_baselines_share():
    # The standard suite on digits: the GAN, LSGAN, PacGAN, VAE and AE at 3,500 steps, hinge-SN and WGAN-GP
    # at their own 7,000 (baselines/): a new model gets the dataset's 3,500, whatever the job order.
    suite = load_suite("standard", datasets=["digits"], seeds=[0])
    steps = sorted(j.config.train.steps for j in suite.jobs)
    assert steps.count(3500) > len(steps) / 2 and max(steps) > 3500
    assert dataset_budget(suite).steps == 3500
    late = dataclasses.replace(suite, jobs=tuple(sorted(suite.jobs, key=lambda j: -j.config.train.steps)))
    assert late.jobs[0].config.train.steps > 3500 and dataset_budget(late).steps == 3500

"""The ``run``, ``leaderboard``, ``report`` and ``compare`` commands end to end on a tiny suite.

One suite (gan and vae on ring8 and digits, 2 seeds, tens of steps) is run once through the real CLI
with ``--report``; the other commands then read its runs folder. Numbers in the CSV are checked against
the runs' own ``scores.json`` files, read here, and the ranks against the documented ranking rule.
"""

import base64
import contextlib
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("gan", "vae")
DATASETS = ("digits", "ring8")
SEEDS = (0, 1)
PNG = b"\x89PNG\r\n\x1a\n"
SUITE = f"""
name = "e2e"
seeds = {list(SEEDS)}
models = {list(MODELS)}
datasets = {list(DATASETS)}

[train.points2d]
steps = 40
eval_every = 20
checkpoint_every = 20
log_every = 20

[train.image]
steps = 20
eval_every = 10
checkpoint_every = 10
log_every = 10
"""


def cli(*args) -> tuple[int, str, str]:
    """``ganbench ARGS`` in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory):
    """``ganbench run --suite FILE --out RUNS --report REPORT``, once for the module."""
    root = tmp_path_factory.mktemp("e2e")
    suite = root / "e2e.toml"
    suite.write_text(SUITE, encoding="utf-8")
    runs, report = root / "runs", root / "report"
    code, out, err = cli("run", "--suite", suite, "--out", runs, "--report", report, "--jobs", 2, "--device", "cpu")
    assert code == 0, err
    assert "0 failed" in err, err  # a failed job's error is in the log: show it rather than a missing row
    return {"suite": suite, "runs": runs, "report": report, "stdout": out, "stderr": err}


def _scores(runs: Path, dataset: str, model: str) -> list[dict]:
    """The metrics of each seed's single stored score, read straight from the run folders."""
    out = []
    for seed in SEEDS:
        stored = pd.read_json(runs / dataset / model / f"seed-{seed}" / "scores.json", typ="series")
        assert len(stored) == 1  # one protocol
        out.append(stored.iloc[0]["metrics"])
    return out


def _reference(runs: Path, dataset: str) -> dict:
    stored = pd.read_json(runs / dataset / "_reference" / "scores.json", typ="series")
    return stored.iloc[0]["metrics"]


def _png_data_uris(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)]


# -- run --report ----------------------------------------------------------------------------------


def test_run_prints_the_leaderboard_and_writes_the_report(suite_run):
    out, err, report = suite_run["stdout"], suite_run["stderr"], suite_run["report"]
    for ds in DATASETS:
        assert f"### {ds}" in out
        for model in MODELS:  # each model's row with the number of seeds it ran
            assert re.search(rf"^\|\s*{ds}\s*\|\s*{model}\s*\|\s*{len(SEEDS)}\s*\|", out, re.M), out
        assert re.search(rf"^\|\s*{ds}\s*\|\s*real-data\s*\|", out, re.M)
    n_jobs = len(MODELS) * len(DATASETS) * len(SEEDS)
    assert f"suite e2e: {n_jobs} jobs, 0 already done" in err and f"{n_jobs} ran, 0 failed" in err
    assert f"report: {report / 'index.html'}" in err
    for name in ("index.html", "README.md", "leaderboard.csv"):
        assert (report / name).is_file()
    assert (report / "index.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_rerun_skips_every_finished_job(suite_run):
    code, _, err = cli("run", "--suite", suite_run["suite"], "--out", suite_run["runs"], "--jobs", 1, "--device", "cpu")
    n_jobs = len(MODELS) * len(DATASETS) * len(SEEDS)
    assert code == 0 and f"{n_jobs} jobs, {n_jobs} already done" in err and "0 ran, 0 failed" in err


# -- leaderboard -----------------------------------------------------------------------------------


def _ganbench_script() -> list[str]:
    """The installed console script beside this interpreter (``python -m ganbench.cli`` without one)."""
    script = Path(sys.executable).with_name("ganbench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ganbench.cli"]


@pytest.fixture(scope="module")
def board_csv(suite_run):
    """``ganbench leaderboard RUNS --format csv --rank-all`` through the console script, in a subprocess (the
    runs have 2 evaluations each, too few for a plateau verdict: without ``--rank-all`` nothing is ranked)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([*_ganbench_script(), "leaderboard", str(suite_run["runs"]), "--format", "csv", "--rank-all"],
                       capture_output=True, text=True, env=env, cwd=suite_run["runs"].parent, timeout=300)  # fmt: skip
    assert p.returncode == 0, p.stderr
    return pd.read_csv(io.StringIO(p.stdout))


def test_leaderboard_csv_has_one_row_per_run_group_and_the_real_data_row(board_csv):
    board = board_csv
    expected = {(ds, m) for ds in DATASETS for m in (*MODELS, "real-data")}
    assert len(board) == len(expected) and set(zip(board.dataset, board.model)) == expected
    runs = board[board.model != "real-data"]
    assert (runs.n_seeds == len(SEEDS)).all() and (runs.n_diverged == 0).all() and (runs.n_failed == 0).all()
    assert board[board.model == "real-data"]["rank"].isna().all()
    for col in ("dataset", "model", "n_seeds"):
        assert col in board.columns
    for metric in ("fd", "modes_covered"):  # the primary metrics of the two kinds of data
        for suffix in ("mean", "std", "ci95_low", "ci95_high"):
            assert f"{metric}_{suffix}" in board.columns


def test_leaderboard_csv_numbers_are_the_seed_statistics_of_the_stored_scores(suite_run, board_csv):
    runs = suite_run["runs"]
    for ds, metrics in (("digits", ("fd", "kid", "precision", "mode_kl")), ("ring8", ("modes_covered", "hq_fraction"))):
        for model in MODELS:
            row = board_csv[(board_csv.dataset == ds) & (board_csv.model == model)].iloc[0]
            for m in metrics:
                vals = np.array([s[m] for s in _scores(runs, ds, model)], dtype=float)
                assert row[f"{m}_mean"] == pytest.approx(vals.mean(), rel=1e-12, abs=1e-12)
                assert row[f"{m}_std"] == pytest.approx(abs(vals[0] - vals[1]) / math.sqrt(2), rel=1e-9, abs=1e-12)
                # Two seeds: the Student-t interval of the mean, mean -+ t(0.975, 1) * sd / sqrt(2), with
                # sd / sqrt(2) = |a - b| / 2 and t(0.975, 1) = 12.706205 (Student's t table).
                # Cut to the metric's range: fractions to [0, 1], FD, counts and KLs at 0, KID open.
                half = 12.706205 * abs(vals[0] - vals[1]) / 2
                low, high = {"fd": (0, None), "kid": (None, None), "precision": (0, 1), "mode_kl": (0, None),
                             "modes_covered": (0, None), "hq_fraction": (0, 1)}[m]  # fmt: skip
                expected = (vals.mean() - half if low is None else max(low, vals.mean() - half),
                            vals.mean() + half if high is None else min(high, vals.mean() + half))
                ci = (row[f"{m}_ci95_low"], row[f"{m}_ci95_high"])
                assert ci == pytest.approx(expected, rel=1e-6, abs=1e-12)
        ref = board_csv[(board_csv.dataset == ds) & (board_csv.model == "real-data")].iloc[0]
        for m in metrics:
            assert ref[f"{m}_mean"] == pytest.approx(_reference(runs, ds)[m])


def _better(a: pd.Series, b: pd.Series, keys: list[tuple[str, bool]]) -> bool:
    """Whether row a beats row b by the documented rule: the first key that differs decides."""
    for key, higher_is_better in keys:
        x, y = a[f"{key}_mean"], b[f"{key}_mean"]
        if x != y:
            return x > y if higher_is_better else x < y
    return False


def test_leaderboard_ranks_follow_the_documented_rule_within_each_dataset(board_csv):
    # README: by fd (lower is better) on image sets; on 2D sets by hq_coverage, then modes covered, the
    # high-quality fraction and the reverse KL.
    rules = {"digits": [("fd", False)], "ring8": [("hq_coverage", True), ("modes_covered", True),
                                                  ("hq_fraction", True), ("reverse_kl", False)]}  # fmt: skip
    for ds, keys in rules.items():
        rows = board_csv[(board_csv.dataset == ds) & (board_csv.model != "real-data")]
        for _, row in rows.iterrows():
            expected = 1 + sum(_better(other, row, keys) for _, other in rows.iterrows())
            assert row["rank"] == expected, (ds, row.model)
        assert min(rows["rank"]) == 1 and set(rows["rank"]) <= set(range(1, len(rows) + 1))


def test_rows_without_a_plateau_verdict_are_not_ranked_by_default(suite_run, board_csv):
    # Two evaluations per run: every row's verdict is "unknown", so the default leaderboard ranks none and
    # shows "—" in their rank cells; the verdicts are those of the --rank-all board.
    code, out, err = cli("leaderboard", suite_run["runs"], "--format", "csv")
    assert code == 0, err
    board = pd.read_csv(io.StringIO(out))
    assert board["rank"].isna().all()
    models = board[board.model != "real-data"]
    assert (models.plateaued == "unknown").all() and (board_csv[board_csv.model != "real-data"].plateaued == "unknown").all()
    code, md, err = cli("leaderboard", suite_run["runs"])
    assert code == 0 and md.count("| —") == len(models), md


def test_leaderboard_formats(suite_run, board_csv):
    runs = suite_run["runs"]
    code, md, _ = cli("leaderboard", runs)  # md is the default
    assert code == 0 and "### digits" in md and "### ring8" in md and "fd ↓" in md and "modes_covered ↑" in md
    code, html, _ = cli("leaderboard", runs, "--format", "html")
    assert code == 0 and "<h3>digits</h3>" in html and html.count("<table") == len(DATASETS)
    code, latex, _ = cli("leaderboard", runs, "--format", "latex")
    assert code == 0 and "\\begin{tabular}" in latex and "$\\pm$" in latex and "$\\downarrow$" in latex
    for text in (md, html, latex):
        for model in (*MODELS, "real-data"):
            assert model in text
    code, csv, _ = cli("leaderboard", runs, "--format", "csv", "--rank-all")
    assert code == 0
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(csv)), board_csv)
    # the report's leaderboard.csv is the default table: the same, but ranking only plateaued rows (none here)
    pd.testing.assert_frame_equal(pd.read_csv(suite_run["report"] / "leaderboard.csv"),
                                  board_csv.assign(rank=np.nan, rank_best=np.nan, rank_worst=np.nan))


# -- report ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report(suite_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report-cmd") / "report"
    code, stdout, err = cli("report", suite_run["runs"], "-o", out)
    assert code == 0, err
    assert stdout.strip() == str(out / "index.html")
    return out


def _digits_sample_grids(runs: Path) -> dict[str, set[bytes]]:
    return {m: {p.read_bytes() for p in (runs / "digits" / m).glob("seed-*/samples.png")} for m in MODELS}


def test_report_html_embeds_the_image_datasets_sample_grids(suite_run, report):
    page = (report / "index.html").read_text(encoding="utf-8")
    pngs = _png_data_uris(page)
    assert pngs and all(p.startswith(PNG) for p in pngs)
    for model, grids in _digits_sample_grids(suite_run["runs"]).items():
        assert grids and grids & set(pngs), f"no sample grid of {model} on digits embedded in index.html"
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)  # self-contained


def test_report_readme_links_existing_pngs_including_the_sample_grids(suite_run, report):
    readme = (report / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert links
    linked = set()
    for link in links:
        path = report / link
        assert path.is_file(), link
        assert path.read_bytes().startswith(PNG)
        linked.add(path.read_bytes())
    for model, grids in _digits_sample_grids(suite_run["runs"]).items():
        assert grids & linked, f"README.md links no sample grid of {model} on digits"
    for ds in DATASETS:
        assert f"Dataset {ds}" in readme


# -- compare ---------------------------------------------------------------------------------------


def test_compare_places_the_example_plugin_among_the_baselines(suite_run, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # as in the README: the plugin module is importable from the current directory
    monkeypatch.syspath_prepend(str(ROOT))
    out = tmp_path / "compare"
    code, stdout, err = cli("compare", "scripts.example_plugin:build_tiny_gan", "--dataset", "ring8", "-o", out,
                            "--runs", suite_run["runs"], "--suite", suite_run["suite"], "--jobs", 1,
                            "--device", "cpu")  # fmt: skip
    assert code == 0, err
    n = len(MODELS) * len(SEEDS)  # the baselines on ring8: reused, not retrained
    assert f"suite e2e: {n} jobs, {n} already done" in err and "0 ran, 0 failed" in err
    label = "user-build_tiny_gan"
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board.model) == {*MODELS, "real-data", label} and set(board.dataset) == {"ring8"}
    mine = board[board.model == label].iloc[0]
    # Trained for the baselines' 40 steps with 2 evaluations: too few to tell a plateau, so not ranked.
    assert mine.n_seeds == len(SEEDS) and math.isnan(mine["rank"]) and mine.plateaued == "unknown"
    # the plugin's scores are those stored in its own runs, trained with the baselines' seeds and budget
    vals = [s["modes_covered"] for s in _scores(out / "runs", "ring8", label)]
    assert mine.modes_covered_mean == pytest.approx(np.mean(vals))
    cfg = pd.read_json(out / "runs" / "ring8" / label / "seed-1" / "config.json", typ="series")
    assert cfg["train"]["steps"] == 40 and cfg["seed"] == 1
    # the baselines' rows are the suite's rows
    code, csv, _ = cli("leaderboard", suite_run["runs"], "--format", "csv")
    base = pd.read_csv(io.StringIO(csv)).set_index(["dataset", "model"]).loc["ring8"]
    for model in MODELS:
        assert board[board.model == model].iloc[0].modes_covered_mean == base.loc[model, "modes_covered_mean"]
    sig = pd.read_csv(out / "significance.csv")
    assert set(sig.baseline) == set(MODELS)
    assert set(sig.metric) == {"hq_coverage", "modes_covered", "hq_fraction", "reverse_kl", "authenticity", "ct",
                               "nn_ratio"}  # every metric the 2D protocol reports
    assert (sig.n_new == len(SEEDS)).all() and (sig.n_baseline == len(SEEDS)).all()
    assert sig.mean_new[sig.metric == "modes_covered"].tolist() == pytest.approx([np.mean(vals)] * len(MODELS))
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert stdout == readme + "\n"  # the command prints the README it wrote
    assert label in readme and all(f"| {m} " in readme for m in MODELS) and "Welch" in readme


# -- user errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--suite", "nope"], r"unknown suite 'nope'"),
        (["run", "--suite", "{tmp}/missing.toml"], r"--suite .*missing\.toml: No such file"),
        (["leaderboard", "{tmp}/missing"], r"runs folder .*missing does not exist"),
        (["report", "{tmp}/missing", "-o", "{tmp}/out"], r"runs folder .*missing does not exist"),
        (["leaderboard", "{tmp}", "--format", "xml"], r"invalid choice: 'xml'"),
        (["run", "--format", "xml"], r"invalid choice: 'xml'"),
        (["compare", "no_such_module_zz:build", "--dataset", "ring8", "-o", "{tmp}/out"],
         r"cannot import module 'no_such_module_zz'"),
        (["compare", "scripts.example_plugin:nope", "--dataset", "ring8", "-o", "{tmp}/out"],
         r"module 'scripts.example_plugin' has no attribute 'nope'"),
        (["compare", "scripts.example_plugin:build_tiny_gan", "--dataset", "rign8", "-o", "{tmp}/out"],
         r"Unknown dataset 'rign8'\. Did you mean: ring8"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_one_line_and_no_traceback(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
    code, out, err = cli(*[a.format(tmp=tmp_path) for a in args])
    assert code == 2 and out == ""
    assert err.startswith("ganbench: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert re.search(message, err), err
    assert not (tmp_path / "out").exists()  # nothing written

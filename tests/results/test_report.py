"""The HTML/Markdown report of a small, really trained runs folder."""

import dataclasses
import re

import pandas as pd
import pytest

from ganbench.runs import files
from ganbench.results.report import write_report
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    suite = load_suite("quick", models=["gan", "vae"], datasets=["ring8"], seeds=[0, 1])
    budget = {"steps": 60, "eval_every": 20, "checkpoint_every": 30, "log_every": 20}
    short = [dataclasses.replace(j, config=dataclasses.replace(j.config, train=j.config.train.replace(**budget)))
             for j in suite.jobs]  # fmt: skip
    run_suite(dataclasses.replace(suite, jobs=tuple(short)), RunOptions(runs, device="cpu"), jobs=1, log=lambda *a: None)
    # A failed run beside them: listed with its error, absent from the ranks.
    broken = runs / "ring8" / "broken" / "seed-0"
    cfg = files.read_json(runs / "ring8" / "gan" / "seed-0" / "config.json")
    files.atomic_write_json(broken / "config.json", {**cfg, "name": "broken"})
    files.atomic_write_json(broken / "result.json", {"status": "failed", "error": "RuntimeError: boom in the critic"})
    out = tmp_path_factory.mktemp("report")
    index = write_report(runs, out)
    return index, out


def test_index_is_self_contained_with_leaderboard_rows(report):
    index, out = report
    assert index == out / "index.html"
    page = index.read_text(encoding="utf-8")
    board = page[page.index("<h3>Leaderboard</h3>"):page.index("<h3>Metrics during training</h3>")]
    for model in ("gan", "vae", "real-data"):
        assert f"<td>{model}</td>" in board
    assert "modes_covered ↑" in board and "reverse_kl ↓" in board and "train time (s)" in board
    assert page.count("data:image/png;base64,") >= 4
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<script" not in page and "<link" not in page
    assert "boom in the critic" in page  # the failed run and its reason
    assert "Fingerprint " in page and "git commit" in page


def test_readme_links_existing_pngs(report):
    _, out = report
    readme = (out / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert len(links) >= 4
    for link in links:
        assert link.endswith(".png") and "/" not in link and (out / link).is_file()
        assert (out / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| gan" in readme and "real-data" in readme


def test_leaderboard_csv_is_the_full_numeric_table(report):
    _, out = report
    board = pd.read_csv(out / "leaderboard.csv")
    for col in ("dataset", "model", "n_seeds", "modes_covered_mean", "modes_covered_ci95_low", "train_time_s_mean"):
        assert col in board.columns
    assert set(board["model"]) >= {"gan", "vae", "real-data"}
    assert board.loc[board["model"] == "gan", "n_seeds"].item() == 2

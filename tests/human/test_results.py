"""A study's scores in the leaderboard (a human column) and in the report (a short section)."""

import shutil

import pytest

from ganbench.human.judgments import JudgmentLog
from ganbench.human.order import next_item, rater_order
from ganbench.human.scoring import wilson_interval
from ganbench.results.leaderboard import format_leaderboard, leaderboard
from ganbench.results.report import write_report


@pytest.fixture
def judged(study, runs):
    """The runs beside a study in which rater "ok" judged gan's images and the real ones real, vae's fake."""
    root = study.path.parent.parent
    shutil.copytree(runs / "digits", root / "digits")
    data = study.read_study()
    kind = {it["id"]: it for it in data["items"]}
    order = rater_order(data, "ok")
    log = JudgmentLog(study.judgments)
    for item in order:
        it = kind[item]
        answer = "real" if it["kind"] == "real" or it["model"] == "gan" else "fake"
        assert log.append_next("ok", item, answer, 700, lambda done: next_item(order, done))[0]
    return root


def test_leaderboard_has_a_human_column_with_wilson_intervals(judged):
    board = leaderboard(judged)
    rows = board.set_index("model")
    assert rows.loc["gan", "human_rate"] == 1.0 and rows.loc["vae", "human_rate"] == 0.0
    assert rows.loc["real-data", "human_rate"] == 1.0 and rows.loc["gan", "human_judgments"] == 3
    low, high = wilson_interval(3, 3)
    assert (rows.loc["gan", "human_ci95_low"], rows.loc["gan", "human_ci95_high"]) == pytest.approx((low, high))
    assert rows.loc["gan", "human_fingerprint"] == rows.loc["vae", "human_fingerprint"]
    table = format_leaderboard(board, "md")
    assert "human ↑" in table and f"1.00 [{low:.2f}, 1.00]" in table and f"0.00 [0.00, {1 - low:.2f}]" in table
    assert "human_ci95_low" in format_leaderboard(board, "csv")


def test_leaderboard_without_a_study_has_no_human_column(runs):
    assert "human_rate" not in leaderboard(runs).columns


def test_report_has_a_human_evaluation_section(judged, tmp_path):
    write_report(judged, tmp_path / "report")
    md = (tmp_path / "report" / "README.md").read_text()
    section = md[md.index("### Human evaluation"):]
    assert "1 raters, 9 judgments; 0 raters excluded" in section and "HYPE-infinity" in section
    assert "| gan " in section and "real (the ceiling)" in section
    assert "Human evaluation" in (tmp_path / "report" / "index.html").read_text()

"""scripts/publish_standard.py: the published standard-suite report's header is the run's own measurement."""

from scripts.publish_standard import header, publish

ENV = {"versions": {"torch": "2.14.1", "python": "3.11.7"}, "device": {"type": "cpu", "name": "x86_64", "threads": 1},
       "git_commit": "0123456789abcdef", "cores": 2}  # fmt: skip


def test_header_says_end_to_end_only_when_every_job_ran():
    whole = "\n".join(header("standard", 5267.4, 84, 84, 0, ENV, "2026-12-01", [0, 1, 2]))
    assert whole.startswith("# ganbench report: the standard suite, measured end to end\n")
    assert "**5,267 s wall (87.8 minutes), 84 jobs: 84 ran, 0 failed**" in whole
    assert "x86_64, 2 cores, torch 2.14.1" in whole and "commit 0123456" in whole and "seeds 0, 1, 2;" in whole
    part = "\n".join(header("standard", 1326, 84, 15, 0, ENV, "2026-12-01", [0, 1, 2]))
    assert "measured end to end" not in part
    assert "84 jobs: 15 ran, 0 failed, 69 found finished (not timed)" in part
    assert "not of the whole suite" in part
    failed = "\n".join(header("standard", 100, 84, 83, 1, ENV, "2026-12-01", [0, 1, 2]))
    assert "measured end to end" not in failed and "83 ran, 1 failed" in failed


def test_publish_copies_the_report_under_the_header_without_index_html(tmp_path):
    report, dest = tmp_path / "report", tmp_path / "dest"
    report.mkdir()
    (report / "README.md").write_text("# ganbench report\n\nRuns folder: runs.\n\n| a |\n")
    (report / "index.html").write_text("<html></html>")
    (report / "leaderboard.csv").write_text("dataset,model\nring8,gan\n")
    (report / "ring8_samples.png").write_bytes(b"\x89PNG...")
    dest.mkdir()
    (dest / "leaderboard.csv").write_text("old")
    publish(report, dest, ["# ganbench report: the standard suite", "", "Measured.", ""])
    want = "# ganbench report: the standard suite\n\nMeasured.\n\nRuns folder: runs.\n\n| a |\n"
    assert (dest / "README.md").read_text() == want
    assert not (dest / "index.html").exists()
    assert (dest / "leaderboard.csv").read_text() == "dataset,model\nring8,gan\n"
    assert (dest / "ring8_samples.png").read_bytes() == b"\x89PNG..."


def test_the_published_suite_is_of_the_present_baselines():
    # reports/standard-suite/leaderboard.csv: every model row of the four embedded sets carries the budget
    # study's verdict, which the leaderboard gives only to runs whose configuration hash is the one the study
    # recorded, and those are the present baseline files' (tests/test_budget_study.py): a baseline changed
    # without the suite being published again leaves its row blank here and fails this test.
    from pathlib import Path

    import pandas as pd

    from ganbench.results.leaderboard import REFERENCE_MODEL, budget_verdicts

    board = pd.read_csv(Path(__file__).resolve().parent.parent / "reports" / "standard-suite" / "leaderboard.csv",
                        keep_default_na=False)  # fmt: skip
    rows = board[board.model != REFERENCE_MODEL]
    assert len(rows) == 28
    verdicts = budget_verdicts()
    want = {k: "justified" if v["justified"] == "yes" else "longer pays" if v["plateaued"] == v["longer_pays"] == "yes"
            else "not plateaued" for k, v in verdicts.items()}  # fmt: skip
    assert dict(zip(zip(rows.dataset, rows.model), rows.budget)) == want

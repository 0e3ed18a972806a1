"""scripts/reproduce_pacgan2d.py end to end on a tiny budget: the report's table counts each run once."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_report_counts_each_run_once_even_when_rescored(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from ganbench.evaluation.evaluate import evaluate_run
    from scripts.reproduce_pacgan2d import main

    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nbaselines_dir = "pacgan2d"\nseeds = [0]\n'
                     "[train.points2d]\nsteps = 20\neval_every = 0\ncheckpoint_every = 20\n")  # fmt: skip
    args = ["--suite", str(suite), "--out", str(tmp_path / "runs"), "--jobs", "1", "--report", str(tmp_path / "r.md")]
    assert main(args) == 0
    first = (tmp_path / "r.md").read_text()
    evaluate_run(tmp_path / "runs" / "ring8" / "gan" / "seed-0", eval_seed=1, device="cpu")  # a second protocol
    assert main(args) == 0
    again = (tmp_path / "r.md").read_text()
    row = next(line for line in again.splitlines() if line.startswith("| ring8 | gan |"))
    assert row.split("|")[3].strip() == "1"  # seeds: the re-scored run is not counted twice
    assert "8 jobs" in first and "8 jobs" in again
    assert [ln for ln in first.splitlines() if ln.startswith("| ring8")] == [
        ln for ln in again.splitlines() if ln.startswith("| ring8")]

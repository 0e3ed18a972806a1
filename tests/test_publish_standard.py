"""scripts/publish_standard.py: the published standard-suite report's header is the run's own measurement."""

import json
from pathlib import Path

import pandas as pd
import pytest

from ganbench.results.budgets import budget_verdicts, still_improving
from ganbench.results.leaderboard import REFERENCE_MODEL
from ganbench.runs.suite import load_suite
from scripts.publish_standard import header, main, publish, replace_changed

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
    board = pd.read_csv(Path(__file__).resolve().parent.parent / "reports" / "standard-suite" / "leaderboard.csv",
                        keep_default_na=False)  # fmt: skip
    rows = board[board.model != REFERENCE_MODEL]
    assert len(rows) == 28
    verdicts, improving = budget_verdicts(), still_improving()
    want = {k: ("borderline" if (*k, v["baseline"]) in improving else "justified") if v["justified"] == "yes"
            else "longer pays" if v["plateaued"] == v["longer_pays"] == "yes" else "not plateaued"
            for k, v in verdicts.items()}  # fmt: skip
    assert dict(zip(zip(rows.dataset, rows.model), rows.budget)) == want


def test_the_readmes_rank_ranges_are_the_published_suites():
    # README: with 3 seeds the five GAN objectives span ranks 1-5 on ring8, digits and stacked-digits, above the
    # VAE and autoencoder (6-7); on grid25 hinge-SN and PacGAN 1-3, GAN and LSGAN 3-5, VAE and AE 5-7, WGAN-GP 1-7.
    from ganbench.results.leaderboard import display_table
    from ganbench.results.ranking import rank_ranges

    board = pd.read_csv(Path(__file__).resolve().parent.parent / "reports" / "standard-suite" / "leaderboard.csv")
    best, worst = rank_ranges(board)  # the published columns follow from the published means, sds and counts
    pd.testing.assert_series_equal(best, board["rank_best"], check_names=False)
    pd.testing.assert_series_equal(worst, board["rank_worst"], check_names=False)
    shown = display_table(board)
    ranges = {(d, m): r for d, m, r in zip(shown.dataset, shown.model, shown["rank range"])}
    gans = ("gan", "hinge-sn", "lsgan", "pacgan", "wgan-gp")
    for dataset in ("ring8", "digits", "stacked-digits"):
        assert {ranges[(dataset, m)] for m in gans} == {"1-5"}, dataset
        assert {ranges[(dataset, m)] for m in ("vae", "ae")} <= {"6-7", "6", "7"}, dataset
    assert [ranges[("grid25", m)] for m in ("hinge-sn", "pacgan", "gan", "lsgan", "vae", "ae", "wgan-gp")] == [
        "1-3", "1-3", "3-5", "3-5", "5-7", "5-7", "1-7"]  # fmt: skip


def _suite_file(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nseeds = [0, 1]\nmodels = ["gan"]\ndatasets = ["ring8"]\n')
    return suite


def test_replace_changed_moves_only_runs_of_another_configuration(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path)))
    runs = tmp_path / "runs"
    old, present = (j.run_dir(runs).path for j in suite.jobs)
    old.mkdir(parents=True)
    (old / "job.json").write_text(json.dumps({"id": "ring8/gan/seed-0@000000000000", "status": "complete"}))
    (old / "metrics.jsonl").write_text("{}\n")
    present.mkdir(parents=True)
    (present / "job.json").write_text(json.dumps({"id": suite.jobs[1].id, "status": "complete"}))
    lines = []
    moved = replace_changed(suite, runs, log=lines.append)
    assert moved == [tmp_path / "runs.replaced" / "ring8" / "gan" / "seed-0"]
    assert (moved[0] / "metrics.jsonl").read_text() == "{}\n" and not old.exists()
    assert (present / "job.json").exists()  # the present configuration's run stays
    assert len(lines) == 1 and "000000000000" in lines[0] and suite.jobs[0].id in lines[0]
    assert replace_changed(suite, runs) == []  # nothing left to move
    # a second change of the same run would overwrite the first one moved aside: refused, nothing moved
    old.mkdir()
    (old / "job.json").write_text(json.dumps({"id": "ring8/gan/seed-0@111111111111", "status": "complete"}))
    with pytest.raises(FileExistsError, match="exists already"):
        replace_changed(suite, runs)
    assert (old / "job.json").exists()


def test_a_failed_job_publishes_nothing(tmp_path, capsys):
    suite_file = _suite_file(tmp_path)
    runs, dest = tmp_path / "runs", tmp_path / "published"
    for job in load_suite(str(suite_file)).jobs:  # folders of another configuration: the runner refuses them
        job.run_dir(runs).path.mkdir(parents=True)
        (job.run_dir(runs).path / "job.json").write_text(json.dumps({"id": job.id[:-12] + "0" * 12}))
    assert main(["--suite", str(suite_file), "--runs", str(runs), "--dest", str(dest), "--jobs", "1"]) == 1
    assert not dest.exists()
    assert "2 job(s) failed" in capsys.readouterr().err


def test_rescore_keeps_only_the_present_protocols_scores_and_moves_the_others(tmp_path):
    from ganbench.data import load_dataset
    from ganbench.evaluation.evaluate import evaluate_run, reference_scores
    from ganbench.evaluation.features import ProtocolExtractor
    from ganbench.evaluation.protocol import default_protocol, fingerprint
    from ganbench.runs.layout import ReferenceDir
    from ganbench.runs.options import RunOptions
    from ganbench.runs.suite import run_suite
    from scripts.publish_standard import rescore

    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text('name = "tiny"\nseeds = [0]\nmodels = ["gan"]\ndatasets = ["digits"]\n'
                          '[train.image]\nsteps = 20\neval_every = 10\n')
    suite, runs = load_suite(str(suite_file)), tmp_path / "runs"
    run_suite(suite, RunOptions(out=runs), jobs=1, log=lambda m: None)
    run = suite.jobs[0].run_dir(runs)
    # Scores under another protocol (as a change of protocol leaves them), beside the present one.
    evaluate_run(run.path, options={"kid_seed": 0})
    reference_scores("digits", runs, options={"kid_seed": 0})
    d = load_dataset("digits")
    present = fingerprint(default_protocol(d), ProtocolExtractor(d, default_protocol(d)).info(), d)["id"]
    before = json.loads(run.scores.read_text())
    assert len(before) == 2 and present in before
    lines = []
    assert rescore(suite, runs, {"digits"}, log=lines.append) == 1
    after = json.loads(run.scores.read_text())
    assert list(after) == [present]
    assert after[present]["metrics"] == before[present]["metrics"]  # scored again: the same numbers
    moved = tmp_path / "runs.replaced" / run.scores.relative_to(runs)
    assert json.loads(moved.read_text()) == before  # the whole file as it was
    ref = ReferenceDir.of(runs, "digits")
    assert len(json.loads(ref.scores.read_text())) == 1 and len(lines) == 2
    assert rescore(suite, runs, {"digits"}, log=lines.append) == 1 and len(lines) == 2  # nothing left to move
    evaluate_run(run.path, options={"kid_seed": 1})  # another change: its move would overwrite the first one
    with pytest.raises(FileExistsError, match="exists already"):
        rescore(suite, runs, {"digits"})
    assert len(json.loads(run.scores.read_text())) == 2  # nothing scored or moved


def test_splice_replaces_one_datasets_part_and_keeps_the_others(tmp_path):
    from scripts.publish_standard import splice

    def folder(name, fps, rows, png):
        d = tmp_path / name
        d.mkdir()
        sections = "".join(f"## Dataset {ds}\n\n{ds} text {name}\n\nScored under {fp}.\n\n" for ds, fp in fps.items())
        prints = "".join(f"### Fingerprint {fp}\n\n| field | {fp} |\n\n" for fp in sorted(set(fps.values())))
        (d / "README.md").write_text(f"# title\n\nheader {name}\n\n{sections}## Protocol\n\nintro\n\n{prints}"
                                     f"### Commands, commits and devices\n\n| {name} |\n")
        (d / "leaderboard.csv").write_text("dataset,model,fingerprint,fd_mean\n" + "".join(rows))
        for ds in fps:
            (d / f"{ds}_samples.png").write_bytes(png + ds.encode())
        return d

    dest = folder("old", {"digits": "aaa", "ring8": "rrr"}, ["digits,gan,aaa,6.1\n", "ring8,gan,rrr,\n"], b"old")
    report = folder("new", {"digits": "bbb"}, ["digits,gan,bbb,6.1\n", "digits,vae,bbb,26\n"], b"new")
    splice(report, dest, {"digits"})
    text = (dest / "README.md").read_text()
    assert text == ("# title\n\nheader old\n\n## Dataset digits\n\ndigits text new\n\nScored under bbb.\n\n"
                    "## Dataset ring8\n\nring8 text old\n\nScored under rrr.\n\n## Protocol\n\nintro\n\n"
                    "### Fingerprint bbb\n\n| field | bbb |\n\n### Fingerprint rrr\n\n| field | rrr |\n\n"
                    "### Commands, commits and devices\n\n| old |\n")  # fmt: skip
    assert (dest / "leaderboard.csv").read_text() == (
        "dataset,model,fingerprint,fd_mean\ndigits,gan,bbb,6.1\ndigits,vae,bbb,26\nring8,gan,rrr,\n")
    assert (dest / "digits_samples.png").read_bytes() == b"newdigits"
    assert (dest / "ring8_samples.png").read_bytes() == b"oldring8"
    with pytest.raises(ValueError, match="must be datasets of both reports"):
        splice(report, dest, {"ring8"})


def test_only_republishes_the_named_datasets_part(tmp_path, capsys):
    suite_file = tmp_path / "tiny2.toml"
    suite_file.write_text('name = "tiny2"\nseeds = [0]\nmodels = ["gan"]\ndatasets = ["ring8", "digits"]\n'
                          '[train.image]\nsteps = 20\neval_every = 10\n[train.points2d]\nsteps = 20\neval_every = 10\n')
    runs, dest = tmp_path / "runs", tmp_path / "published"
    assert main(["--suite", str(suite_file), "--runs", str(runs), "--dest", str(dest), "--jobs", "1"]) == 0
    readme = dest / "README.md"
    marked = readme.read_text().replace("## Dataset digits\n", "## Dataset digits\n\nMARK-DIGITS\n").replace(
        "## Dataset ring8\n", "## Dataset ring8\n\nMARK-RING8\n")
    readme.write_text(marked)
    argv = ["--suite", str(suite_file), "--runs", str(runs), "--dest", str(dest), "--jobs", "1"]
    assert main([*argv, "--only", "digits", "--rescore", "digits"]) == 0
    text = readme.read_text()
    assert "MARK-DIGITS" not in text and "MARK-RING8" in text  # digits' part replaced, ring8's kept
    assert text.startswith(marked[:marked.index("## Dataset digits")])  # the header as published
    out = capsys.readouterr().out
    assert "header to merge by hand:" in out and "rescored 1 runs of digits" in out

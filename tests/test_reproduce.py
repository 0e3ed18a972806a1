"""scripts/reproduce_pacgan2d.py end to end on a tiny budget (ring8, 10 iterations, evaluations every 2, seeds
0 and 1): the report's numbers against scipy and numpy on the runs' own files, re-scoring, partial results."""

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["gan", "pacgan2", "pacgan3", "pacgan4"]
SEEDS = [0, 1]
STEPS = 10  # PacGAN's 2D networks take about 70 ms a 2-seed step here: the runs' values are replaced below
EVAL_EVERY = 2  # five evaluations: the last-evaluations mean takes at least 5
DESIGN = {"gan": [5, 6], "pacgan2": [7, 8], "pacgan3": [3, 4], "pacgan4": [6, 8]}  # final modes per seed


def _final(runs: Path, model: str, metric: str) -> np.ndarray:
    """Per-seed final scores, read from each run's scores.json (its only score: eval seed 0)."""
    out = []
    for s in SEEDS:
        scores = json.loads((runs / "ring8" / model / f"seed-{s}" / "scores.json").read_text())
        (score,) = scores.values()
        out.append(score["metrics"][metric])
    return np.array(out, dtype=float)


def _last(runs: Path, model: str, metric: str) -> np.ndarray:
    """Per-seed mean of the evaluations in the last 10% of the steps (at least 5), from metrics.jsonl."""
    out = []
    for s in SEEDS:
        lines = (runs / "ring8" / model / f"seed-{s}" / "metrics.jsonl").read_text().splitlines()
        pts = sorted((r["step"], r["eval"][metric]) for r in map(json.loads, lines) if "eval" in r)
        steps, vals = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
        assert len(vals) >= 5  # the tiny budget gives a curve
        k = max(int(np.sum(STEPS - steps < 0.1 * STEPS)), 5)
        out.append(vals[-k:].mean())
    return np.array(out)


def _cell(report: str, first: str, col: int) -> str:
    row = next(ln for ln in report.splitlines() if ln.startswith(first))
    return row.split("|")[col].strip()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import sys

    sys.path.insert(0, str(ROOT))
    from scripts.reproduce_pacgan2d import main

    tmp = tmp_path_factory.mktemp("pacgan")
    suite = tmp / "tiny.toml"
    suite.write_text(f'name = "tiny"\nbaselines_dir = "pacgan2d"\nseeds = {SEEDS}\n[train.points2d]\n'
                     f"steps = {STEPS}\neval_every = {EVAL_EVERY}\ncheckpoint_every = {STEPS}\n")  # fmt: skip
    args = ["--suite", str(suite), "--out", str(tmp / "runs"), "--jobs", "1", "--report", str(tmp / "r.md"),
            "--datasets", "ring8"]  # fmt: skip
    assert main(args) == 0
    assert "| ring8 | gan | 2 |" in (tmp / "r.md").read_text()
    # 10 iterations leave every run at 0 modes and 0 HQ (no spread: every Welch test would be n/a), so the
    # runs' files get values with spread; the report is then made from them again, without training.
    rng = np.random.default_rng(0)
    for model, modes in DESIGN.items():
        for seed, m in zip(SEEDS, modes):
            run = tmp / "runs" / "ring8" / model / f"seed-{seed}"
            scores = json.loads((run / "scores.json").read_text())
            for score in scores.values():
                score["metrics"].update(modes_covered=m, hq_fraction=float(rng.uniform()))
            (run / "scores.json").write_text(json.dumps(scores))
            lines = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
            for r in lines:
                if "eval" in r:
                    r["eval"].update(modes_covered=int(rng.integers(0, 9)), hq_fraction=float(rng.uniform()))
            (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert main([*args, "--no-run"]) == 0
    return main, args, tmp


def test_table_welch_and_verdict_match_the_runs_files(tiny):
    _, _, tmp = tiny
    runs, report = tmp / "runs", (tmp / "r.md").read_text()
    assert "- ring8: 8 of 8 runs\n" in report and "grid25" not in report.split("## Table")[1].split("## Discussion")[0]
    # figures: one PNG per dataset, referenced from the report
    png = tmp / "r" / "ring8.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "(r/ring8.png)" in report
    # table: final and last-evaluations means over seeds, from scores.json and metrics.jsonl directly
    for model in MODELS:
        row = f"| ring8 | {model} |"
        assert _cell(report, row, 3) == "2"
        for col, metric, scale in ((4, "modes_covered", 1), (7, "hq_fraction", 100)):
            final, last = _final(runs, model, metric), _last(runs, model, metric)
            assert abs(float(_cell(report, row, col).split("±")[0]) - scale * final.mean()) <= 0.05 + 1e-9
            assert abs(float(_cell(report, row, col + 1).split("±")[0]) - scale * last.mean()) <= 0.05 + 1e-9
            assert abs(float(_cell(report, row, col).split("±")[1]) - scale * stats.sem(final)) <= 0.05 + 1e-9
    # Welch tests: t and p as scipy's on the per-run values
    n_checked = 0
    for model in MODELS[1:]:
        for metric in ("modes_covered", "hq_fraction"):
            for kind, read in (("final", _final), ("last evaluations", _last)):
                pac, gan = read(runs, model, metric), read(runs, "gan", metric)
                with np.errstate(all="ignore"):
                    ref = stats.ttest_ind(pac, gan, equal_var=False)
                row = f"| ring8 | {model} | {metric} | {kind} |"
                t, p = _cell(report, row, 8), _cell(report, row, 9)
                assert _cell(report, row, 5).endswith("(2)") and _cell(report, row, 6).endswith("(2)")
                for shown, want in ((t, ref.statistic), (p, ref.pvalue)):
                    if math.isnan(want):
                        assert shown == "n/a"
                    else:
                        assert float(shown) == pytest.approx(float(want), rel=1e-3, abs=1e-12)
                        n_checked += 1
    # the verdict's sign: the paper's ordering holds exactly when no PacGAN's mean is below the GAN's
    for kind, read in (("final scores", _final), ("last-evaluations means", _last)):
        diffs = {m: read(runs, m, "modes_covered").mean() - read(runs, "gan", "modes_covered").mean() for m in MODELS[1:]}
        sentence = re.search(rf"On the {kind}, the paper's ordering \(PacGAN >= GAN in modes covered\) (.*?)\.(?= On the |\n)",
                             report).group(1)  # fmt: skip
        if all(d >= 0 for d in diffs.values()):
            assert sentence.startswith("holds")
        else:
            assert sentence.startswith(("does not hold", "is inconclusive"))
        for m, d in diffs.items():
            assert f"{m} {d:+.2f}" in sentence
    assert n_checked == 3 * 2 * 2 * 2  # every test had spread
    # by design, pacgan3's final modes are below the GAN's (3.5 vs 5.5), p = 0.106 with n = 2 + 2
    assert "On the final scores, the paper's ordering (PacGAN >= GAN in modes covered) is inconclusive: pacgan3 has" in report


def test_old_scores_are_rescored_and_missing_runs_listed(tiny):
    from ganbench.evaluation.evaluate import evaluate_run

    main, args, tmp = tiny
    runs = tmp / "runs"
    before = (tmp / "r.md").read_text()
    evaluate_run(runs / "ring8" / "gan" / "seed-0", eval_seed=1, device="cpu")  # a second protocol: counted once
    # a run scored only under an older protocol: its one score moved to another fingerprint id
    path = runs / "ring8" / "pacgan2" / "seed-1" / "scores.json"
    scores = json.loads(path.read_text())
    (fp_id,) = scores
    path.write_text(json.dumps({"0ld-protocol-id": scores[fp_id]}))
    assert main([*args, "--no-run"]) == 0
    again = (tmp / "r.md").read_text()
    assert fp_id in json.loads(path.read_text())  # re-scored under the current protocol, not dropped
    assert "pacgan2/seed-1" in again.split("## Table")[0]
    row = lambda r, m: next(ln for ln in r.splitlines() if ln.startswith(f"| ring8 | {m} | "))
    assert row(before, "gan") == row(again, "gan")  # a second protocol's score is not counted twice
    assert _cell(again, "| ring8 | pacgan2 |", 3) == "2"  # the re-scored run is counted
    # partial results: a run without a result and a run never started
    (runs / "ring8" / "pacgan4" / "seed-1" / "result.json").unlink()
    shutil.rmtree(runs / "ring8" / "pacgan3" / "seed-0")
    assert main([*args, "--no-run"]) == 0
    part = (tmp / "r.md").read_text()
    assert "- ring8: 6 of 8 runs (missing: pacgan3 seed 0 not started; pacgan4 seed 1 running)" in part
    assert _cell(part, "| ring8 | pacgan4 |", 3) == "1" and "n/a" in _cell(part, "| ring8 | pacgan4 |", 4)


def test_ordering_verdict_rule():
    import sys

    sys.path.insert(0, str(ROOT))
    from scripts.reproduce_pacgan2d import ordering_verdict

    assert ordering_verdict({"pacgan2": (0.5, 0.01), "pacgan3": (0.0, math.nan)}).startswith(
        "holds: every PacGAN's mean modes >= the GAN's; significant (p < 0.05) for pacgan2;")
    assert ordering_verdict({"pacgan2": (0.5, 0.3)}).startswith("holds: every PacGAN's mean modes >= the GAN's; no diff")
    assert ordering_verdict({"pacgan2": (0.5, 0.3), "pacgan3": (-1.0, 0.2)}).startswith("is inconclusive: pacgan3 has")
    assert ordering_verdict({"pacgan2": (-2.0, 0.001), "pacgan3": (-1.0, 0.2)}).startswith(
        "does not hold: pacgan2 covers significantly fewer")
    assert ordering_verdict({}).startswith("is not testable")


def test_room_note_points_at_reverse_kl_when_the_gan_covers_every_mode():
    import sys

    sys.path.insert(0, str(ROOT))
    from scripts.reproduce_pacgan2d import room_note

    def test(model, metric, diff, p, gan):
        return {"dataset": "ring8", "model": model, "metric": metric, "kind": "final", "mean_gan": gan,
                "diff": diff, "p": p}  # fmt: skip

    # The GAN at 7.8 of 8 modes (within half a mode): the note names the reverse-KL differences.
    tests = [test("pacgan2", "modes_covered", 0.2, 0.37, 7.8), test("pacgan2", "reverse_kl", -0.28, 0.004, 0.31)]
    note = room_note(tests, "ring8", 8)
    assert note.startswith("The GAN itself covers 7.8 of 8 modes at this budget (the paper's GAN: 6.3 at 400,000")
    assert note.endswith("PacGAN - GAN: pacgan2 -0.28 (p = 0.004).")
    # At 7.4 the mode counts have room: no note; last-evaluations rows are not read.
    assert room_note([test("pacgan2", "modes_covered", 0.2, 0.37, 7.4)], "ring8", 8) == ""
    assert room_note([{**tests[0], "kind": "last evaluations"}], "ring8", 8) == ""


def test_training_note_names_models_not_trained_at_the_budget(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from scripts.reproduce_pacgan2d import training_note, training_stages

    # Every model plateaued and above half the paper's HQ % (ring8's at 20k): no note.
    assert training_note({"gan": ("plateaued", 0.874), "pacgan2": ("plateaued", 0.928)}, "ring8") == ""
    # A rising curve, or a flat one at 3% where the paper reaches 93.6%: the note lists every model.
    note = training_note({"gan": ("improving", 0.527), "pacgan4": ("plateaued", 0.030)}, "grid25")
    assert "gan 52.7% (the paper's 94.8%; improving by the plateau rule)" in note
    assert "pacgan4 3.0% (the paper's 93.6%; flat by the plateau rule)" in note
    assert "compares partly trained models" in note
    assert training_note({"pacgan4": ("plateaued", 0.030)}, "grid25") != ""

    # training_stages reads each run's HQ curve: one run rising 0.1 -> 0.6 over 10 evaluations (improving),
    # one flat at 0.03 (plateaued by the rule's absolute tolerance).
    for model, values in (("gan", [0.1 + 0.05 * i for i in range(10)]), ("pacgan4", [0.03] * 10)):
        run = tmp_path / "grid25" / model / "seed-0"
        run.mkdir(parents=True)
        lines = [json.dumps({"step": 1000 * (i + 1), "eval": {"hq_fraction": v}}) for i, v in enumerate(values)]
        (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    rows = pd.DataFrame({"dataset": ["grid25", "grid25"], "model": ["gan", "pacgan4"], "seed": [0, 0],
                         "hq_fraction": [0.55, 0.03]})  # fmt: skip
    stages = training_stages(tmp_path, rows, "grid25")
    assert stages == {"gan": ("improving", 0.55), "pacgan4": ("plateaued", 0.03)}

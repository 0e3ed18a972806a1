"""scripts/budget_study.py: only runs of a baseline's present configuration justify its budget; rankings at 1.5x."""

import dataclasses
import json
import shutil

import numpy as np
import torch

from ganbench.config import find_baseline
from ganbench.evaluation.tracking import tracker_for
from ganbench.training import train
from scripts.budget_study import (
    EXTEND,
    justified,
    justified_from,
    ranking_change,
    read_curves,
    study_suite,
    table_verdicts,
    verdicts_csv,
)


def _set(run, edit) -> None:
    path = run / "config.json"
    cfg = json.loads(path.read_text())
    edit(cfg)
    path.write_text(json.dumps(cfg))


def test_runs_of_another_configuration_are_left_out(tmp_path):
    # A real 20-step ring8 VAE run (an evaluation every 5 steps); its config.json then says it was trained
    # for the study's EXTEND x budget (evaluations as the baseline's), as a study run would be. Copies: one of an older code that recorded
    # no precision / channels_last (their defaults: still counted), one at another learning rate and one at
    # the old budget (both left out).
    base = find_baseline("vae", "ring8")
    short = dataclasses.replace(base, train=base.train.replace(steps=20, eval_every=5, checkpoint_every=20))
    train(short, 0, tmp_path, device="cpu", progress=False, tracker=tracker_for(short))
    run0 = tmp_path / "ring8" / "vae" / "seed-0"
    study = dataclasses.asdict(base.train.replace(steps=int(EXTEND * base.train.steps)))
    _set(run0, lambda c: c.update(train=study))
    finished = {**json.loads((run0 / "result.json").read_text()), "steps": study["steps"]}  # and its result too
    (run0 / "result.json").write_text(json.dumps(finished))
    for seed in (1, 2, 3):
        shutil.copytree(run0, run0.parent / f"seed-{seed}")
    _set(run0.parent / "seed-1", lambda c: [c["train"].pop(k) for k in ("precision", "channels_last")])
    _set(run0.parent / "seed-2", lambda c: c["model_params"].update(lr=c["model_params"]["lr"] * 2))
    _set(run0.parent / "seed-3", lambda c: c["train"].update(steps=base.train.steps))
    result = json.loads((run0.parent / "seed-1" / "result.json").read_text())
    (run0.parent / "seed-1" / "result.json").write_text(json.dumps({**result, "resumed_from": 10}))
    stale: list[str] = []
    resumed: dict = {}
    curves = read_curves(tmp_path, stale, resumed)
    assert resumed == {("ring8", "vae"): {1: 10}}  # a counted run continued from its checkpoint is listed
    assert set(curves) == {("ring8", "vae")}
    assert sorted(curves[("ring8", "vae")]) == [0, 1]
    assert curves[("ring8", "vae")][0][0].tolist() == [5, 10, 15, 20]
    assert stale == ["ring8/vae/seed-2", "ring8/vae/seed-3"]


def test_published_report_is_of_the_present_baselines():
    # reports/budgets.md justifies the budgets of the files in baselines/: each embedded baseline has its row,
    # at its present budget and configuration hash (a changed learning rate or step count leaves the row out
    # of date until the study is rerun).
    from pathlib import Path

    from ganbench.models import list_models
    from ganbench.runs.worker import Job
    from scripts.budget_study import DATASETS

    text = (Path(__file__).resolve().parent.parent / "reports" / "budgets.md").read_text()
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 13 and cells[0] in DATASETS:
            rows[(cells[0], cells[1])] = cells
    for dataset in DATASETS:
        for recipe in list_models():
            config = find_baseline(recipe.name, dataset)
            row = rows.get((dataset, recipe.name))
            assert row is not None, f"reports/budgets.md has no row for {dataset} / {recipe.name}"
            assert int(row[3]) == config.train.steps, (dataset, recipe.name, row[3])
            assert row[4] == f"`{Job(config, 0).config_hash}`", (dataset, recipe.name, row[4])


def test_committed_verdicts_are_the_published_reports():
    # baselines/budget-verdicts.csv (the leaderboard's budget column) is reports/budgets.md's table as data
    from pathlib import Path

    from ganbench.config import BASELINES_DIR
    from ganbench.results.budgets import VERDICTS_FILE

    text = (Path(__file__).resolve().parent.parent / "reports" / "budgets.md").read_text()
    assert (BASELINES_DIR / VERDICTS_FILE).read_text() == verdicts_csv(table_verdicts(text))


def test_every_embedded_budget_is_on_its_evaluation_grid():
    # A run evaluates every eval_every steps and at its last step. The study's 1.5x run, cut at the budget,
    # has the baseline's curve only when the budget is one of those steps: at 16,000 steps with an evaluation
    # every 600 a suite run ends with an evaluation at 16,000 that the cut curve lacks (it stops at 15,600),
    # and its plateau verdict can differ from the study's.
    from ganbench.models import list_models
    from scripts.budget_study import DATASETS

    trains = {(d, r.name): find_baseline(r.name, d).train for d in DATASETS for r in list_models()}
    assert [(k, t.steps, t.eval_every) for k, t in trains.items() if t.steps % t.eval_every] == []


def _flat(level_at_budget, level_after, budget=100):
    """A seed's curve: constant until the budget, then at another level for the 1.5x extension."""
    steps = np.arange(10, int(EXTEND * budget) + 1, 10)
    return steps, np.where(steps <= budget, level_at_budget, level_after).astype(float)


def test_ranking_change_names_the_pairs_that_swap_when_trained_longer():
    budgets = {("grid25", m): 100 for m in ("a", "b", "c")}
    # hq_coverage, higher is better: a leads at the budgets, b overtakes it in the extension; c stays last.
    group = {("grid25", "a"): {0: _flat(0.6, 0.6), 1: _flat(0.6, 0.6)},
             ("grid25", "b"): {0: _flat(0.5, 0.7), 1: _flat(0.5, 0.7)},
             ("grid25", "c"): {0: _flat(0.1, 0.2), 1: _flat(0.1, 0.2)}}
    (line,) = ranking_change("grid25", group, budgets)
    assert "At the budgets: a 0.6, b 0.5, c 0.1." in line and "At 1.5x: b 0.7, a 0.6, c 0.2." in line
    assert "Kendall's tau 0.33" in line  # 2 of 3 pairs concordant: (2 - 1) / 3
    assert "pairs that swap: a and b (0.6 and 0.5 at the budgets, 0.6 and 0.7 after)." in line
    # fd, lower is better: every model improving by the same amount keeps the order
    fd = {("digits", m): {0: _flat(lvl, lvl - 0.05), 1: _flat(lvl, lvl - 0.05)} for m, lvl in
          (("a", 0.6), ("b", 0.5), ("c", 0.1))}  # fmt: skip
    (line,) = ranking_change("digits", fd, {("digits", m): 100 for m in ("a", "b", "c")})
    assert "At the budgets: c 0.1, b 0.5, a 0.6." in line and "At 1.5x: c 0.05, b 0.45, a 0.55." in line
    assert line.endswith("Kendall's tau 1.00; no pair swaps.")


def test_justified_from_is_the_first_budget_plateaued_where_half_as_long_again_does_not_pay():
    # hq_coverage (higher is better) rising as step / 100 to 1 at step 100, then flat; evaluations every 10 steps
    # to 300. Worked by hand from the rules: at a budget of 110 the last 2 of 11 evaluations (1, 1) are 0.15
    # above the 2 before (0.8, 0.9), over the tolerance of 10% of 0.85: improving. At 120: 1, 1 against 0.9,
    # 1, within 10% of 0.95: plateaued; the last 10% of the steps, at least 5 evaluations (80..120), average
    # 0.94 and at 1.5 x 120 = 180 they average 1, a gain of 0.06 under 10% of 0.94: justified, and every later
    # budget the study can judge (to 300 / 1.5 = 200) is too. At 100 the gain to 150 is 1 - 0.8 = 0.2: not.
    steps = np.arange(10, 301, 10)
    curve = (steps, np.minimum(steps / 100, 1.0))
    curves = {0: curve, 1: curve, 2: curve}
    assert not justified("grid25", curves, 100) and not justified("grid25", curves, 110)
    assert justified("grid25", curves, 120)
    assert justified_from("grid25", curves) == 120
    # cut at 150 the study can judge budgets up to 100 only, none of them justified
    short = {s: (steps[steps <= 150], v[steps <= 150]) for s, (_, v) in curves.items()}
    assert justified_from("grid25", short) is None


def test_a_longer_study_of_chosen_rows_trains_them_only_at_that_multiple():
    suite = study_suite([0, 1], extend=3, rows=[("digits", "gan"), ("grid25", "vae")])
    got = {(j.config.dataset, j.config.name, j.seed): j.config.train.steps for j in suite.jobs}
    gan, vae = find_baseline("gan", "digits").train.steps, find_baseline("vae", "grid25").train.steps
    assert got == {("digits", "gan", 0): 3 * gan, ("digits", "gan", 1): 3 * gan,
                   ("grid25", "vae", 0): 3 * vae, ("grid25", "vae", 1): 3 * vae}  # fmt: skip


def test_study_continues_a_suites_finished_runs_into_the_study_runs_themselves(tmp_path):
    # The standard suite's runs at a baseline's budget, continued to the study's 1.5x from their final
    # checkpoints, are the study's runs bit for bit (same seeds, same stack, budget-independent schedule).
    from ganbench.runs.layout import RunDir
    from ganbench.runs.options import RunOptions
    from ganbench.runs.suite import Suite, run_suite
    from ganbench.runs.worker import Job
    from ganbench.training import load_checkpoint
    from scripts.budget_study import continue_suite_runs

    base = find_baseline("gan", "ring8")
    small = base.train.replace(steps=20, log_every=10, eval_every=5, checkpoint_every=10, eval_samples=500, lr_decay_steps=10)
    at_budget = dataclasses.replace(base, train=small)
    study = dataclasses.replace(base, train=small.replace(steps=int(EXTEND * 20)))
    quiet = {"jobs": 1, "log": lambda m: None}
    # a baseline whose rate decays over its whole length: its 20-step run is not the 30-step run's start
    whole = dataclasses.replace(at_budget, name="gan-whole", train=small.replace(lr_decay_steps=0))
    whole_study = dataclasses.replace(whole, train=whole.train.replace(steps=int(EXTEND * 20)))
    run_suite(Suite("suite", "", tuple(Job(c, s) for c in (at_budget, whole) for s in (0, 1))),
              RunOptions(tmp_path / "suite"), **quiet)  # fmt: skip
    assert (tmp_path / "suite" / "ring8" / "gan-whole" / "seed-0" / "job.json").exists()
    suite = Suite("budget-curves", "", tuple(Job(c, s) for c in (study, whole_study) for s in (0, 1)))
    copied = continue_suite_runs(tmp_path / "suite", tmp_path / "study", suite)
    assert copied == ["ring8/gan/seed-0", "ring8/gan/seed-1"]  # not the run whose rate depends on its length
    assert not list((tmp_path / "study").rglob("job.json"))
    assert continue_suite_runs(tmp_path / "suite", tmp_path / "study", suite) == []  # present runs left alone
    study_only = Suite("budget-curves", "", tuple(Job(study, s) for s in (0, 1)))
    run_suite(study_only, RunOptions(tmp_path / "study"), **quiet)
    run_suite(study_only, RunOptions(tmp_path / "whole"), **quiet)
    for seed in (0, 1):
        a, b = RunDir.of(tmp_path / "study", "ring8", "gan", seed), RunDir.of(tmp_path / "whole", "ring8", "gan", seed)
        assert json.loads(a.result.read_text())["resumed_from"] == 20
        assert a.metrics.read_bytes() == b.metrics.read_bytes()
        ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
        assert ka["step"] == kb["step"] == 30
        assert all(torch.equal(v, kb["model"]["modules"][k]) for k, v in ka["model"]["modules"].items())
        assert a.read_scores() == b.read_scores()


def test_a_longer_study_report_of_some_rows_with_its_figures_and_data(tmp_path):
    # Run folders as training writes them for a 3x study of two rows (config.json, metrics.jsonl's eval lines),
    # with curves of known shape: the report has their rows, lists the others as not studied, draws each
    # dataset's figure beside itself and keeps every seed's curve as CSV, value for value.
    import pandas as pd

    from ganbench.data import get_dataset_info
    from ganbench.models import get_recipe
    from ganbench.runs import files
    from scripts.budget_study import report

    suite = study_suite([0, 1], extend=3, rows=[("digits", "gan"), ("grid25", "gan")])
    written = {}
    for job in suite.jobs:
        c = job.config
        params = get_recipe(c.model).resolve(get_dataset_info(c.dataset).kind, c.model_params)
        run = tmp_path / "runs" / c.dataset / c.name / f"seed-{job.seed}"
        run.mkdir(parents=True)
        files.atomic_write_json(run / "config.json", {**dataclasses.replace(c, model_params=params).to_dict(),
                                                      "seed": job.seed})  # fmt: skip
        steps = np.arange(c.train.eval_every, c.train.steps + 1, c.train.eval_every)
        b = c.train.steps / 3  # the baseline's budget
        if c.dataset == "digits":  # fd falling until half the budget, flat after it
            values = 5 + 50 * np.clip(1 - steps / (b / 2), 0, None) + 0.01 * job.seed
            metric = "fd"
        else:  # hq_coverage still rising through the whole study
            values = 0.2 + 0.6 * steps / c.train.steps + 0.01 * job.seed
            metric = "hq_coverage"
        files.rewrite_jsonl(run / "metrics.jsonl", [{"step": int(s), "eval": {metric: float(v)}}
                                                    for s, v in zip(steps, values)])  # fmt: skip
        files.atomic_write_json(run / "result.json", {"status": "complete", "steps": c.train.steps})
        written[(c.dataset, c.name, job.seed)] = (steps, values)
    # a run still training (its result is the shorter run's it continues) is left out and listed
    still = tmp_path / "runs" / "digits" / "gan" / "seed-2"
    shutil.copytree(still.parent / "seed-1", still)
    files.atomic_write_json(still / "result.json", {"status": "complete", "steps": 10})
    out = tmp_path / "reports" / "budgets-longer.md"
    text = report(tmp_path / "runs", out, extend=3)
    assert text.startswith("# Training budgets justified by learning curves: a longer study (3x)")
    rows = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]: [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| digits") or line.startswith("| grid25")}  # fmt: skip
    assert set(rows) == {("digits", "gan"), ("grid25", "gan")}
    digits, grid = rows[("digits", "gan")], rows[("grid25", "gan")]
    assert digits[10] == "no" and digits[12] == "yes"  # flat from half the budget on: justified at it
    assert int(digits[3]) / 2 < int(digits[13]) <= int(digits[3])  # and from a step after the descent
    assert grid[10] == "yes" and grid[12] == "**no**" and grid[13] == "not within the study"  # rising to the end
    assert "- ring8 / gan" in text  # not studied here
    assert "not counted: digits/gan/seed-2." in text and digits[5] == "2"
    for dataset in ("digits", "grid25"):
        assert (out.parent / "budgets-longer" / f"curves_{dataset}.png").stat().st_size > 0
    table = pd.read_csv(out.parent / "budgets-longer" / "curves.csv")
    assert len(table) == sum(len(s) for s, _ in written.values())
    for (dataset, model, seed), (steps, values) in written.items():
        got = table[(table.dataset == dataset) & (table.model == model) & (table.seed == seed)]
        assert got.step.tolist() == steps.tolist() and got.value.tolist() == values.tolist()


def test_a_longer_run_cut_at_the_studys_length_is_the_study_run(tmp_path):
    # Real training: a 3x run of a tiny ring8 GAN (60 steps), cut at the 1.5x study's 30, gives the 30-step run's
    # curve value for value; a run whose rate decays over its whole length, or with no evaluation at the
    # study's last step, is not taken for it.
    from ganbench.runs.layout import RunDir
    from ganbench.runs.options import RunOptions
    from ganbench.runs.suite import Suite, run_suite
    from ganbench.runs.worker import Job
    from scripts.budget_study import _longer_curve, rows_in_longer

    base = find_baseline("gan", "ring8")
    small = base.train.replace(steps=30, log_every=10, eval_every=5, checkpoint_every=10, eval_samples=500,
                               lr_decay_steps=10)
    study = dataclasses.replace(base, train=small)
    longer = dataclasses.replace(base, train=small.replace(steps=60))
    whole = dataclasses.replace(base, name="gan-whole", train=small.replace(steps=60, lr_decay_steps=0))
    odd = dataclasses.replace(base, name="gan-odd", train=small.replace(steps=60, eval_every=7))
    quiet = {"jobs": 1, "log": lambda m: None}
    run_suite(Suite("s", "", tuple(Job(study, s) for s in (0, 1))), RunOptions(tmp_path / "study"), **quiet)
    run_suite(Suite("l", "", tuple(Job(c, s) for c in (longer, whole, odd) for s in (0, 1))),
              RunOptions(tmp_path / "long"), **quiet)  # fmt: skip
    for seed in (0, 1):
        want = eval_curves_of(RunDir.of(tmp_path / "study", "ring8", "gan", seed))
        got = _longer_curve(RunDir.of(tmp_path / "long", "ring8", "gan", seed), study, "hq_coverage")
        assert got[0].tolist() == want[0].tolist() == [5, 10, 15, 20, 25, 30]
        assert got[1].tolist() == want[1].tolist()
        for name, edit, reason in (("gan-whole", {"lr_decay_steps": 0}, "rate decays over 30, not 60 steps"),
                                   ("gan-odd", {"eval_every": 7}, "no evaluation at 30")):
            renamed = dataclasses.replace(study, name=name, train=study.train.replace(**edit))
            cut_run = _longer_curve(RunDir.of(tmp_path / "long", "ring8", name, seed), renamed, "hq_coverage")
            assert cut_run is None, reason
    # a run of the study's own length is read whole
    own = _longer_curve(RunDir.of(tmp_path / "study", "ring8", "gan", 0), study, "hq_coverage")
    assert own[1].tolist() == eval_curves_of(RunDir.of(tmp_path / "study", "ring8", "gan", 0))[1].tolist()
    suite = Suite("budget-curves", "", tuple(Job(study, s) for s in (0, 1, 2)))
    assert rows_in_longer(suite, [tmp_path / "long"]) == set()  # seed 2 has no longer run: the row is trained
    suite = Suite("budget-curves", "", tuple(Job(study, s) for s in (0, 1)))
    assert rows_in_longer(suite, [tmp_path / "long"]) == {("ring8", "gan")}


def eval_curves_of(run):
    from ganbench.evaluation.curves import eval_curves

    return eval_curves(run.path)["hq_coverage"]


def test_a_study_report_reads_rows_it_did_not_train_from_a_longer_study(tmp_path):
    # A 1.5x study with runs of digits/gan only, and a 3x study's runs of grid25/gan (and of digits/gan, not
    # read: the study has its own): the grid25 row comes from the longer runs cut at 1.5x its budget, listed.
    import pandas as pd

    from ganbench.data import get_dataset_info
    from ganbench.models import get_recipe
    from ganbench.runs import files
    from scripts.budget_study import report

    def write(folder, extend, rows, offset):
        for job in study_suite([0, 1], extend=extend, rows=rows).jobs:
            c = job.config
            params = get_recipe(c.model).resolve(get_dataset_info(c.dataset).kind, c.model_params)
            run = folder / c.dataset / c.name / f"seed-{job.seed}"
            run.mkdir(parents=True)
            files.atomic_write_json(run / "config.json", {**dataclasses.replace(c, model_params=params).to_dict(),
                                                          "seed": job.seed})  # fmt: skip
            steps = np.arange(c.train.eval_every, c.train.steps + 1, c.train.eval_every)
            metric = "fd" if c.dataset == "digits" else "hq_coverage"
            values = offset + 0.5 * steps / c.train.steps + 0.01 * job.seed
            files.rewrite_jsonl(run / "metrics.jsonl", [{"step": int(s), "eval": {metric: float(v)}}
                                                        for s, v in zip(steps, values)])  # fmt: skip
            files.atomic_write_json(run / "result.json", {"status": "complete", "steps": c.train.steps})

    write(tmp_path / "runs", EXTEND, [("digits", "gan")], 5)
    write(tmp_path / "long", 3, [("digits", "gan"), ("grid25", "gan")], 7)
    out = tmp_path / "reports" / "budgets.md"
    text = report(tmp_path / "runs", out, longer=[tmp_path / "long"], verdicts=tmp_path / "verdicts.csv")
    assert "## Rows read from a longer study" in text and "- grid25 / gan: `long`" in text
    assert "- digits / gan: `long`" not in text
    table = pd.read_csv(out.parent / "budgets" / "curves.csv")
    grid, digits = table[table.dataset == "grid25"], table[table.dataset == "digits"]
    budget = find_baseline("gan", "grid25").train.steps
    assert grid.step.max() == int(EXTEND * budget) and sorted(grid.seed.unique()) == [0, 1]
    assert digits.value.min() < 6  # the study's own runs (offset 5), not the longer study's (7)
    assert "| grid25 | gan |" in text and "- grid25 / gan\n" not in text  # studied, not listed as missing
    # the verdicts as data (the leaderboard's budget column) say what the table says
    written = pd.read_csv(tmp_path / "verdicts.csv", dtype=str).to_dict("records")
    assert written == [{k: str(v) for k, v in r.items()} for r in table_verdicts(text)]
    assert [(r["dataset"], r["model"]) for r in written] == [("grid25", "gan"), ("digits", "gan")]


def test_the_study_trains_the_dearest_rows_first():
    # the standard suite's order (grid25's 84,000-step hinge-SN first, then WGAN-GP), the ring8 control last
    jobs = [(j.config.dataset, j.config.name) for j in study_suite([0]).jobs]
    assert jobs[:2] == [("grid25", "hinge-sn"), ("grid25", "wgan-gp")] and jobs[-1] == ("ring8", "gan-constant-lr")
    digits = [m for d, m in jobs if d == "digits"]
    assert digits.index("wgan-gp") < digits.index("gan")  # five critic steps a step: started early


def test_final_scores_set_the_suites_published_value_beside_the_studys_runs(tmp_path):
    # scores.json as scoring writes it ({fingerprint id: {"metrics": ...}}), two seeds; a published board row
    import pandas as pd

    from ganbench.runs import files
    from scripts.budget_study import final_scores

    for seed, (fd, held) in enumerate([(4.0, 5.0), (6.0, 7.0)]):
        run = tmp_path / "runs" / "digits" / "gan" / f"seed-{seed}"
        run.mkdir(parents=True)
        files.atomic_write_json(run / "scores.json", {"abc": {"metrics": {"fd": fd, "fd_heldout": held, "ct": 2.0,
                                                                          "authenticity": 0.5}}})  # fmt: skip
    board = tmp_path / "leaderboard.csv"
    pd.DataFrame([{"dataset": "digits", "model": "gan", "fd_mean": 9.0, "fd_heldout_mean": 8.0, "ct_mean": 3.0,
                   "authenticity_mean": 0.75}]).to_csv(board, index=False)  # fmt: skip
    rows = {("digits", "gan"): [0, 1], ("digits", "vae"): [0], ("ring8", "gan"): [0]}  # the last two: no scores
    text = "\n".join(final_scores(tmp_path / "runs", rows, 3, board))
    assert "## Final scores: at the budget and at 3x" in text
    assert "| digits | gan | 2 | 9 -> 5 | 8 -> 6 | 3 -> 2 | 0.75 -> 0.5 |" in text
    assert "vae" not in text and "ring8" not in text and "hq_coverage" not in text
    assert final_scores(tmp_path / "none", rows, 3, board) == []

"""The leaderboard's aggregation checked against numbers computed here by hand from the scores and curves."""

import dataclasses
import io
import json
import math

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganbench.results.budgets import budget_verdicts, still_improving
from ganbench.runs import files
from ganbench.results.leaderboard import (
    display_table,
    format_leaderboard,
    leaderboard,
)
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite


def _run(root, dataset, model, seed, status="complete", metrics=None, fp="fpA", wall=1.0):
    d = root / dataset / model / f"seed-{seed}"
    files.atomic_write_json(d / "config.json", {"dataset": dataset, "model": model, "name": model, "seed": seed})
    files.atomic_write_json(d / "result.json", {"status": status, "wall_time_s": wall, "steps": 10})
    if metrics is not None:
        files.atomic_write_json(d / "scores.json", {fp: {"metrics": metrics, "fingerprint": {"id": fp}}})


def _ref(root, dataset, metrics, fp="fpA"):
    files.atomic_write_json(root / dataset / "_reference" / "scores.json",
                          {fp: {"metrics": metrics, "fingerprint": {"id": fp, "protocol": {"dataset": dataset}}}})


@pytest.fixture
def runs(tmp_path):
    fds = {"gan": [10.0, 12.0, 14.0], "vae": [20.0, 22.0, 30.0]}
    for model, vals in fds.items():
        for seed, v in enumerate(vals):
            _run(tmp_path, "digits", model, seed, metrics={"fd": v, "is": 5.0 + seed, "mode_histogram": [1, 2]})
    _run(tmp_path, "digits", "vae", 3, status="diverged")
    _run(tmp_path, "digits", "lsgan", 0, status="failed")
    _ref(tmp_path, "digits", {"fd": 0.5, "is": 9.9})
    # a score under another protocol must not be averaged in with fpA
    _run(tmp_path, "digits", "wgan-gp", 0, metrics={"fd": 1.0}, fp="fpB")
    return tmp_path, fds


def test_seed_statistics_ranks_and_counts(runs):
    root, fds = runs
    # These runs have no evaluation curves, so no row is known to have plateaued: ranked only on request.
    assert leaderboard(root)["rank"].isna().all()
    board = leaderboard(root, rank_all=True)
    gan = board[(board.model == "gan")].iloc[0]
    assert gan.n_seeds == 3 and gan.fd_mean == pytest.approx(12.0) and gan.fd_std == pytest.approx(2.0)
    # 95% interval of the mean: 12 -+ t(0.975, 2) * 2 / sqrt(3), t(0.975, 2) = 4.302653 (Student's t table).
    half = 4.302653 * 2.0 / math.sqrt(3)
    assert (gan.fd_ci95_low, gan.fd_ci95_high) == pytest.approx((12.0 - half, 12.0 + half), rel=1e-6)
    vae = board[(board.model == "vae")].iloc[0]
    assert vae.n_seeds == 3 and vae.n_diverged == 1 and vae.fd_mean == pytest.approx(24.0)
    assert gan["rank"] == 1 and vae["rank"] == 2  # lower FD is better
    lsgan = board[board.model == "lsgan"].iloc[0]
    assert lsgan.n_failed == 1 and lsgan.n_seeds == 0 and math.isnan(lsgan["rank"])
    ref = board[board.model == "real-data"].iloc[0]
    assert ref.fd_mean == 0.5 and math.isnan(ref["rank"])
    wg = board[board.model == "wgan-gp"].iloc[0]
    assert wg.fingerprint == "fpB" and wg["rank"] == 1  # ranked alone, not against fpA rows
    for col in ("dataset", "model", "n_seeds", "fd_mean", "fd_std", "fd_ci95_low", "fd_ci95_high"):
        assert col in board.columns


def test_formats(runs):
    root, _ = runs
    board = leaderboard(root)
    csv = format_leaderboard(board, "csv")
    back = pd.read_csv(__import__("io").StringIO(csv))
    assert list(back.columns[:3]) == ["dataset", "model", "n_seeds"] and len(back) == len(board)
    md = format_leaderboard(board, "md")
    assert "12 ± 2" in md and "fd ↓" in md
    latex = format_leaderboard(board, "latex")
    # pastes into a paper: LaTeX's special characters escaped (n\_seeds), the marks as math
    assert "\\pm" in latex and "n\\_seeds" in latex and "$\\downarrow$" in latex
    assert "_" not in latex.replace("\\_", "") and not {"±", "↑", "↓", "→"} & set(latex)
    assert "<table" in format_leaderboard(board, "html")


# -- columns from the runs' evaluation curves (metrics.jsonl) ------------------------------------------------


def _curve_run(root, model, seed, curves, steps, final=0.9):
    """A complete ring8 run whose metrics.jsonl holds ``curves`` ({metric: values}) at ``steps``, written by
    the writer training uses; its final scores: hq_coverage and hq_fraction ``final``, 8 modes."""
    _run(root, "ring8", model, seed,
         metrics={"hq_coverage": final, "modes_covered": 8.0, "hq_fraction": final, "reverse_kl": 0.1})
    files.atomic_write_json(root / "ring8" / model / f"seed-{seed}" / "result.json",
                            {"status": "complete", "wall_time_s": 1.0, "steps": steps[-1]})  # fmt: skip
    lines = [{"step": s, "loss_d": 1.0} for s in steps]
    lines += [{"step": s, "eval": {m: v[i] for m, v in curves.items()}} for i, s in enumerate(steps)]
    files.append_jsonl(root / "ring8" / model / f"seed-{seed}" / "metrics.jsonl", lines)


STEPS = list(range(100, 1001, 100))  # 10 evaluations to T = 1000: the last 10% holds 1 -> the last 5 are averaged
STILL_0 = {"hq_coverage": [0.1, 0.3, 0.5, 0.6, 0.7, 0.9, 0.5, 0.8, 0.6, 0.7],
           "modes_covered": [2, 4, 6, 7, 8, 8, 8, 8, 8, 8],
           "hq_fraction": [0.1, 0.3, 0.5, 0.6, 0.7, 0.9, 0.5, 0.8, 0.6, 0.7],
           "reverse_kl": [2.0, 1.0, 0.8, 0.5, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2]}  # fmt: skip
STILL_1 = {"hq_coverage": [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.7, 0.8, 0.6, 0.9],
           "modes_covered": [1, 3, 5, 6, 6, 7, 7, 7, 7, 7],
           "hq_fraction": [0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.7, 0.8, 0.6, 0.9],
           "reverse_kl": [1.0, 1.0, 1.0, 0.5, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3]}  # fmt: skip
RISING = {"hq_coverage": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
          "modes_covered": [1, 1, 2, 2, 3, 3, 4, 4, 5, 6],
          "hq_fraction": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
          "reverse_kl": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]}  # fmt: skip


@pytest.fixture
def curve_runs(tmp_path):
    # Every curve tells the same story in all three metrics, so the verdicts hold whichever metric ranks.
    _curve_run(tmp_path, "still", 0, STILL_0, STEPS)
    _curve_run(tmp_path, "still", 1, STILL_1, STEPS)
    _curve_run(tmp_path, "rising", 0, RISING, STEPS)
    _curve_run(tmp_path, "rising", 1, STILL_0, STEPS)
    _curve_run(tmp_path, "short", 0, {"hq_coverage": [0.2, 0.2, 0.5], "modes_covered": [2, 4, 6],
                                      "hq_fraction": [0.2, 0.2, 0.5],
                                      "reverse_kl": [1.0, 0.5, 0.3]}, [100, 200, 300])  # fmt: skip
    _ref(tmp_path, "ring8", {"hq_coverage": 0.98, "modes_covered": 8.0, "hq_fraction": 0.98, "reverse_kl": 0.0})
    return tmp_path


def test_last_evaluation_means_and_plateau_columns(curve_runs):
    board = leaderboard(curve_runs).set_index("model")
    # Last-evaluations means: the last 5 of 10 evaluations. still: seed 0 -> 8, 0.7, 0.2; seed 1 -> 7,
    # (0.9 + 0.7 + 0.8 + 0.6 + 0.9) / 5 = 0.78, 0.3. rising seed 0 -> (3 + 4 + 4 + 5 + 6) / 5 = 4.4, 0.8, 0.3.
    still, rising, short, ref = (board.loc[m] for m in ("still", "rising", "short", "real-data"))
    assert still.modes_covered_last_mean == pytest.approx(7.5)
    assert still.modes_covered_last_std == pytest.approx(math.sqrt(0.5))  # (8 - 7.5)^2 * 2 / (2 - 1)
    assert still.hq_fraction_last_mean == pytest.approx(0.74)
    assert still.hq_fraction_last_std == pytest.approx(0.08 / math.sqrt(2))
    assert still.reverse_kl_last_mean == pytest.approx(0.25)
    assert rising.modes_covered_last_mean == pytest.approx((4.4 + 8) / 2)
    assert rising.hq_fraction_last_mean == pytest.approx((0.8 + 0.7) / 2)
    assert still.last_n == 5 and rising.last_n == 5
    # The final scores are untouched: the same 8 modes in every run's scores.json.
    assert still.modes_covered_mean == 8.0
    # Plateau, on the metric the row is ranked by: still's last 2 evaluations equal the 2 before them in
    # every metric; rising's seed 0 climbs (modes 5.5 against 4; HQ 0.95 against 0.75; rKL 0.15 against 0.35).
    # The row's verdict is the rule on the seed-mean curve: rising's mean HQ 0.8 against 0.7 (tolerance 0.07),
    # modes 6.75 against 6 (0.6), rKL 0.175 against 0.275 (0.0275): "no" whichever metric ranks.
    assert still.plateau_metric == still.primary_metric and still.plateau_metric in STILL_0
    assert (still.plateaued, still.n_plateaued, still.n_plateau_unknown) == ("yes", 2, 0)
    assert (rising.plateaued, rising.n_plateaued, rising.n_plateau_unknown) == ("no", 1, 0)
    # Three evaluations: all are averaged (modes (2 + 4 + 6) / 3 = 4) and n says so; no verdict.
    assert short.modes_covered_last_mean == pytest.approx(4.0) and short.last_n == 3
    assert (short.plateaued, short.n_plateaued, short.n_plateau_unknown) == ("unknown", 0, 1)
    # The real-data row has no curve.
    assert ref.plateaued == "" and pd.isna(ref.n_plateaued) and math.isnan(ref.modes_covered_last_mean)

    md = format_leaderboard(leaderboard(curve_runs), "md")
    assert "plateaued" in md and "yes (seeds 2/2)" in md and "no (seeds 1/2)" in md
    assert "unknown (seeds 0/1; 1 with under 5 evaluations)" in md
    assert "modes_covered last ↑" in md and "7.5 ± 0.71" in md and "4 (n=3)" in md
    html = format_leaderboard(leaderboard(curve_runs), "html")
    assert "<td>no (seeds 1/2)</td>" in html and "reverse_kl last ↓" in html
    latex = format_leaderboard(leaderboard(curve_runs), "latex")
    assert "no (seeds 1/2)" in latex and "plateaued" in latex
    back = pd.read_csv(io.StringIO(format_leaderboard(leaderboard(curve_runs), "csv"))).set_index("model")
    assert back.loc["rising", "plateaued"] == "no" and back.loc["rising", "n_plateaued"] == 1
    assert back.loc["short", "last_n"] == 3 and back.loc["still", "hq_fraction_last_mean"] == pytest.approx(0.74)


def test_only_rows_trained_to_a_plateau_are_ranked(tmp_path):
    # "rising" has the best final score (0.95) but its seed-mean curve is still climbing; "short" is next
    # (0.93) with 3 evaluations, too few to tell; "still" (0.9) and "flat" (0.8) have plateaued. Ranked:
    # still 1, flat 2. The other two follow, unranked, in the order of their scores: rising, short.
    _curve_run(tmp_path, "still", 0, STILL_0, STEPS)
    _curve_run(tmp_path, "flat", 0, STILL_1, STEPS, final=0.8)
    _curve_run(tmp_path, "rising", 0, RISING, STEPS, final=0.95)
    _curve_run(tmp_path, "short", 0, {"hq_coverage": [0.2, 0.2, 0.5], "modes_covered": [2, 4, 6],
                                      "hq_fraction": [0.2, 0.2, 0.5], "reverse_kl": [1.0, 0.5, 0.3]},
               [100, 200, 300], final=0.93)  # fmt: skip
    _ref(tmp_path, "ring8", {"hq_coverage": 0.98, "modes_covered": 8.0, "hq_fraction": 0.98, "reverse_kl": 0.0})
    board = leaderboard(tmp_path)
    models = [m for m in board["model"] if m != "real-data"]
    assert models == ["still", "flat", "rising", "short"]
    assert board.set_index("model")["rank"].loc[models].tolist()[:2] == [1, 2]
    assert board.set_index("model")["rank"].loc[["rising", "short", "real-data"]].isna().all()
    cols = list(display_table(board).columns)
    # beside the rank: the ranks seed noise allows, then the verdict that decides whether a row is ranked
    assert cols[cols.index("rank") + 1:cols.index("rank") + 3] == ["rank range", "plateaued"]
    shown = display_table(board).set_index("model")["rank"]
    assert shown.to_dict() == {"still": "1", "flat": "2", "rising": "—", "short": "—", "real-data": ""}
    # rank_all ranks every model row by its final score, the verdicts unchanged.
    every = leaderboard(tmp_path, rank_all=True).set_index("model")
    assert every["rank"].loc[["rising", "short", "still", "flat"]].tolist() == [1, 2, 3, 4]
    assert every["plateaued"].loc[["rising", "short", "still"]].tolist() == ["no", "unknown", "yes"]


def test_row_verdict_is_the_rule_on_the_seed_mean_curve(tmp_path):
    # Two seeds swinging in opposite directions: each seed's own curve moves by 0.3 between the last two
    # windows (k = 2 of 10 evaluations), beyond the tolerance max(0.1 x 0.5, 0.02) = 0.05, but their mean is
    # 0.5 throughout. A third row's seeds evaluated at different steps: only the common ones count.
    up = [0.5] * 6 + [0.35, 0.35, 0.65, 0.65]
    down = [0.5] * 6 + [0.65, 0.65, 0.35, 0.35]
    flat = {"hq_coverage": up, "modes_covered": [8] * 10, "hq_fraction": up, "reverse_kl": [0.1] * 10}
    _curve_run(tmp_path, "swing", 0, {**flat, "hq_coverage": up}, STEPS)
    _curve_run(tmp_path, "swing", 1, {**flat, "hq_coverage": down}, STEPS)
    # offset: seed 0 at 100..1000, seed 1 at 50..950 and 1000: the steps common to both are 1000 only
    rising = [0.1 * i for i in range(1, 11)]
    _curve_run(tmp_path, "offset", 0, {**flat, "hq_coverage": rising}, STEPS)
    _curve_run(tmp_path, "offset", 1, {**flat, "hq_coverage": rising}, [s - 50 for s in STEPS[:-1]] + [1000])
    board = leaderboard(tmp_path).set_index("model")
    swing, offset = board.loc["swing"], board.loc["offset"]
    assert swing.plateau_metric == "hq_coverage"
    assert (swing.plateaued, swing.n_plateaued) == ("yes", 0)
    assert "yes (seeds 0/2)" in format_leaderboard(leaderboard(tmp_path), "md")
    # One common evaluation is fewer than the rule's 5: no verdict for the row, though each seed has one.
    assert (offset.plateaued, offset.n_plateaued, offset.n_plateau_unknown) == ("unknown", 0, 0)


def test_curve_columns_come_after_the_existing_ones(runs):
    # Runs without metrics.jsonl: the columns before the curve columns are those the leaderboard always had.
    root, _ = runs
    board = leaderboard(root)
    stats = [f"{m}_{s}" for m in ("fd", "is") for s in ("mean", "std", "ci95_low", "ci95_high")]
    assert list(board.columns) == ["dataset", "model", "n_seeds", "n_diverged", "n_failed", "rank", "primary_metric",
                                   "fingerprint", *stats, "train_time_s_mean", "last_n", "plateau_metric",
                                   "n_plateaued", "n_plateau_unknown", "plateaued", "budget", "rank_best",
                                   "rank_worst"]  # fmt: skip
    gan = board[board.model == "gan"].iloc[0]
    assert (gan.plateaued, gan.n_plateaued, gan.n_plateau_unknown) == ("unknown", 0, 3)  # no curve at all


def test_curve_columns_of_really_trained_runs(tmp_path):
    # Two GAN seeds on ring8 trained for 50 steps with an evaluation every 10: five evaluations each.
    suite = load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0, 1])
    budget = {"steps": 50, "eval_every": 10, "checkpoint_every": 50, "log_every": 10}
    short = [dataclasses.replace(j, config=dataclasses.replace(j.config, train=j.config.train.replace(**budget)))
             for j in suite.jobs]  # fmt: skip
    run_suite(dataclasses.replace(suite, jobs=tuple(short)), RunOptions(tmp_path, device="cpu"), jobs=1,
              log=lambda *a: None)  # fmt: skip
    evals, finals = [], []
    for seed in (0, 1):
        run = tmp_path / "ring8" / "gan" / f"seed-{seed}"
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        evals.append([x["eval"] for x in lines if "eval" in x])
        finals.append(next(iter(json.loads((run / "scores.json").read_text()).values()))["metrics"])
        assert [x["step"] for x in lines if "eval" in x] == [10, 20, 30, 40, 50]
        # On 2D sets the last training-time evaluation is the final score (2,500 samples, evaluation seed 0).
        assert {m: evals[-1][-1][m] for m in STILL_0} == {m: finals[-1][m] for m in STILL_0}
    gan = leaderboard(tmp_path).set_index("model").loc["gan"]
    for m in STILL_0:  # five evaluations: the last 10% holds one, so all five are averaged
        per_seed = [np.mean([e[m] for e in ev]) for ev in evals]
        assert gan[f"{m}_last_mean"] == pytest.approx(np.mean(per_seed))
        assert gan[f"{m}_last_std"] == pytest.approx(np.std(per_seed, ddof=1))
        assert gan[f"{m}_mean"] == pytest.approx(np.mean([f[m] for f in finals]))
    # The rule with windows of one evaluation: the 5th against the 4th, within max(10%, 0.02).
    m = gan.plateau_metric
    assert m == gan.primary_metric
    flat = [abs(ev[4][m] - ev[3][m]) <= max(0.1 * abs(ev[3][m]), 0.02) for ev in evals]
    assert (gan.last_n, gan.n_plateaued, gan.n_plateau_unknown) == (5, sum(flat), 0)
    # The row's verdict: the same rule on the mean of the two seeds' curves.
    last, prev = np.mean([ev[4][m] for ev in evals]), np.mean([ev[3][m] for ev in evals])
    assert gan.plateaued == ("yes" if abs(last - prev) <= max(0.1 * abs(prev), 0.02) else "no")


def test_budget_column_is_the_studys_verdict_for_runs_of_a_baselines_present_configuration(tmp_path):
    # Suite runs record their job id, which ends in the baseline's configuration hash: the committed verdicts
    # (baselines/budget-verdicts.csv, from reports/budgets.md) apply to runs of that hash only.
    verdicts = budget_verdicts()
    # a 2D set with a justified row and a 'longer pays' one among its GANs (grid25 has both)
    for ds in ("ring8", "grid25"):
        rows = {m: v for (d, m), v in verdicts.items() if d == ds and m not in ("ae", "vae")}
        ok = next((m for m, v in rows.items() if v["justified"] == "yes"), None)
        pays = next((m for m, v in rows.items() if v["justified"] == "no" and v["longer_pays"] == "yes"), None)
        if ok and pays:
            break
    assert ok and pays, "no 2D set has both verdicts in baselines/budget-verdicts.csv"
    for model, hash_ in ((ok, rows[ok]["baseline"]), (pays, rows[pays]["baseline"]), ("vae", "000000000000")):
        for seed in (0, 1):
            _run(tmp_path, ds, model, seed, metrics={"hq_coverage": 0.5 + seed / 10})
            files.atomic_write_json(tmp_path / ds / model / f"seed-{seed}" / "job.json",
                                    {"id": f"{ds}/{model}/seed-{seed}@{hash_}", "status": "complete"})  # fmt: skip
    _run(tmp_path, ds, "ae", 0, metrics={"hq_coverage": 0.1})  # trained outside a suite: no job id
    board = leaderboard(tmp_path)
    got = board.set_index("model")["budget"].to_dict()
    assert got == {ok: "justified", pays: "longer pays", "vae": "", "ae": ""}
    cols = list(display_table(board).columns)
    assert cols.index("budget") == cols.index("plateaued") + 1
    assert "| longer pays |" in format_leaderboard(board, "md")


def test_a_justified_budget_on_which_every_seed_still_improves_is_borderline(tmp_path):
    # baselines/budget-seeds.csv (scripts/budget_seeds.py): per studied budget, the seeds still improving at 1.5x.
    # A justified row whose every seed improves reads 'borderline'; a justified row whose seeds disagree stays
    # 'justified'; a 'longer pays' row is that whatever its seeds.
    verdicts, improving = budget_verdicts(), still_improving()
    seeds = pd.read_csv(Path(__file__).resolve().parents[2] / "baselines" / "budget-seeds.csv", dtype={"baseline": str})
    assert improving == {(r.dataset, r.model, r.baseline) for r in seeds.itertuples() if r.improving == r.seeds == 3}
    just = [(d, m) for (d, m), v in verdicts.items() if v["justified"] == "yes"]
    edge = next(k for k in just if (*k, verdicts[k]["baseline"]) in improving)
    firm = next(k for k in just if (*k, verdicts[k]["baseline"]) not in improving and k[0] == edge[0])
    for (ds, model) in (edge, firm):
        for seed in (0, 1):
            metric = "hq_coverage" if ds in ("ring8", "grid25") else "fd"
            _run(tmp_path, ds, model, seed, metrics={metric: 0.5 + seed / 10})
            files.atomic_write_json(tmp_path / ds / model / f"seed-{seed}" / "job.json",
                                    {"id": f"{ds}/{model}/seed-{seed}@{verdicts[(ds, model)]['baseline']}",
                                     "status": "complete"})  # fmt: skip
    got = leaderboard(tmp_path).set_index("model")["budget"].to_dict()
    assert got == {edge[1]: "borderline", firm[1]: "justified"}


def test_rank_ranges_count_the_rows_that_differ_by_welchs_test(tmp_path):
    # Four models' FD over three seeds: a and b overlap, c is far from both, d has one seed (never told apart).
    fds = {"a": [10.0, 11.0, 12.0], "b": [10.5, 12.5, 14.0], "c": [30.0, 31.0, 29.5], "d": [5.0]}
    for model, vals in fds.items():
        for seed, v in enumerate(vals):
            _run(tmp_path, "digits", model, seed, metrics={"fd": v})
    board = leaderboard(tmp_path, rank_all=True).set_index("model")
    from scipy import stats

    def differ(x, y):  # Welch's t-test on the seeds' values themselves
        return len(fds[x]) > 1 and len(fds[y]) > 1 and stats.ttest_ind(fds[x], fds[y], equal_var=False).pvalue < 0.05

    assert differ("a", "c") and differ("b", "c") and not differ("a", "b")
    assert board["rank"].loc[["d", "a", "b", "c"]].tolist() == [1, 2, 3, 4]
    # best = 1 + the better rows that differ, worst = 4 - the worse rows that differ: d (one seed) differs from
    # none; a and b differ from c only; c is worse than a and b, which differ from it, and not told from d.
    assert board.loc[["d", "a", "b", "c"], ["rank_best", "rank_worst"]].to_numpy().tolist() == [
        [1, 4], [1, 3], [1, 3], [3, 4]]  # fmt: skip
    shown = display_table(board.reset_index()).set_index("model")["rank range"]
    assert shown.loc[["d", "a", "b", "c"]].tolist() == ["1-4", "1-3", "1-3", "3-4"]

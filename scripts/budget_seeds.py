"""Do the budget study's verdicts hold seed by seed? Read from the committed data alone, no runs needed.

`reports/budgets.md` judges each baseline's budget on the mean over seeds of its learning curves: *longer pays*
when the seed mean of the last-evaluations means at 1.5x the budget is better than at the budget by more than
the plateau rule's tolerance, max(10% of the value at the budget, 0.02). A seed mean can pass or fail that
test because of one seed. This script recomputes every verdict of `baselines/budget-verdicts.csv` from the
study's published curves (`reports/budgets/curves.csv`), fails if one differs (the published verdicts are
then not the published data's), and sets beside each verdict what each seed did from the budget to 1.5x it:
its gain (in the metric's better direction, relative to its value at the budget), how many seeds improved at
all and how many by more than the tolerance, a paired t-test over seeds of the values at 1.5x against those
at the budget (scipy.stats.ttest_rel, two-sided) and a 95% t-interval of the mean relative gain.

With 3 seeds neither the sign count nor the t-test is strong evidence (3 of 3 seeds improving has probability
1/8 when improving and worsening are equally likely; the t-test needs |t| > 4.30 for p < 0.05), so the
reading is descriptive: it names the verdicts that every seed agrees with and the borderline ones (every seed
improves, by less than the tolerance), which a longer study or more seeds would settle.

    python scripts/budget_seeds.py    # writes reports/budgets-seeds.md and baselines/budget-seeds.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganbench.evaluation.curves import PLATEAU_ABS_TOL, PLATEAU_REL_TOL, last_mean  # noqa: E402
from ganbench.metrics import METRICS  # noqa: E402
from ganbench.runs import files  # noqa: E402
from scripts.budget_study import MAIN_METRIC, PAYS_AFTER, cut, verdict_rows  # noqa: E402

CURVES = ROOT / "reports" / "budgets" / "curves.csv"
VERDICTS = ROOT / "baselines" / "budget-verdicts.csv"
OUT = ROOT / "reports" / "budgets-seeds.md"
SEEDS = ROOT / "baselines" / "budget-seeds.csv"  # the counts as data: the leaderboard's 'borderline'
SEED_COLUMNS = ("dataset", "model", "baseline", "budget", "seeds", "improving", "beyond_tolerance")


def read_curves(path: Path) -> dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """``{(dataset, model): {seed: (steps, values)}}`` from a study's ``curves.csv``."""
    table = pd.read_csv(path)
    out: dict = {}
    for (dataset, model, seed), g in table.groupby(["dataset", "model", "seed"], sort=True):
        g = g.sort_values("step")
        out.setdefault((dataset, model), {})[int(seed)] = (g["step"].to_numpy(), g["value"].to_numpy(dtype=float))
    return out


def seed_gains(dataset: str, curves: dict, budget: int) -> dict:
    """Each seed's last-evaluations means at the budget and at ``PAYS_AFTER`` times it, its gain in the metric's
    better direction (absolute and relative to the value at the budget) and the rule's tolerance for it."""
    higher = METRICS[MAIN_METRIC[dataset]].higher_is_better
    end = int(PAYS_AFTER * budget)
    seeds = sorted(curves)
    at_budget = np.array([last_mean(*cut(*curves[s], budget), total_steps=budget).mean for s in seeds])
    at_end = np.array([last_mean(*cut(*curves[s], end), total_steps=end).mean for s in seeds])
    gain = (at_end - at_budget) if higher else (at_budget - at_end)
    tol = np.maximum(PLATEAU_REL_TOL * np.abs(at_budget), PLATEAU_ABS_TOL)
    return {"seeds": seeds, "at_budget": at_budget, "at_end": at_end, "gain": gain,
            "rel": gain / np.abs(at_budget), "tol": tol}  # fmt: skip


def paired_test(at_budget: np.ndarray, at_end: np.ndarray, rel: np.ndarray) -> tuple[float, float, float]:
    """The two-sided p of the paired t-test over seeds, and the 95% t-interval of the mean relative gain."""
    n = len(rel)
    if n < 2 or np.allclose(at_end - at_budget, (at_end - at_budget)[0]):
        return float("nan"), float("nan"), float("nan")
    p = float(scipy.stats.ttest_rel(at_end, at_budget).pvalue)
    half = float(scipy.stats.t.ppf(0.975, n - 1) * rel.std(ddof=1) / np.sqrt(n))
    return p, float(rel.mean() - half), float(rel.mean() + half)


def reading(pays: bool, g: dict) -> str:
    n, up, beyond = len(g["gain"]), int((g["gain"] > 0).sum()), int((g["gain"] > g["tol"]).sum())
    if pays:
        if up == n:
            extra = "" if beyond == n else f" ({beyond} of {n} beyond the tolerance)"
            return "longer pays; every seed improves" + extra
        return f"longer pays on the seed mean; {n - up} of {n} seeds do not improve"
    if up == n:
        return "**borderline**: every seed improves, " + (
            "by less than the tolerance" if beyond == 0 else f"{beyond} of {n} beyond the tolerance")
    if up == 0:
        return "justified; every seed worsens with longer training"
    return "justified; the seeds disagree in direction"


def check_verdicts(curves: dict, verdicts: pd.DataFrame) -> list[str]:
    """The committed verdicts that the committed curves do not give (empty when every one follows): the study's
    own ``verdict_rows`` recomputed from the curves at the committed budgets, column by column."""
    rows = list(verdicts.itertuples())
    bad = [f"{r.dataset}/{r.model}: no curves" for r in rows if (r.dataset, r.model) not in curves]
    have = [r for r in rows if (r.dataset, r.model) in curves]
    group = {(r.dataset, r.model): curves[(r.dataset, r.model)] for r in have}
    got = {(v["dataset"], v["model"]): v for v in verdict_rows(group, {k: int(r.budget) for k, r in
                                                                          zip(group, have)})}  # fmt: skip
    cols = ("baseline", "budget", "plateaued", "longer_pays", "justified")
    for r in have:
        mine = {c: str(got[(r.dataset, r.model)][c]) for c in cols}
        theirs = {c: str(getattr(r, c)) for c in cols}
        if mine != theirs:
            bad.append(f"{r.dataset}/{r.model}: curves give {mine}, the committed verdicts {theirs}")
    return bad


def seed_counts(curves_path: Path, verdicts_path: Path) -> str:
    """Per verdict row, how many seeds improve from the budget to 1.5x it at all and by more than the
    tolerance, as CSV (``SEED_COLUMNS``); ``ganbench.results.leaderboard`` reads it for the ``budget`` column
    (a justified budget on which every seed still improves is ``borderline``)."""
    curves, verdicts = read_curves(curves_path), pd.read_csv(verdicts_path, dtype={"baseline": str})
    lines = [",".join(SEED_COLUMNS)]
    for r in verdicts.itertuples():
        g = seed_gains(r.dataset, curves[(r.dataset, r.model)], int(r.budget))
        lines.append(f"{r.dataset},{r.model},{r.baseline},{r.budget},{len(g['gain'])},{int((g['gain'] > 0).sum())},"
                     f"{int((g['gain'] > g['tol']).sum())}")  # fmt: skip
    return "\n".join(lines) + "\n"


def report(curves_path: Path, verdicts_path: Path) -> str:
    curves, verdicts = read_curves(curves_path), pd.read_csv(verdicts_path, dtype={"baseline": str})
    bad = check_verdicts(curves, verdicts)
    if bad:
        raise SystemExit("budget_seeds: the committed verdicts do not follow from the curves:\n" + "\n".join(bad))
    rows, borderline, split = [], [], []
    for r in verdicts.itertuples():
        g = seed_gains(r.dataset, curves[(r.dataset, r.model)], int(r.budget))
        pays = r.longer_pays == "yes"
        p, lo, hi = paired_test(g["at_budget"], g["at_end"], g["rel"])
        text = reading(pays, g)
        if text.startswith("**borderline**"):
            borderline.append(f"{r.dataset}/{r.model}")
        if pays and (g["gain"] <= 0).any():
            split.append(f"{r.dataset}/{r.model}")
        n = len(g["gain"])
        rows.append(f"| {r.dataset} | {r.model} | {r.budget} | {r.justified} | {r.longer_pays} | "
                    f"{', '.join(f'{x:+.1%}' for x in g['rel'])} | {int((g['gain'] > 0).sum())}/{n} | "
                    f"{int((g['gain'] > g['tol']).sum())}/{n} | "
                    + ("n/a" if np.isnan(p) else f"{p:.3f}") + " | "
                    + ("n/a" if np.isnan(lo) else f"{lo:+.1%} to {hi:+.1%}") + f" | {text} |")  # fmt: skip
    pays_rows = verdicts[verdicts.longer_pays == "yes"]
    lines = [
        "# The budget verdicts seed by seed",
        "",
        (f"Made by `python scripts/budget_seeds.py` from the committed data alone: the study's curves "
         f"(`{curves_path.relative_to(ROOT) if curves_path.is_relative_to(ROOT) else curves_path.name}`, every "
         f"seed's curve of `reports/budgets.md`) and its verdicts (`{verdicts_path.name}`). Every verdict was "
         "recomputed from the curves and equals the committed one (the script stops otherwise)."),
        "",
        (f"`reports/budgets.md` judges the seed mean: *longer pays* when it is better at {PAYS_AFTER:g}x the "
         f"budget than at the budget by more than max({PLATEAU_REL_TOL:.0%} of its value at the budget, "
         f"{PLATEAU_ABS_TOL}), both read as the mean of the last evaluations (last 10% of the steps, at least 5). "
         "Here each seed is read the same way: *gain per seed* is its improvement from the budget to "
         f"{PAYS_AFTER:g}x it in the metric's better direction, relative to its value at the budget (hq_coverage "
         "on 2D sets, higher is better; the classifier-feature FD on image sets, lower is better); *improve* "
         "counts the seeds that improve at all, *beyond tol.* those that improve by more than the tolerance; "
         "*p* is the paired t-test over seeds of the values at the two points (two-sided); *95% CI* is the "
         "t-interval of the mean relative gain. With 3 seeds neither is strong evidence (3 of 3 improving has "
         "probability 1/8 when either direction is equally likely; p < 0.05 needs |t| > 4.30): the reading says "
         "which verdicts every seed agrees with, and which are **borderline** (every seed improves, by less than "
         "the tolerance: a smaller tolerance, a longer study or more seeds would settle them)."),
        "",
        "| dataset | model | budget | justified | longer pays | gain per seed | improve | beyond tol. | p | 95% CI "
        "| reading |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "## Summary",
        "",
        (f"{len(verdicts)} verdicts, all recomputed from the curves. Of the {len(pays_rows)} where training "
         f"longer pays, {len(pays_rows) - len(split)} have every seed improving"
         + (f"; in {', '.join(split)} a seed does not." if split else ": none of them rests on one seed.")
         + (f" Borderline budgets (justified by the tolerance although every seed improves): "
            f"{', '.join(borderline)}." if borderline else " No justified budget is borderline.")),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--curves", default=str(CURVES))
    p.add_argument("--verdicts", default=str(VERDICTS))
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--seeds-csv", default=str(SEEDS), help="the per-row seed counts as CSV (the leaderboard's)")
    args = p.parse_args(argv)
    curves, verdicts = Path(args.curves).resolve(), Path(args.verdicts).resolve()
    text = report(curves, verdicts)  # first: it stops when a verdict does not follow from the curves
    files.atomic_write_text(args.out, text)
    files.atomic_write_text(args.seeds_csv, seed_counts(curves, verdicts))
    print(f"wrote {args.out} and {args.seeds_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Learning curves of the reference baselines and the budgets they justify: writes reports/budgets.md.

    python scripts/budget_study.py [--run] [--runs runs/budget-curves] [--seeds 0,1] [--jobs 1]

With ``--run`` it first trains the ``budget-curves`` suite (every quick-suite model on the four embedded
sets, past the baselines' budgets, evaluated every 250 steps; finished jobs are skipped). It then reads
every run's evaluation curve of the metric its leaderboard row ranks by (``hq_coverage`` on 2D sets, the
classifier's ``fd`` on image sets) and applies ganbench's plateau rule (``ganbench.evaluation.curves``:
the mean of the last 20% of the evaluations within max(10%, 0.02) of the mean of the 20% before) to the
seed-mean curve cut at each candidate budget. The report gives, per (model, dataset): the curve (seed mean
and range), the first budget at which the seed-mean curve has plateaued and stays so, and whether the
quick suite's and the baseline's budgets are plateaued by that rule.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ganbench.config import find_baseline
from ganbench.evaluation.curves import PLATEAU_ABS_TOL, PLATEAU_FRACTION, PLATEAU_REL_TOL, eval_curves, plateau
from ganbench.metrics import METRICS
from ganbench.results.plots import band_plot, figure_png, model_colors, panel_grid
from ganbench.runs import files
from ganbench.runs.layout import iter_runs
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite

ROOT = Path(__file__).resolve().parent.parent
MAIN_METRIC = {"ring8": "hq_coverage", "grid25": "hq_coverage", "digits": "fd", "stacked-digits": "fd"}
DATASETS = list(MAIN_METRIC)


def read_curves(runs: Path) -> dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """``{(dataset, model): {seed: (steps, values)}}`` of each run's main metric."""
    out: dict = defaultdict(dict)
    for run in iter_runs(runs):
        dataset, model, seed = run.path.parent.parent.name, run.path.parent.name, run.path.name
        metric = MAIN_METRIC.get(dataset)
        curve = eval_curves(run.path).get(metric) if metric else None
        if curve is not None and len(curve[0]):
            out[(dataset, model)][int(seed.split("-")[-1])] = curve
    return out


def seed_mean(curves: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps common to every seed, and the mean, min and max over seeds there."""
    common = sorted(set.intersection(*(set(s.tolist()) for s, _ in curves.values())))
    vals = np.array([[dict(zip(s.tolist(), v.tolist()))[t] for t in common] for s, v in curves.values()])
    return np.array(common), vals.mean(0), vals.min(0), vals.max(0)


def plateau_at(steps: np.ndarray, values: np.ndarray, budget: int, higher: bool) -> str:
    keep = steps <= budget
    return plateau(steps[keep], values[keep], higher).status


def first_stable_plateau(steps: np.ndarray, values: np.ndarray, higher: bool) -> int | None:
    """The first evaluated budget from which the seed-mean curve is plateaued at every later budget."""
    status = [plateau_at(steps, values, int(b), higher) for b in steps]
    for i in range(len(steps)):
        if all(s == "plateaued" for s in status[i:]):
            return int(steps[i])
    return None


def quick_budgets() -> dict[tuple[str, str], int]:
    """The quick suite's budget of each (model, dataset) it runs."""
    return {(j.config.dataset, j.config.model if j.config.name == j.config.model else j.config.name): j.config.train.steps
            for j in load_suite("quick").jobs}  # fmt: skip


def curves_figure(dataset: str, group: dict, budgets: dict) -> bytes:
    metric = MAIN_METRIC[dataset]
    models = sorted(m for d, m in group if d == dataset)
    colors = model_colors(models)
    fig, axes = panel_grid(len(models), ncols=4)
    for ax, model in zip(axes, models):
        steps, mean, lo, hi = seed_mean(group[(dataset, model)])
        band_plot(ax, steps, mean, lo, hi, colors[model], model)
        for label, b, style in (("quick", budgets["quick"].get((dataset, model)), ":"),
                                ("baseline", budgets["baseline"].get((dataset, model)), "--")):  # fmt: skip
            if b:
                ax.axvline(b, color="k", ls=style, lw=0.8, label=f"{label} ({b})")
        ax.set_title(f"{model}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel(f"{metric} ({'higher' if METRICS[metric].higher_is_better else 'lower'} is better)", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle(f"{dataset}: {metric} against training steps (seed mean, band: min-max over seeds)", fontsize=10)
    return figure_png(fig)


def report(runs: Path, out: Path) -> str:
    group = read_curves(runs)
    budgets = {"quick": quick_budgets(), "baseline": {}}
    for dataset, model in group:
        try:
            budgets["baseline"][(dataset, model)] = find_baseline(model, dataset).train.steps
        except Exception:  # noqa: BLE001 - a model without a baseline file just has no baseline budget
            pass
    fig_dir = out.parent / "budgets"
    lines = [
        "# Training budgets justified by learning curves",
        "",
        f"Made by `python scripts/budget_study.py --run` (runs in `{runs}`). Every reference baseline of the quick "
        "suite trained past its budget, evaluated every 250 steps during training (the tracked metrics of "
        "`metrics.jsonl`: 2,500 samples on 2D sets; the offline classifier's features of 2,000 samples on image "
        "sets, whose FD is therefore on a different scale from the final protocol's).",
        "",
        f"**Plateau rule** (`ganbench.evaluation.curves.plateau`, the same rule as the leaderboard's `plateaued` "
        f"column): with n evaluations up to a budget and k = floor({PLATEAU_FRACTION} n), the mean of the last k "
        f"is within max({PLATEAU_REL_TOL:.0%} of the previous mean, {PLATEAU_ABS_TOL}) of the mean of the k before "
        "(at least 5 evaluations). Here it is applied to the seed-mean curve of the metric each dataset ranks by "
        "(`hq_coverage` on 2D sets, `fd` on image sets); *first stable plateau* is the first evaluated budget from "
        "which the rule holds at every later budget of the study.",
        "",
        "| dataset | model | seeds | metric | at quick budget | at baseline budget | at study end | first stable "
        "plateau | quick budget: plateaued? | baseline budget: plateaued? |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in DATASETS:
        models = sorted(m for d, m in group if d == dataset)
        metric = MAIN_METRIC[dataset]
        higher = METRICS[metric].higher_is_better
        for model in models:
            curves = group[(dataset, model)]
            steps, mean, _, _ = seed_mean(curves)
            q, b = budgets["quick"].get((dataset, model)), budgets["baseline"].get((dataset, model))

            def at(budget):
                if not budget or budget > steps[-1]:
                    return "-"
                return f"{mean[steps <= budget][-1]:.3g}"

            def ok(budget):
                return "-" if not budget or budget > steps[-1] else plateau_at(steps, mean, budget, higher)

            first = first_stable_plateau(steps, mean, higher)
            lines.append(f"| {dataset} | {model} | {len(curves)} | {metric} | {at(q)} | {at(b)} | "
                         f"{mean[-1]:.3g} (step {int(steps[-1])}) | {first if first else 'not within the study'} | "
                         f"{ok(q) if q else 'not in quick suite'} | {ok(b)} |")  # fmt: skip
        if models:
            name = f"curves_{dataset}.png"
            files.atomic_write_bytes(fig_dir / name, curves_figure(dataset, group, budgets))
    lines += ["", "## Curves", ""]
    for dataset in DATASETS:
        if any(d == dataset for d, _ in group):
            lines += [f"### {dataset}", "", f"![{dataset} curves](budgets/curves_{dataset}.png)", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="store_true", help="train the budget-curves suite first (skips finished jobs)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "budget-curves"), help="runs folder")
    p.add_argument("--seeds", default=None, help="training seeds, e.g. 0,1 (default: the suite's)")
    p.add_argument("--jobs", type=int, default=None, help="parallel worker processes")
    p.add_argument("--out", default=str(ROOT / "reports" / "budgets.md"))
    args = p.parse_args(argv)
    runs = Path(args.runs)
    if args.run:
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
        run_suite(load_suite("budget-curves", seeds=seeds), RunOptions(out=runs), jobs=args.jobs)
    if not any(iter_runs(runs)):
        print(f"no runs in {runs}; pass --run to train them", file=sys.stderr)
        return 2
    out = Path(args.out)
    files.atomic_write_text(out, report(runs, out))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

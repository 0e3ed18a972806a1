"""Learning curves of the reference baselines and the budgets they justify: writes reports/budgets.md.

    python scripts/budget_study.py [--run] [--runs runs/budget-curves] [--seeds 0,1,2] [--jobs 2]
                                   [--continue-from RUNS] [--extend 1.5] [--rows digits/gan,...]
                                   [--longer RUNS ...] [--out FILE]

The published report was made by continuing the standard suite's runs (``ganbench run --suite standard
--out STD``) with ``--run --continue-from STD``: each of its seed stacks trained on from its budget to 1.5x.

With ``--run`` it first trains every reference baseline on the four embedded sets for 1.5 times its
budget, everything else as in its file (a learning-rate schedule keeps its fixed decay length, so up to the
budget the run is the baseline's own run); finished jobs are skipped. It then reads every run's evaluation
curve of the metric its leaderboard row ranks by (``hq_coverage`` on 2D sets, the classifier's ``fd`` on
image sets) and applies ganbench's plateau rule (``ganbench.evaluation.curves``: the mean of the last 20%
of the evaluations within max(10%, 0.02) of the mean of the 20% before) to the seed-mean curve cut at the
budget (the leaderboard's verdict), to each seed's own curve (for information), and to the seed-mean curve
cut at each evaluated step. The report gives, per (model, dataset): the
curves (seed mean and range), the verdict at the budget, the last-evaluations mean at the budget and at the
end of the extension (does training longer still pay?), and the first budget from which the seed-mean
curve stays plateaued, and the first from which every budget is justified (plateaued, and training on to
1.5x it does not pay).

A longer study of the rows whose budget is not justified (``--extend 3 --rows grid25/gan,...
--out reports/budgets-longer.md``) trains them to 3x their budgets, so that the curves can propose a budget
that is (``justified from``); its figures go beside its report, in a folder of the report's name. A later
study reads those rows from it (``--longer RUNS``) instead of training them again: a longer run cut at the
study's length is the study's run.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.stats
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from ganbench.config import BASELINES_DIR, LATER_DEFAULTS, find_baseline
from ganbench.data import get_dataset_info
from ganbench.evaluation.curves import (
    PLATEAU_ABS_TOL,
    PLATEAU_FRACTION,
    PLATEAU_REL_TOL,
    aligned_curves,
    eval_curves,
    last_mean,
    plateau,
    plateau_over_seeds,  # fmt: skip
)
from ganbench.metrics import METRICS, direction_mark
from ganbench.models import get_recipe, list_models
from ganbench.models.recipes import LATER_OPTIONS
from ganbench.results.budgets import VERDICTS_FILE
from ganbench.results.plots import band_plot, figure_png, model_colors, panel_grid
from ganbench.runs import files
from ganbench.runs.layout import RunDir, iter_runs
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Suite, load_suite, run_suite
from ganbench.runs.worker import Job
from ganbench.training import lr_factor

ROOT = Path(__file__).resolve().parent.parent
MAIN_METRIC = {"ring8": "hq_coverage", "grid25": "hq_coverage", "digits": "fd", "stacked-digits": "fd"}
DATASETS = list(MAIN_METRIC)
EXTEND = 1.5
PAYS_AFTER = 1.5  # a budget is justified when training half as long again (to 1.5x) does not pay
CONTROL = "gan-constant-lr"


def study_suite(seeds: list[int], datasets: list[str] | None = None, models: list[str] | None = None,
                extend: float = EXTEND, rows: list[tuple[str, str]] | None = None) -> Suite:
    """Every baseline on the embedded sets (or the given datasets and models, or only the given
    ``(dataset, model)`` rows), trained for ``extend`` times its budget."""

    def wanted(dataset: str, model: str) -> bool:
        return (not models or model in models) and (not rows or (dataset, model) in rows)

    jobs = []
    for dataset in datasets or DATASETS:
        for recipe in list_models():
            if not wanted(dataset, recipe.name):
                continue
            c = find_baseline(recipe.name, dataset)
            longer = dataclasses.replace(c.train, steps=int(extend * c.train.steps))
            jobs += [Job(dataclasses.replace(c, train=longer), s) for s in seeds]
    # The control for ring8's schedule: the same GAN at a constant learning rate.
    if "ring8" in (datasets or DATASETS) and wanted("ring8", CONTROL):
        c = find_baseline("gan", "ring8")
        const = dataclasses.replace(c.train, steps=int(extend * c.train.steps), lr_schedule="constant")
        jobs += [Job(dataclasses.replace(c, name=CONTROL, train=const), s) for s in seeds]
    # In the standard suite's order, the dearest first (grid25's hinge-SN, WGAN-GP's five critic steps), so that
    # a long row runs beside the others instead of holding the last worker alone.
    order = {k: i for i, k in enumerate(dict.fromkeys((j.config.dataset, j.config.name)
                                                      for j in load_suite("standard").jobs))}  # fmt: skip
    jobs.sort(key=lambda j: order.get((j.config.dataset, j.config.name), len(order)))
    return Suite("budget-curves", f"every baseline at {extend:g}x its budget", tuple(jobs))


def same_rates_up_to(short, long) -> bool:
    """Whether training settings ``short`` and the longer ``long`` give the same learning rate at every step
    of ``short`` (training's own ``lr_factor``: a constant rate, or a decay of fixed length), so that a
    finished run of ``short`` continued to ``long`` is the ``long`` run."""
    return all(lr_factor(short, k) == lr_factor(long, k) for k in range(1, short.steps + 1))


def continue_suite_runs(source: Path, runs: Path, suite: Suite, extend: float = EXTEND) -> list[str]:
    """Copy into ``runs`` the finished runs in ``source`` (a suite's runs folder, e.g. the standard suite's)
    of the study's jobs at their baseline budget, so that ``--run`` continues each from its final checkpoint
    instead of training it again from step 0. Continued with the same seeds in the same stack, a run is the
    study's run itself (``tests/test_training_batched.py``): cut at the budget, the study's curve is then the
    suite's own, and its verdict the suite leaderboard's. Only runs of the baseline's present configuration
    (their job id: config hash and seed) that completed are copied, and only where the learning-rate
    schedule does not depend on the budget; a study job that already has a folder in ``runs`` is left alone.
    Returns the copied runs as ``dataset/model/seed-N``."""
    copied = []
    for job in suite.jobs:
        train = job.config.train
        short = dataclasses.replace(train, steps=round(train.steps / extend))
        at_budget = Job(dataclasses.replace(job.config, train=short), job.seed)
        src, dst = at_budget.run_dir(source), job.run_dir(runs)
        rec = src.read_job()
        if (dst.path.exists() or not rec or rec.get("id") != at_budget.id or rec.get("status") != "complete"
                or not same_rates_up_to(short, train)):  # fmt: skip
            continue
        dst.path.parent.mkdir(parents=True, exist_ok=True)
        # not its job record (the study's job has another id) nor a lock; scores are the suite's, rewritten
        shutil.copytree(src.path, dst.path, ignore=shutil.ignore_patterns("job.json", "job.lock*", ".*.tmp"))
        copied.append(f"{job.config.dataset}/{job.config.name}/seed-{job.seed}")
    return copied


def _resolved(config) -> dict:
    """Every model parameter of a baseline, as a run records them (the recipe's defaults filled in)."""
    return get_recipe(config.model).resolve(get_dataset_info(config.dataset).kind, config.model_params)


def _same(run: dict | None, want: dict, later: dict) -> bool:
    """Whether a run's recorded settings are ``want``'s, a setting in ``later`` missing on either side
    standing for its default."""
    if run is None:
        return False
    full_run, full_want = {**later, **run}, {**later, **want}
    return full_run == full_want


def _longer_curve(run, want, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The curve of ``run`` cut at the study's length, where ``run`` is a longer run of the study's job
    ``want`` (a study to more times the budget): the same model parameters and training settings but as many
    steps or more, the same learning rate at every step of the study (``same_rates_up_to``), finished (or diverged),
    and evaluated at the study's last step. Cut there, its curve is the study run's: a run and its
    continuation are the same run (``continue_suite_runs``). None where any of it does not hold."""
    cfg = run.read_config() or {}
    recorded = cfg.get("train") or {}
    steps = recorded.get("steps")
    if not (isinstance(steps, int) and steps >= want.train.steps
            and _same(cfg.get("model_params"), _resolved(want), LATER_OPTIONS)):  # fmt: skip
        return None
    longer = dataclasses.replace(want.train, steps=steps)
    if not (_same(recorded, longer.identity(), LATER_DEFAULTS) and same_rates_up_to(want.train, longer)):
        return None
    res = files.read_json(run.result) if run.result.exists() else {}
    if not (res.get("status") == "diverged" or (res.get("status") == "complete" and res.get("steps") == steps)):
        return None
    curve = eval_curves(run.path).get(metric)
    if curve is None or not len(curve[0]):
        return None
    s, v = cut(*curve, want.train.steps)
    if res.get("status") == "complete" and (not len(s) or int(s[-1]) != want.train.steps):
        return None  # no evaluation at the study's last step: the study run's curve would end elsewhere
    return s, v


def rows_in_longer(suite: Suite, longer: list[Path]) -> set[tuple[str, str]]:
    """The rows of ``suite`` whose every seed has a run in one of the ``longer`` folders that, cut at the
    study's length, is the study's run (``_longer_curve``): ``--run`` need not train them."""
    jobs: dict = defaultdict(list)
    for job in suite.jobs:
        jobs[(job.config.dataset, job.config.name)].append(job)

    def found(job) -> bool:
        metric = MAIN_METRIC[job.config.dataset]
        return any(job.run_dir(f).path.exists() and _longer_curve(job.run_dir(f), job.config, metric) is not None
                   for f in longer)  # fmt: skip
    return {key for key, js in jobs.items() if key[0] in MAIN_METRIC and all(map(found, js))}


def read_curves(runs: Path, stale: list | None = None, resumed: dict | None = None, extend: float = EXTEND,
                unfinished: list | None = None, longer: list[Path] = (),
                borrowed: dict | None = None) -> dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """``{(dataset, model): {seed: (steps, values)}}`` of each run's main metric.

    Only runs trained with the study's present configuration of their baseline count (its model parameters
    and training settings, the steps at ``extend`` times the budget): a run of an older budget or older
    hyperparameters would justify a budget it was not trained under. Their folders are appended to
    ``stale`` when given; ``resumed``, when given, gets ``{(dataset, model): {seed: step}}`` of the counted
    runs that were resumed from a checkpoint (``resumed_from`` of their result). A run still training (or
    killed) has no result of the study's length yet (none, or the shorter run's it is continuing): its curve
    stops short and is left out, listed in ``unfinished`` when given.

    ``longer``: runs folders of longer studies (``--extend 3``), read for the rows that have no counted run in
    ``runs``: a longer run of a row's study job, cut at the study's length, is that job's run
    (``_longer_curve``), so a row a longer study trained need not be trained again. ``borrowed``, when given,
    gets ``{(dataset, model): folder}`` of the rows read from them.
    """
    expected = {(j.config.dataset, j.config.name): j.config for j in study_suite([0], extend=extend).jobs}
    out: dict = defaultdict(dict)
    for run in iter_runs(runs):
        dataset, model, seed = run.path.parent.parent.name, run.path.parent.name, run.path.name
        want, cfg = expected.get((dataset, model)), run.read_config() or {}
        if want is None or not (_same(cfg.get("model_params"), _resolved(want), LATER_OPTIONS)
                                and _same(cfg.get("train"), want.train.identity(), LATER_DEFAULTS)):  # fmt: skip
            if stale is not None:
                stale.append(f"{dataset}/{model}/{seed}")
            continue
        res = files.read_json(run.result) if run.result.exists() else {}
        if not (res.get("status") == "diverged" or (res.get("status") == "complete"
                                                    and res.get("steps") == want.train.steps)):  # fmt: skip
            if unfinished is not None:
                unfinished.append(f"{dataset}/{model}/{seed}")
            continue
        metric = MAIN_METRIC.get(dataset)
        curve = eval_curves(run.path).get(metric) if metric else None
        if curve is not None and len(curve[0]):
            out[(dataset, model)][int(seed.split("-")[-1])] = curve
            start = res.get("resumed_from")
            if resumed is not None and start:
                resumed.setdefault((dataset, model), {})[int(seed.split("-")[-1])] = int(start)
    own = set(out)
    for folder in longer:
        for run in iter_runs(folder):
            dataset, model, seed = run.path.parent.parent.name, run.path.parent.name, run.path.name
            want, metric = expected.get((dataset, model)), MAIN_METRIC.get(dataset)
            if want is None or metric is None or (dataset, model) in own:
                continue
            n = int(seed.split("-")[-1])
            if n in out.get((dataset, model), {}):
                continue  # an earlier folder's
            curve = _longer_curve(run, want, metric)
            if curve is not None:
                out[(dataset, model)][n] = curve
                if borrowed is not None:
                    borrowed.setdefault((dataset, model), folder)
    return out


def seed_mean(curves: dict[int, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Steps common to every seed, and the mean, min and max over seeds there."""
    steps, vals = aligned_curves(list(curves.values()))
    return steps, vals.mean(0), vals.min(0), vals.max(0)


def cut(steps: np.ndarray, values: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    keep = steps <= budget
    return steps[keep], values[keep]


def first_holding(steps, holds: list[bool]) -> int | None:
    """The first of ``steps`` from which ``holds`` is true at every later one; None if not at the last."""
    first = None
    for step, ok in zip(reversed(list(steps)), reversed(holds)):
        if not ok:
            break
        first = int(step)
    return first


def first_stable_plateau(steps: np.ndarray, values: np.ndarray, higher: bool) -> int | None:
    """The first evaluated step from which the curve cut there is plateaued at every later step."""
    return first_holding(steps, [plateau(*cut(steps, values, int(b)), higher).status == "plateaued" for b in steps])


def curves_figure(dataset: str, group: dict, budgets: dict, proposed: dict) -> bytes:
    metric = MAIN_METRIC[dataset]
    models = sorted(m for d, m in group if d == dataset)
    colors = model_colors(models)
    fig, axes = panel_grid(len(models), ncols=4, layout="constrained")  # titles clear of the row above
    for ax, model in zip(axes, models):
        steps, mean, lo, hi = seed_mean(group[(dataset, model)])
        band_plot(ax, steps, mean, lo, hi, colors[model], model)
        ax.axvline(budgets[(dataset, model)], color="k", ls="--", lw=0.8, label=f"budget {budgets[(dataset, model)]}")
        ok_from = proposed[(dataset, model)]
        if ok_from and ok_from != budgets[(dataset, model)]:
            ax.axvline(ok_from, color="k", ls=":", lw=0.8, label=f"justified from {ok_from}")
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(5))  # five-digit steps stay apart
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}k" if x else "0"))
        ax.set_ylabel(f"{metric} ({'higher' if METRICS[metric].higher_is_better else 'lower'} is better)", fontsize=8)
        if metric == "fd" and lo.min() > 0:  # FD falls by orders of magnitude; on a log axis the late steps show
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))  # 2, 5, 10, 20, ...
            ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))  # not 2x10^0
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=6)
    fig.suptitle(f"{dataset}: {metric} during training (seed mean; band: min to max over seeds)", fontsize=10)
    return figure_png(fig)


def curves_csv(group: dict) -> str:
    """Every seed's curve of the study, as CSV (``dataset,model,seed,step,value``): the data behind the report,
    kept beside it so that its numbers can be checked, and a later study's budgets compared, without the runs."""
    lines = ["dataset,model,seed,step,value"]
    for (dataset, model), curves in sorted(group.items()):
        for seed, (steps, values) in sorted(curves.items()):
            lines += [f"{dataset},{model},{seed},{int(st)},{float(v)!r}" for st, v in zip(steps, values)]
    return "\n".join(lines) + "\n"


def last_means(curves: dict, budget: int, end: int | None = None) -> tuple[float, float]:
    """The seed means of the last-evaluations means at the budget and at step ``end`` (default: the end of
    the study)."""
    at_budget = float(np.mean([last_mean(*cut(s, v, budget), total_steps=budget).mean for s, v in curves.values()]))
    at_end = float(np.mean([(last_mean(*cut(s, v, end), total_steps=end) if end else last_mean(s, v)).mean
                            for s, v in curves.values()]))  # fmt: skip
    return at_budget, at_end


def extension_pays(dataset: str, curves: dict, budget: int) -> bool:
    """Whether the seed mean of the last-evaluations means at ``PAYS_AFTER`` times the budget is better than
    at the budget by more than the plateau rule's tolerance: a curve can look flat at the budget (a slow start)
    and still rise later, which the extension shows and the rule alone cannot. False where the study's curves
    stop before that step (nothing to judge by)."""
    higher = METRICS[MAIN_METRIC[dataset]].higher_is_better
    end = int(PAYS_AFTER * budget)
    if min(int(s.max()) for s, _ in curves.values()) < end:
        return False
    at_budget, at_end = last_means(curves, budget, end)
    gain = (at_end - at_budget) if higher else (at_budget - at_end)
    return gain > max(PLATEAU_REL_TOL * abs(at_budget), PLATEAU_ABS_TOL)


def verdict_at(dataset: str, curves: dict, budget: int) -> str:
    """The plateau rule on the seed-mean curve cut at the budget (the leaderboard's verdict)."""
    higher = METRICS[MAIN_METRIC[dataset]].higher_is_better
    return plateau_over_seeds([cut(s, v, budget) for s, v in curves.values()], higher).status


def justified(dataset: str, curves: dict, budget: int) -> bool:
    """A budget is justified when the seed-mean curve has plateaued at it and training longer does not pay."""
    return verdict_at(dataset, curves, budget) == "plateaued" and not extension_pays(dataset, curves, budget)


def justified_from(dataset: str, curves: dict) -> int | None:
    """The first evaluated step from which every evaluated step, taken as the budget, is justified, up to the
    last one the study can judge (``PAYS_AFTER`` times it within the study); None if there is none. This is the
    budget a longer study proposes for a row whose present budget is not justified."""
    steps = seed_mean(curves)[0]
    last = min(int(s.max()) for s, _ in curves.values())
    judged = [int(b) for b in steps if int(PAYS_AFTER * b) <= last]
    return first_holding(judged, [justified(dataset, curves, b) for b in judged])


def ranking_change(dataset: str, group: dict, budgets: dict, extend: float = EXTEND) -> list[str]:
    """Would training every baseline ``extend`` times longer change the dataset's ranking? The ranking by the
    seed mean of the last-evaluations means at the budgets and at the end of the extension, Kendall's tau
    between them, and the pairs that swap (with both values, to judge them against seed noise)."""
    metric = MAIN_METRIC[dataset]
    higher = METRICS[metric].higher_is_better
    models = sorted(m for d, m in group if d == dataset and m != CONTROL)
    if len(models) < 2:
        return []
    means = {m: last_means(group[(dataset, m)], budgets[(dataset, m)]) for m in models}
    at_budget, at_end = {m: b for m, (b, _) in means.items()}, {m: e for m, (_, e) in means.items()}

    def order(vals: dict) -> list[str]:
        return sorted(models, key=lambda m: -vals[m] if higher else vals[m])

    def listing(vals: dict) -> str:
        return ", ".join(f"{m} {vals[m]:.3g}" for m in order(vals))

    rank_b = {m: i for i, m in enumerate(order(at_budget))}
    rank_e = {m: i for i, m in enumerate(order(at_end))}
    tau = scipy.stats.kendalltau([rank_b[m] for m in models], [rank_e[m] for m in models]).statistic
    swaps = [(a, b) for i, a in enumerate(models) for b in models[i + 1:]
             if (rank_b[a] - rank_b[b]) * (rank_e[a] - rank_e[b]) < 0]  # fmt: skip
    swapped = "; ".join(f"{a} and {b} ({at_budget[a]:.3g} and {at_budget[b]:.3g} at the budgets, "
                        f"{at_end[a]:.3g} and {at_end[b]:.3g} after)" for a, b in swaps)  # fmt: skip
    return [f"- **{dataset}** ({metric}, {'higher' if higher else 'lower'} is better). At the budgets: "
            f"{listing(at_budget)}. At {extend:g}x: {listing(at_end)}. Kendall's tau {tau:.2f}; "
            + (f"pairs that swap: {swapped}." if swaps else "no pair swaps.")]


FINAL_METRICS = {"points2d": ("hq_coverage", "hq_fraction", "modes_covered", "ct"),
                 "image": ("fd", "fd_heldout", "ct", "authenticity")}
STANDARD_BOARD = ROOT / "reports" / "standard-suite" / "leaderboard.csv"


def final_metrics(run_dirs) -> list[dict]:
    """The final protocol's metrics (``scores.json``) of each of ``run_dirs`` that has been scored, in order."""
    return [next(iter(sc.values()))["metrics"] for sc in (d.read_scores() for d in run_dirs) if sc]


def final_scores(runs: Path, rows: dict, extend: float, board: Path = STANDARD_BOARD) -> list[str]:
    """A table of the final protocol's scores (each run's ``scores.json``, seed mean) at the end of the study,
    beside the standard suite's published leaderboard at the budget (same seeds): whether what the curves
    show holds on the final protocol, and on held-out data (``fd_heldout``; ``ct`` near 0 generalising,
    negative copying training data, positive underfitting). ``rows``: ``{(dataset, model): seeds}``; rows
    with no scored run are left out."""
    std = pd.read_csv(board) if board.exists() else None
    lines = []
    for kind in ("points2d", "image"):
        names = FINAL_METRICS[kind]
        body = []
        for (dataset, model), seeds in sorted(rows.items(), key=lambda kv: (DATASETS.index(kv[0][0]), kv[0][1])):
            if get_dataset_info(dataset).kind != kind or model == CONTROL:
                continue
            scored = final_metrics(RunDir.of(runs, dataset, model, seed) for seed in seeds)
            if not scored:
                continue
            ref = None if std is None else std[(std.dataset == dataset) & (std.model == model)]
            cells = []
            for m in names:
                at_end = np.mean([float(x[m]) for x in scored if x.get(m) is not None])
                at_budget = None if ref is None or ref.empty or f"{m}_mean" not in ref else ref[f"{m}_mean"].iloc[0]
                before = "-" if at_budget is None or pd.isna(at_budget) else f"{at_budget:.3g}"
                cells.append(f"{before} -> {at_end:.3g}")
            body.append(f"| {dataset} | {model} | {len(scored)} | " + " | ".join(cells) + " |")
        if body:
            arrows = " | ".join(f"{m} {direction_mark(METRICS[m])}" for m in names)
            lines += ["", f"| dataset | model | seeds | {arrows} |", "| --- | --- | --- |" + " --- |" * len(names)]
            lines += body
    if not lines:
        return []
    return ["", f"## Final scores: at the budget and at {extend:g}x", "",
            ("Each cell: the standard suite's published seed mean at the budget (`reports/standard-suite/"
             f"leaderboard.csv`, the same seeds) -> the seed mean of this study's runs scored at {extend:g}x on the "
             "same final protocol (`scores.json`). `fd_heldout` is the FD against the held-out test split, which "
             "a model that memorises the training set does not improve; `ct` (Meehan et al. 2020) is about 0 "
             "for a model that generalises, negative when it copies training data, positive when it underfits.")
            ] + lines


VERDICT_COLUMNS = ("dataset", "model", "baseline", "budget", "plateaued", "longer_pays", "justified")


def verdict_rows(group: dict, budgets: dict) -> list[dict]:
    """Each studied baseline's verdicts (the report's table, as data): its configuration hash and budget,
    whether its seed-mean curve has plateaued at the budget, whether training on to 1.5x still pays, and
    whether the budget is justified. ``ganbench.results.leaderboard`` reads them (``budget-verdicts.csv``)
    into the ``budget`` column of a leaderboard row of that baseline's configuration."""
    rows = []
    for dataset in DATASETS:
        for model in sorted(m for d, m in group if d == dataset and m != CONTROL):
            curves, budget = group[(dataset, model)], budgets[(dataset, model)]
            rows.append({"dataset": dataset, "model": model, "baseline": baseline_hash(dataset, model),
                         "budget": budget,
                         "plateaued": "yes" if verdict_at(dataset, curves, budget) == "plateaued" else "no",
                         "longer_pays": "yes" if extension_pays(dataset, curves, budget) else "no",
                         "justified": "yes" if justified(dataset, curves, budget) else "no"})  # fmt: skip
    return rows


def verdicts_csv(rows: list[dict]) -> str:
    return "\n".join([",".join(VERDICT_COLUMNS)] + [",".join(str(r[c]) for c in VERDICT_COLUMNS) for r in rows]) + "\n"


def table_verdicts(text: str) -> list[dict]:
    """The verdict rows of a published report's table (``report``'s Markdown), in ``verdict_rows``' form."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 13 and cells[0] in DATASETS and cells[1] != CONTROL:
            rows.append({"dataset": cells[0], "model": cells[1], "baseline": cells[4].strip("`"),
                         "budget": int(cells[3]), "plateaued": "yes" if cells[6] == "plateaued" else "no",
                         "longer_pays": cells[10], "justified": "yes" if cells[12] == "yes" else "no"})  # fmt: skip
    return rows


def baseline_hash(dataset: str, model: str) -> str:
    """The configuration hash of the baseline's suite jobs (``Job.config_hash``, the ``@...`` of its run ids),
    written beside each row so that a report older than its baseline file can be told (tests check it)."""
    if model == CONTROL:
        return "-"
    return Job(find_baseline(model, dataset), 0).config_hash


def _row(dataset: str, model: str, curves: dict, budget: int, quick: set, ok_from: int | None) -> str:
    metric = MAIN_METRIC[dataset]
    higher = METRICS[metric].higher_is_better
    verdicts = [plateau(*cut(s, v, budget), higher).status for s, v in curves.values()]
    at_budget, at_end = last_means(curves, budget)
    steps, mean, _, _ = seed_mean(curves)
    first = first_stable_plateau(steps, mean, higher)
    n_ok = sum(v == "plateaued" for v in verdicts)
    return (f"| {dataset} | {model} | {'yes' if (dataset, model) in quick else 'no'} | {budget} | "
            f"`{baseline_hash(dataset, model)}` | {len(curves)} | "
            f"{verdict_at(dataset, curves, budget)} | "
            f"{n_ok}/{len(verdicts)} ({', '.join(sorted(set(verdicts)))}) | {at_budget:.3g} | "
            f"{at_end:.3g} (step {int(steps[-1])}) | {'yes' if extension_pays(dataset, curves, budget) else 'no'} | "
            f"{first if first else 'not within the study'} | "
            f"{'yes' if justified(dataset, curves, budget) else '**no**'} | "
            f"{ok_from if ok_from else 'not within the study'} |")


def report(runs: Path, out: Path, extend: float = EXTEND, longer: list[Path] = (),
           verdicts: Path | None = None) -> str:
    """The report's Markdown; its figures and every seed's curve (``curves.csv``) are written in a folder
    named after ``out``, and, given ``verdicts``, each baseline's verdicts as CSV there (``verdict_rows``)."""
    stale: list[str] = []
    resumed: dict = {}
    unfinished: list[str] = []
    borrowed: dict = {}
    group = read_curves(runs, stale, resumed, extend, unfinished, longer, borrowed)
    budgets = {(d, m): find_baseline("gan" if m == CONTROL else m, d).train.steps for d, m in group}
    proposed = {key: justified_from(key[0], curves) for key, curves in group.items()}  # once: table and figure
    quick = {(j.config.dataset, j.config.name) for j in load_suite("quick").jobs}
    figures = out.parent / out.stem  # reports/budgets.md's figures in reports/budgets/
    command = ("--run" + (f" --extend {extend:g} --rows ..." if extend != EXTEND else "")
               + "".join(f" --longer {f.name}" for f in longer))
    studied = ("every reference baseline on the embedded sets" if extend == EXTEND else
               "each row below (rows of `reports/budgets.md` whose budget is not justified)")  # fmt: skip
    lines = [
        "# Training budgets justified by learning curves"
        + (f": a longer study ({extend:g}x)" if extend != EXTEND else ""),
        "",
        (f"Made by `python scripts/budget_study.py {command}` (runs: `{runs.name}`): {studied} "
        f"trained for {extend:g}x its budget, its hyperparameters otherwise as in `baselines/` (a "
        "learning-rate schedule keeps its fixed decay length, so up to the budget each run is the baseline's own). "
        "The curves are the evaluations made during training (`metrics.jsonl`): 2,500 samples on 2D sets; the "
        "offline classifier's features of 2,000 samples on image sets, so their FD is not on the final protocol's "
        "scale."),
        "",
        (f"**Plateau rule** (`ganbench.evaluation.curves.plateau`, the rule of the leaderboard's `plateaued` "
        f"column): with n evaluations up to the budget and k = floor({PLATEAU_FRACTION} n), the mean of the last k "
        f"is within max({PLATEAU_REL_TOL:.0%} of the mean before, {PLATEAU_ABS_TOL}) of the mean of the k before "
        "them (at least 5 evaluations). The metric is the one each dataset ranks by: `hq_coverage` on 2D sets, "
        "`fd` on image sets. *Seed mean at budget* applies it to the mean over seeds of their curves cut at the "
        "budget (the verdict of the leaderboard's `plateaued` column); *seeds plateaued* applies it to each "
        "seed's own curve, for information (one seed's curve is much noisier than the mean); the "
        "*last-evaluations mean* (last 10% of the steps, at least 5 evaluations) at the budget and at the end "
        "of the extension shows whether training longer still pays (*longer pays*: the seed mean at the end is "
        "better than at the budget by more than the rule's tolerance, which catches a curve that is flat at the "
        "budget only because it has not started to rise); *first stable plateau* is the first step "
        "from which the seed-mean curve, cut there, is plateaued at every later step of the study. A budget is "
        "*justified* when the seed-mean curve has plateaued at it and training longer does not pay."
        + (f" Here the study runs {extend:g}x the budgets, and *longer pays* still compares the budget with "
           f"{PAYS_AFTER:g}x it; *last-evals mean at end* is at {extend:g}x." if extend != EXTEND else "")
        + f" *Justified from* is the first step from which every step, taken as the budget, is justified (as far "
        f"as the study can judge: up to 1/{PAYS_AFTER:g} of its length): the budget the curves propose."),
        "",
        ("*Baseline* is the configuration hash of the baseline file the row was studied under (the `@...` of its "
         "suite jobs' ids): a row whose hash differs from the present file's is out of date."),
        "",
        ("| dataset | model | in quick suite | budget | baseline | seeds | seed mean at budget | seeds plateaued at "
        "budget | last-evals mean at budget | last-evals mean at end | longer pays | first stable plateau | "
        "justified | justified from |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in DATASETS:
        models = sorted(m for d, m in group if d == dataset)
        lines += [_row(dataset, m, group[(dataset, m)], budgets[(dataset, m)], quick, proposed[(dataset, m)])
                  for m in models]  # fmt: skip
        if models:
            files.atomic_write_bytes(figures / f"curves_{dataset}.png",
                                     curves_figure(dataset, group, budgets, proposed))  # fmt: skip
    files.atomic_write_text(figures / "curves.csv", curves_csv(group))
    if verdicts is not None:
        files.atomic_write_text(verdicts, verdicts_csv(verdict_rows(group, budgets)))
    keys = [k for k in group if k[1] != CONTROL]
    plateaued = [k for k in keys if verdict_at(k[0], group[k], budgets[k]) == "plateaued"]
    just = [k for k in keys if justified(k[0], group[k], budgets[k])]
    in_quick = [k for k in keys if k in quick]
    quick_ok = [k for k in in_quick if k in plateaued]
    lines += ["", "## Summary", "",
              (f"{len(keys)} baselines studied (the ring8 constant-rate control aside): {len(plateaued)} have "
               f"plateaued at their budget by the rule on the seed-mean curve, {len(just)} of them are justified "
               f"(training longer does not pay either). Of the {len(in_quick)} in the quick suite, "
               f"{len(quick_ok)} have plateaued"
               + (f"; not: {', '.join(f'{d}/{m}' for d, m in sorted(set(in_quick) - set(quick_ok)))}."
                  if len(quick_ok) < len(in_quick) else ".")
               + (" The quick suite's rows where training longer still pays: "
                  + ", ".join(f"{d}/{m}" for d, m in sorted(set(in_quick) - set(just)))
                  + "." if set(in_quick) - set(just) else ""))]
    counts = sorted({len(c) for c in group.values()})
    n_seeds = " or ".join(str(n) for n in counts) + " seeds" + (" (the table's seeds column)" if len(counts) > 1 else "")
    lines += ["", "## Would training longer change the rankings?", "",
              ("Where training longer still pays, the question for a leaderboard is whether it would reorder "
               "the models. Each dataset's models ordered by the seed mean of their last-evaluations means at "
               f"their budgets and at the end of the study's {extend:g}x extension (the curves' metric, "
               f"{n_seeds}: read a swap between close values as within "
               "noise):"), ""]
    for dataset in DATASETS:
        lines += ranking_change(dataset, group, budgets, extend)
    lines += ["", "## Budgets not justified", "",
              ("Rows whose seed-mean curve has not plateaued at the baseline budget by the rule above, or where "
              "training longer still pays; the leaderboard's `plateaued` column marks the first kind wherever they "
              "are run. Where *justified from* names a step, the curves propose it as the budget; elsewhere a "
              "longer study (past the end of this one) has to find where they level off."), ""]
    for dataset in DATASETS:
        higher = METRICS[MAIN_METRIC[dataset]].higher_is_better
        for model in sorted(m for d, m in group if d == dataset):
            curves, budget = group[(dataset, model)], budgets[(dataset, model)]
            if justified(dataset, curves, budget):
                continue
            verdicts = [plateau(*cut(s_, v, budget), higher).status for s_, v in curves.values()]
            pays = "; training longer pays" if extension_pays(dataset, curves, budget) else ""
            lines.append(f"- {dataset} / {model}: seed mean {verdict_at(dataset, curves, budget)} (seeds: "
                         f"{', '.join(verdicts)}){pays}")
    missing = [f"{d} / {r.name}" for d in DATASETS for r in list_models() if (d, r.name) not in group]
    if missing:
        lines += ["", "## Not studied at the current budgets", "",
                  ("Baselines without study runs in this folder (their budget changed since the last study, or "
                  "they were left out of `--run`): their budgets are not justified by this report."
                   + (" This longer study is of chosen rows; `reports/budgets.md` studies every baseline at "
                      f"{EXTEND:g}x." if extend != EXTEND else "")), ""]
        lines += [f"- {m}" for m in missing]
    if resumed:
        lines += ["", "## Runs continued from a checkpoint", "",
                  ("These runs were resumed from their checkpoint (after a crash; when their baseline's budget "
                   "grew and the finished runs of the shorter study were continued to the new one; or when the "
                   "study started from a suite's finished runs at the budgets, `--continue-from`). Where the learning "
                   "rate does not depend on the budget (a constant rate, or a decay of fixed length, "
                   "`lr_decay_steps`, as every baseline here has) and the shorter run's last step is an evaluation "
                   "step, a continued run is the uninterrupted run bit for bit (`tests/test_training_batched.py`)."),
                  ""]
        lines += ["Each run's last resume is listed (a run continued more than once was also resumed before it).", ""]
        lines += [f"- {d} / {m}: " + ", ".join(f"seed {s_} from step {st}" for s_, st in sorted(seeds.items()))
                  for (d, m), seeds in sorted(resumed.items())]
    lines += final_scores(runs, {k: sorted(c) for k, c in group.items() if k not in borrowed}, extend)
    if borrowed:
        lines += ["", "## Rows read from a longer study", "",
                  ("These rows were not trained for this study: their curves are the runs of a longer study of "
                   "the same configuration and seeds (`--longer`), cut at this study's length. With the same "
                   "learning rate at every step up to it (a constant rate, or a decay of fixed length) and an "
                   "evaluation at its last step, a longer run cut there is this study's run: a run and its "
                   "continuation are one run (`tests/test_training_batched.py`)."), ""]
        lines += [f"- {d} / {m}: `{folder.name}`" for (d, m), folder in sorted(borrowed.items())]
    if stale:
        lines += ["", "## Runs left out", "",
                  ("Runs in the folder trained under another configuration than their baseline's present one "
                  f"(an older budget or older hyperparameters), not counted: {', '.join(sorted(stale))}.")]
    if unfinished:
        lines += ["", "## Runs not finished", "",
                  ("Runs in the folder with no result yet (still training, or stopped), not counted: "
                   f"{', '.join(sorted(unfinished))}.")]
    lines += ["", "## Curves", "", (f"Every seed's curve, the data behind this report: `{figures.name}/curves.csv` "
                                    "(dataset, model, seed, step, value)."), ""]
    for dataset in DATASETS:
        if any(d == dataset for d, _ in group):
            lines += [f"### {dataset}", "", f"![{dataset} curves]({figures.name}/curves_{dataset}.png)", ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="store_true", help="train the study's runs first (skips finished jobs)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "budget-curves"), help="runs folder")
    p.add_argument("--seeds", default="0,1,2",
                   help="training seeds (default 0,1,2: the standard suite's, so that its runs, continued, are the "
                        "study's and the study's verdicts at the budgets its leaderboard's)")  # fmt: skip
    p.add_argument("--jobs", type=int, default=None, help="parallel worker processes (default: cores)")
    p.add_argument("--datasets", help="with --run: train only these datasets' baselines (comma-separated)")
    p.add_argument("--models", help=f"with --run: train only these models (comma-separated; {CONTROL} too)")
    p.add_argument("--rows", help="with --run: train only these rows (comma-separated dataset/model, e.g. digits/gan)")
    p.add_argument("--extend", type=float, default=EXTEND,
                   help=f"train each baseline for this many times its budget (default {EXTEND}; a longer study finds "
                        "where the rows whose training still pays at 1.5x level off)")  # fmt: skip
    p.add_argument("--continue-from", metavar="RUNS",
                   help="with --run: start from a suite's finished runs in RUNS (e.g. the standard suite's, with "
                        "--seeds 0,1,2), continued from their final checkpoints, instead of from step 0")  # fmt: skip
    p.add_argument("--longer", metavar="RUNS", action="append", default=[],
                   help="runs folder of a longer study (--extend 3); rows with no runs in --runs are read from its "
                        "runs, cut at this study's length, instead of being trained again (repeatable; with --run, "
                        "those rows are not trained)")  # fmt: skip
    p.add_argument("--out", default=str(ROOT / "reports" / "budgets.md"))
    args = p.parse_args(argv)
    runs = Path(args.runs)
    if args.run:
        rows = [tuple(r.split("/", 1)) for r in args.rows.split(",")] if args.rows else None
        suite = study_suite([int(s) for s in args.seeds.split(",")],
                            args.datasets.split(",") if args.datasets else None,
                            args.models.split(",") if args.models else None, args.extend, rows)  # fmt: skip
        longer = [Path(f) for f in args.longer]
        covered = rows_in_longer(suite, longer)
        if covered:
            print(f"read from --longer, not trained: {', '.join(f'{d}/{m}' for d, m in sorted(covered))}",
                  file=sys.stderr)  # fmt: skip
            suite = dataclasses.replace(suite, jobs=tuple(j for j in suite.jobs
                                                          if (j.config.dataset, j.config.name) not in covered))
        if not suite.jobs and not covered:
            p.error("--datasets, --models and --rows leave no baseline to train")
        if args.continue_from:
            copied = continue_suite_runs(Path(args.continue_from), runs, suite, args.extend)
            print(f"continuing {len(copied)} finished runs of {args.continue_from}", file=sys.stderr)
        if suite.jobs:
            run_suite(suite, RunOptions(out=runs), jobs=args.jobs)
    if not any(iter_runs(runs)) and not args.longer:
        print(f"no runs in {runs}; pass --run to train them", file=sys.stderr)
        return 2
    out = Path(args.out)
    # The 1.5x study of every baseline is the one whose verdicts leaderboards show (baselines/budget-verdicts.csv)
    published = args.extend == EXTEND and not (args.rows or args.datasets or args.models)
    files.atomic_write_text(out, report(runs, out, args.extend, [Path(f) for f in args.longer],
                                        BASELINES_DIR / VERDICTS_FILE if published else None))  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Variants of a baseline's recipe trained side by side, to choose a recipe whose budget its curve justifies.

    python scripts/recipe_probe.py gan digits --variant floor-0.3 train.lr_floor=0.3 \\
        --variant constant train.lr_schedule=constant [--extend 3] [--seeds 0,1,2] [--runs DIR] [--out FILE.md]

Each variant is the committed baseline (``baselines/<model>_<dataset>.toml``) with the given settings changed
(``train.<field>=value`` or ``model_params.<key>=value``, values read as TOML), named ``<model>-<variant>`` and
trained for ``--extend`` times the baseline's budget with the standard suite's seeds as one stack (the suite
runner: resumable, scored at the end). The baseline itself is the ``baseline`` row, trained the same way, or
read from ``--baseline-runs`` (a budget study's runs folder of at least that length: ``budget_study.py --extend
3``), its curve cut at the probe's length. The report gives each variant's seed-mean curve of the metric its
dataset ranks by, the last-evaluations means at the budget, 1.5x and the end, the plateau verdict at the
budget, *justified from* (``budget_study.justified_from``: the first step from which every budget is
plateaued and 1.5x it does not pay) and the final protocol's scores at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import tomllib
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganbench.config import find_baseline
from ganbench.errors import UserError
from ganbench.evaluation.curves import eval_curves
from ganbench.metrics import METRICS, direction_mark
from ganbench.results.plots import band_plot, figure_png, model_colors, panel_grid
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Suite, run_suite
from ganbench.runs.worker import Job
from scripts.budget_study import (
    MAIN_METRIC,
    PAYS_AFTER,
    _longer_curve,
    curves_csv,
    cut,
    final_metrics,
    justified_from,
    last_means,
    seed_mean,
    verdict_at,
)

BASELINE = "baseline"


def variant_config(base, name: str, settings: list[str], steps: int):
    """``base`` with ``settings`` (``train.<field>=value``, ``model_params.<key>=value``) changed, named
    ``<model>-<name>``, trained for ``steps``."""
    train, params = {"steps": steps}, dict(base.model_params)
    for s in settings:
        key, sep, raw = s.partition("=")
        section, _, field = key.partition(".")
        if not sep or not field or section not in ("train", "model_params"):
            raise UserError(f"--variant {name}: {s!r} is not train.<field>=value or model_params.<key>=value")
        value = tomllib.loads(f"v = {raw}")["v"] if raw not in ("", None) else raw
        if section == "train":
            if field not in {f.name for f in dataclasses.fields(base.train)}:
                raise UserError(f"--variant {name}: train has no field {field!r}")
            train[field] = value
        else:
            params[field] = value
    label = base.name if name == BASELINE else f"{base.name}-{name}"
    return dataclasses.replace(base, name=label, model_params=params, train=base.train.replace(**train))


def probe_report(dataset: str, model: str, budget: int, curves: dict, scores: dict, extend: float,
                 settings: dict, out: Path) -> str:  # fmt: skip
    """The report's Markdown; its figure (seed-mean curves, min-max band) and every seed's curve of every
    variant (``curves.csv``: dataset, variant, seed, step, value) are written in a folder named after ``out``,
    so that its numbers can be checked without the runs."""
    metric = MAIN_METRIC[dataset]
    higher = METRICS[metric].higher_is_better
    names = list(curves)
    colors = model_colors(names)
    fig, axes = panel_grid(1, ncols=1, layout="constrained")
    ax = axes[0]
    for name in names:
        steps, mean, lo, hi = seed_mean(curves[name])
        band_plot(ax, steps, mean, lo, hi, colors[name], name)
    ax.axvline(budget, color="k", ls="--", lw=0.8, label=f"budget {budget}")
    fig.set_size_inches(7.5, 4.2)
    if metric == "fd":  # FD falls by orders of magnitude: a log axis, labelled 2, 5, 10, 20 (not 2x10^0)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("step")
    ax.set_title(f"{model} on {dataset}: seed mean (band: min to max over seeds)", fontsize=10)
    ax.set_ylabel(f"{metric} ({'higher' if higher else 'lower'} is better)")
    ax.legend(fontsize=7)
    figure = out.parent / out.stem / f"curves_{dataset}_{model}.png"
    files.atomic_write_bytes(figure, figure_png(fig))
    files.atomic_write_text(figure.parent / "curves.csv", curves_csv({(dataset, n): c for n, c in curves.items()}))
    end = int(extend * budget)
    lines = [f"# Recipe probe: {model} on {dataset}", "",
             (f"Made by `python scripts/recipe_probe.py {model} {dataset} ... --extend {extend:g}`: the committed "
              f"baseline (`baselines/{model}_{dataset}.toml`, budget {budget} steps) and variants of it, each "
              f"trained for {extend:g}x the budget, seeds as the standard suite's, one stack. The curves are the "
              f"evaluations during training ({metric}, the metric the dataset ranks by); *at budget*, *at "
              f"{PAYS_AFTER:g}x* and *at end* are the seed means of the last-evaluations means there; *justified "
              "from* is the first step from which every step, taken as the budget, has plateaued and training on to "
              f"{PAYS_AFTER:g}x it does not pay (`scripts/budget_study.py`), up to 1/{PAYS_AFTER:g} of the probe's "
              "length."), "",
             "| variant | settings | seeds | at budget | at 1.5x | at end | plateau at budget | justified from |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in names:
        c = curves[name]
        at_budget, at_15 = last_means(c, budget, int(PAYS_AFTER * budget))
        _, at_end = last_means(c, budget, end)
        ok = justified_from(dataset, c)
        lines.append(f"| {name} | {settings.get(name) or 'as committed'} | {len(c)} | {at_budget:.3g} | "
                     f"{at_15:.3g} | {at_end:.3g} | {verdict_at(dataset, c, budget)} | "
                     f"{ok if ok else 'not within the probe'} |")  # fmt: skip
    kept = [n for n in names if scores.get(n)]
    if kept:
        keys = sorted(set.intersection(*(set(s) for n in kept for s in scores[n])) & set(METRICS))
        keys = [k for k in ("fd", "fd_heldout", "ct", "precision", "coverage", "hq_coverage", "hq_fraction",
                            "modes_covered") if k in keys]  # fmt: skip
        lines += ["", f"Final protocol's scores at {end} steps (seed mean):", "",
                  "| variant | " + " | ".join(f"{k} {direction_mark(METRICS[k])}" for k in keys)
                  + " |", "| --- |" + " --- |" * len(keys)]
        lines += [f"| {n} | " + " | ".join(f"{np.mean([s[k] for s in scores[n]]):.3g}" for k in keys) + " |"
                  for n in kept]  # fmt: skip
    lines += ["", f"![curves]({out.stem}/{figure.name})", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("dataset")
    p.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "SETTING"),
                   help="a variant's name and its settings, e.g. floor-0.3 train.lr_floor=0.3 (repeatable)")
    p.add_argument("--extend", type=float, default=3.0)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=None)
    p.add_argument("--runs", default=str(ROOT / "runs" / "recipe-probe"))
    p.add_argument("--baseline-runs", help="read the baseline's curves from this longer study's runs folder")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    base = find_baseline(args.model, args.dataset)
    if args.dataset not in MAIN_METRIC:
        p.error(f"{args.dataset}: the probe reads the curves of the embedded sets ({', '.join(MAIN_METRIC)})")
    budget, steps = base.train.steps, int(args.extend * base.train.steps)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = {BASELINE: []} | {v[0]: v[1:] for v in args.variant}
    configs = {n: variant_config(base, n, s, steps) for n, s in variants.items()}
    runs = Path(args.runs)
    metric = MAIN_METRIC[args.dataset]
    curves: dict = {}
    scores: dict = {}
    if args.baseline_runs:
        dirs = {s: RunDir.of(args.baseline_runs, args.dataset, base.name, s) for s in seeds}
        got = {s: _longer_curve(d, configs[BASELINE], metric) for s, d in dirs.items()}
        if all(c is not None for c in got.values()):
            curves[BASELINE] = got
            if all((d.read_config() or {}).get("train", {}).get("steps") == steps for d in dirs.values()):
                scores[BASELINE] = final_metrics(dirs.values())
        else:
            print(f"--baseline-runs {args.baseline_runs}: no run of seeds {seeds} long enough; training it",
                  file=sys.stderr)  # fmt: skip
    train = {n: c for n, c in configs.items() if n not in curves}
    if train:
        run_suite(Suite("recipe-probe", "", tuple(Job(c, s) for c in train.values() for s in seeds)),
                  RunOptions(out=runs), jobs=args.jobs)  # fmt: skip
    for n, c in train.items():
        dirs = [RunDir.of(runs, args.dataset, c.name, s) for s in seeds]
        curves[n] = {s: cut(*eval_curves(d.path)[metric], steps) for s, d in zip(seeds, dirs)}
        scores[n] = final_metrics(dirs)
    curves = {n: curves[n] for n in variants}  # the baseline first
    out = Path(args.out)
    settings = {n: ", ".join(f"`{s}`" for s in v) for n, v in variants.items()}
    if BASELINE not in train:  # its curves (and scores, where as long) are another study's runs, not trained here
        settings[BASELINE] = "as committed; its runs read from a budget study's (`--baseline-runs`)"
    files.atomic_write_text(out, probe_report(args.dataset, args.model, budget, curves, scores, args.extend,
                                              settings, out))  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

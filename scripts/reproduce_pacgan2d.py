"""Reproduce PacGAN's Table 1 (2D ring and grid) at a reduced budget and write reports/pacgan2d-reduced.md.

    python scripts/reproduce_pacgan2d.py [--suite pacgan2d-reduced] [--out runs/pacgan2d-reduced] [--jobs 2]
                                         [--datasets ring8 grid25] [--no-run]

Runs the suite (skipping finished jobs; ``--no-run`` only reports on the runs already there), scores every
complete run under the current default protocol (a run scored only under an older protocol is re-scored,
not dropped), then writes the report: the table beside the published numbers (final score and the mean
over the last evaluations, ``ganbench.evaluation.curves.last_mean``), the modes and high-quality curves
against iterations (PNGs in a folder named after the report), Welch's t-tests of each PacGAN against the
GAN and, per dataset, a verdict on the paper's ordering computed from those numbers. Runs still missing
are listed. The published values below are copied from PacGAN's Table 1 (fjxmlzn/PacGAN, 10 trials,
mean +- s.e.); they are the reference, not something this script computes.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from scipy import stats

from ganbench.data import get_dataset_info, load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.curves import eval_curves, plateau_over_seeds
from ganbench.evaluation.evaluate import evaluate_run
from ganbench.evaluation.protocol import default_protocol, fingerprint
from ganbench.results.leaderboard import collect_scores
from ganbench.results.plots import band_plot, figure_png, model_colors, panel_grid
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite

ROOT = Path(__file__).resolve().parent.parent

# (model, dataset) -> (modes, modes s.e., HQ %, HQ s.e., reverse KL, rKL s.e.)
PUBLISHED = {
    ("gan", "ring8"): (6.3, 0.5, 98.2, 0.2, 0.45, 0.09),
    ("pacgan2", "ring8"): (7.9, 0.1, 95.6, 2.0, 0.07, 0.03),
    ("pacgan3", "ring8"): (7.8, 0.1, 97.7, 0.3, 0.10, 0.02),
    ("pacgan4", "ring8"): (7.8, 0.1, 95.9, 1.4, 0.07, 0.02),
    ("gan", "grid25"): (17.3, 0.8, 94.8, 0.7, 0.70, 0.07),
    ("pacgan2", "grid25"): (23.8, 0.7, 91.3, 0.8, 0.13, 0.04),
    ("pacgan3", "grid25"): (24.6, 0.4, 94.2, 0.4, 0.06, 0.02),
    ("pacgan4", "grid25"): (24.8, 0.2, 93.6, 0.6, 0.04, 0.01),
}
ORDER = ["gan", "pacgan2", "pacgan3", "pacgan4"]
DATASETS = ["ring8", "grid25"]
ALPHA = 0.05  # significance level of the verdicts
# (metric column, label, scale to the paper's units, decimals, index of the paper's value in PUBLISHED)
METRICS = [("modes_covered", "modes", 1.0, 1, 0), ("hq_fraction", "HQ %", 100.0, 1, 2), ("reverse_kl", "rKL", 1.0, 2, 4)]
TESTED = ["modes_covered", "hq_fraction", "reverse_kl"]  # the metrics of the Welch tests
KINDS = [("final", ""), ("last evaluations", "_last_mean")]  # (name, column suffix)
PHRASES = {"final": "final scores", "last evaluations": "last-evaluations means"}


# -- runs: which exist, re-scoring, one row per run ------------------------------------------------


def current_fingerprints(datasets) -> dict[str, str]:
    """The fingerprint id of the current default protocol (eval seed 0) per dataset."""
    out = {}
    for name in datasets:
        data = load_dataset(name)
        out[name] = fingerprint(default_protocol(data), None, data)["id"]
    return out


def expected_runs(suite) -> list[tuple[str, str, int]]:
    """(dataset, model, seed) of every job of the suite that this report covers."""
    return sorted((j.config.dataset, j.config.name, j.seed) for j in suite.jobs if j.config.name in ORDER)


def rescore(out: Path, expected, fps: dict[str, str], log=print) -> list[str]:
    """Score every complete run lacking a score under the current protocol (``evaluate_run``, eval seed 0,
    CPU); returns the runs re-scored as ``dataset/model/seed-k``."""
    done = []
    for dataset, model, seed in expected:
        run = RunDir.of(out, dataset, model, seed)
        if (run.read_result() or {}).get("status") == "complete" and fps[dataset] not in run.read_scores():
            log(f"re-scoring {dataset}/{model}/seed-{seed} under the current protocol")
            try:
                evaluate_run(run.path, eval_seed=0, device="cpu")
            except UserError as e:  # e.g. no checkpoint: listed as "unscored" among the missing runs
                log(f"could not re-score {dataset}/{model}/seed-{seed}: {e}")
                continue
            done.append(f"{dataset}/{model}/seed-{seed}")
    return done


def run_rows(out: Path, expected, fps: dict[str, str]) -> pd.DataFrame:
    """One row per complete run scored under the current protocol (collect_scores' columns)."""
    scores = collect_scores(out) if out.is_dir() else pd.DataFrame()
    if scores.empty:
        return pd.DataFrame(columns=["dataset", "model", "seed", "status", "fingerprint"])
    keys = set(expected)
    keep = [(d, m, s) in keys for d, m, s in zip(scores.dataset, scores.model, scores.seed)]
    scores = scores[keep]
    scores = scores[(scores.status == "complete") & (scores.fingerprint == scores.dataset.map(fps))]
    return scores.drop_duplicates(["dataset", "model", "seed"]).reset_index(drop=True)


def _status(out: Path, dataset: str, model: str, seed: int) -> str:
    run = RunDir.of(out, dataset, model, seed)
    if run.read_config() is None:
        return "not started"
    status = (run.read_result() or {}).get("status", "running")
    return "unscored" if status == "complete" else status


def _missing(out: Path, dataset: str, model: str, seeds: list[int]) -> str:
    """``gan seed 0 running, seeds 1, 2 not started``: a model's missing runs grouped by status."""
    by_status: dict[str, list[str]] = {}
    for s in seeds:
        by_status.setdefault(_status(out, dataset, model, s), []).append(str(s))
    return f"{model} " + ", ".join(f"seed{'s' if len(v) > 1 else ''} {', '.join(v)} {k}" for k, v in by_status.items())


def coverage(out: Path, expected, rows: pd.DataFrame) -> str:
    """Per dataset: how many of the suite's runs are complete and scored, and what the others are."""
    have = set(zip(rows.dataset, rows.model, rows.seed))
    lines = []
    for dataset in [d for d in DATASETS if any(e[0] == d for e in expected)]:
        mine = [e for e in expected if e[0] == dataset]
        missing = [e for e in mine if e not in have]
        line = f"- {dataset}: {len(mine) - len(missing)} of {len(mine)} runs"
        if missing:
            line += " (missing: " + "; ".join(_missing(out, dataset, model, [s for _, m, s in missing if m == model])
                                             for model in ORDER if any(m == model for _, m, _ in missing)) + ")"  # fmt: skip
        lines.append(line)
    return "\n".join(lines)


# -- the numbers ----------------------------------------------------------------------------------


def _se(values: np.ndarray) -> float:
    return float(stats.sem(values)) if len(values) > 1 else math.nan


def _pm(values: np.ndarray, scale: float, digits: int) -> str:
    if not len(values):
        return "–"
    se = _se(values)
    return f"{scale * values.mean():.{digits}f} ± " + ("n/a" if math.isnan(se) else f"{scale * se:.{digits}f}")


def _values(rows: pd.DataFrame, dataset: str, model: str, column: str) -> np.ndarray:
    sub = rows[(rows.dataset == dataset) & (rows.model == model)]
    if column not in sub:
        return np.array([])
    vals = pd.to_numeric(sub[column], errors="coerce").to_numpy(float)
    return vals[np.isfinite(vals)]


def table(rows: pd.DataFrame, datasets) -> str:
    """Ours (final, mean of the last evaluations) beside the paper's, mean ± s.e. over seeds."""
    head = ["dataset", "model", "runs"]
    for _, label, *_ in METRICS:
        head += [f"{label} final", f"{label} last evals", f"{label} paper"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for dataset in datasets:
        for model in ORDER:
            n = int(((rows.dataset == dataset) & (rows.model == model)).sum())
            if not n:
                continue
            pub = PUBLISHED[(model, dataset)]
            cells = [dataset, model, str(n)]
            for col, _, scale, digits, i in METRICS:
                cells += [_pm(_values(rows, dataset, model, col), scale, digits),
                          _pm(_values(rows, dataset, model, f"{col}_last_mean"), scale, digits),
                          f"{pub[i]} ± {pub[i + 1]}"]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def welch_tests(rows: pd.DataFrame, datasets) -> list[dict]:
    """Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``) of each PacGAN against the GAN, per
    dataset, tested metric and kind of score; t and p are NaN when a group has fewer than 2 runs or both
    groups have no spread and the same mean."""
    out = []
    for dataset in datasets:
        for model in ORDER[1:]:
            for metric in TESTED:
                for kind, suffix in KINDS:
                    pac = _values(rows, dataset, model, metric + suffix)
                    gan = _values(rows, dataset, "gan", metric + suffix)
                    if not len(pac) or not len(gan):
                        continue
                    t = p = math.nan
                    if len(pac) > 1 and len(gan) > 1:
                        with warnings.catch_warnings():  # zero variance in both groups: t and p are NaN
                            warnings.simplefilter("ignore", RuntimeWarning)
                            res = stats.ttest_ind(pac, gan, equal_var=False)
                        t, p = float(res.statistic), float(res.pvalue)
                    out.append({"dataset": dataset, "model": model, "metric": metric, "kind": kind, "n_pac": len(pac),
                                "n_gan": len(gan), "mean_pac": float(pac.mean()), "mean_gan": float(gan.mean()),
                                "diff": float(pac.mean() - gan.mean()), "t": t, "p": p})  # fmt: skip
    return out


def _g(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4g}"


def welch_table(tests: list[dict]) -> str:
    lines = ["| dataset | PacGAN vs GAN | metric | score | PacGAN mean (n) | GAN mean (n) | difference | t | p |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in tests:
        scale = 100.0 if r["metric"] == "hq_fraction" else 1.0
        unit = " %" if scale == 100.0 else ""
        lines.append(f"| {r['dataset']} | {r['model']} | {r['metric']} | {r['kind']} | "
                     f"{scale * r['mean_pac']:.2f}{unit} ({r['n_pac']}) | {scale * r['mean_gan']:.2f}{unit} ({r['n_gan']}) | "
                     f"{scale * r['diff']:+.2f}{unit} | {_g(r['t'])} | {_g(r['p'])} |")  # fmt: skip
    return "\n".join(lines)


def ordering_verdict(comparisons: dict[str, tuple[float, float]], alpha: float = ALPHA) -> str:
    """Whether PacGAN >= GAN in mean modes holds, from ``{pacgan: (mean difference to the GAN, Welch p)}``.

    - *holds*: every PacGAN's mean is at least the GAN's (the differences significant at ``alpha`` are named);
    - *does not hold*: some PacGAN's mean is below the GAN's with p < ``alpha``;
    - *inconclusive*: some PacGAN's mean is below the GAN's, none of those significantly (p >= ``alpha``,
      or no test with fewer than 2 runs a group).
    """
    if not comparisons:
        return "is not testable yet (no PacGAN and GAN runs to compare)"
    detail = ", ".join(f"{m} {d:+.2f} (p = {_g(p)})" for m, (d, p) in comparisons.items())
    below = [m for m, (d, _) in comparisons.items() if d < 0]
    sig_below = [m for m in below if comparisons[m][1] < alpha]
    if sig_below:
        return (f"does not hold: {', '.join(sig_below)} cover{'s' if len(sig_below) == 1 else ''} significantly fewer "
                f"modes than the GAN (Welch p < {alpha}); differences in mean modes, PacGAN - GAN: {detail}")  # fmt: skip
    if below:
        return (f"is inconclusive: {', '.join(below)} {'has' if len(below) == 1 else 'have'} fewer mean modes than the "
                f"GAN, but within noise (p >= {alpha} or too few runs to test); differences in mean modes, "
                f"PacGAN - GAN: {detail}")  # fmt: skip
    sig = [m for m, (d, p) in comparisons.items() if d > 0 and p < alpha]
    sig_text = (f"significant (p < {alpha}) for {', '.join(sig)}" if sig else
                f"no difference significant at p < {alpha}")  # fmt: skip
    return (f"holds: every PacGAN's mean modes >= the GAN's; {sig_text}; differences in mean modes, "
            f"PacGAN - GAN: {detail}")  # fmt: skip


def room_note(tests: list[dict], dataset: str, num_modes: int) -> str:
    """A sentence when the GAN's mean final modes are within half a mode of all ``num_modes``: mode counts
    then cannot show packing's effect at this budget, so it points at the reverse KL tests; else ``""``."""
    final = [r for r in tests if r["dataset"] == dataset and r["kind"] == "final"]
    gan = next((r["mean_gan"] for r in final if r["metric"] == "modes_covered"), None)
    if gan is None or gan < num_modes - 0.5:
        return ""
    rkl = ", ".join(f"{r['model']} {r['diff']:+.2f} (p = {_g(r['p'])})" for r in final if r["metric"] == "reverse_kl")
    paper = PUBLISHED[("gan", dataset)][0]
    return (f"The GAN itself covers {gan:.1f} of {num_modes} modes at this budget (the paper's GAN: {paper} at "
            "400,000 iterations), so mode counts leave packing little room to show here. Reverse KL of the "
            f"high-quality samples' modes (lower is better), final, PacGAN - GAN: {rkl or 'no runs to compare'}.")


def training_note(stages: dict[str, tuple[str, float]], dataset: str) -> str:
    """A sentence when some model is not trained at this budget (``stages``: ``{model: (plateau status of
    its seed-mean HQ curve, mean final HQ fraction)}``, from ``training_stages``): its HQ curve has not
    plateaued, or its final HQ % is under half the paper's (a curve can be flat because it has not started
    to rise). The verdict on modes then compares models at different stages of training. Else ``""``."""
    def short(m: str, status: str, hq: float) -> bool:
        return status != "plateaued" or 100 * hq < PUBLISHED[(m, dataset)][2] / 2

    if not any(short(m, s, hq) for m, (s, hq) in stages.items()):
        return ""
    listed = ", ".join(f"{m} {100 * hq:.1f}% (the paper's {PUBLISHED[(m, dataset)][2]}%; "
                       f"{'flat' if s == 'plateaued' else s} by the plateau rule)"
                       for m, (s, hq) in stages.items())  # fmt: skip
    return (f"HQ % at this budget against the paper's at 400,000 iterations, and the seed-mean HQ curve by "
            f"ganbench's plateau rule (the leaderboard's `plateaued` column): {listed}. Models still improving, "
            "or far below the paper's quality, are at different stages of training, so the verdict above "
            "compares partly trained models; it says nothing about where they would end.")


def training_stages(out: Path, rows: pd.DataFrame, dataset: str) -> dict[str, tuple[str, float]]:
    """``{model: (plateau status of its seed-mean HQ fraction curve, mean final HQ fraction)}``."""
    stages = {}
    for model in ORDER:
        curves = _run_curves(out, rows, dataset, model, "hq_fraction")
        if curves:
            hq = rows.loc[(rows.dataset == dataset) & (rows.model == model), "hq_fraction"].mean()
            stages[model] = (plateau_over_seeds(curves, True).status, float(hq))
    return stages


def verdicts(tests: list[dict], datasets, stages: dict[str, dict] | None = None) -> str:
    """The verdict lines per dataset; ``stages`` (``{dataset: training_stages(...)}``) adds the models not
    trained to a plateau."""
    out = []
    for dataset in datasets:
        said = []
        for kind, _ in KINDS:
            cmp = {r["model"]: (r["diff"], r["p"]) for r in tests
                   if r["dataset"] == dataset and r["metric"] == "modes_covered" and r["kind"] == kind}  # fmt: skip
            said.append(f"On the {PHRASES[kind]}, the paper's ordering (PacGAN >= GAN in modes covered) "
                        f"{ordering_verdict(cmp)}.")  # fmt: skip
        out.append(f"- **{dataset}.** " + " ".join(said))
        notes = [room_note(tests, dataset, get_dataset_info(dataset).num_modes),
                 training_note((stages or {}).get(dataset, {}), dataset)]  # fmt: skip
        out += [f"  - {note}" for note in notes if note]
    return "\n".join(out)


# -- figures ---------------------------------------------------------------------------------------


def _run_curves(out: Path, rows: pd.DataFrame, dataset: str, model: str, metric: str) -> list:
    """Each of the model's runs' ``(steps, values)`` evaluation curve of ``metric`` (runs without one left out)."""
    sub = rows[(rows.dataset == dataset) & (rows.model == model)]
    per_run = [eval_curves(RunDir.of(out, dataset, model, int(s)).path).get(metric) for s in sub.seed]
    return [c for c in per_run if c is not None]


def _curves(out: Path, rows: pd.DataFrame, dataset: str, model: str, metric: str):
    """(steps, seed mean, min, max) of a metric's evaluation curve over the model's runs, or None."""
    per_run = _run_curves(out, rows, dataset, model, metric)
    if not per_run:
        return None
    steps = np.unique(np.concatenate([c[0] for c in per_run]))
    grid = np.full((len(per_run), len(steps)), np.nan)
    for i, (st, v) in enumerate(per_run):
        grid[i, np.searchsorted(steps, st)] = v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return steps, np.nanmean(grid, 0), np.nanmin(grid, 0), np.nanmax(grid, 0)


def figures(out: Path, rows: pd.DataFrame, datasets, fig_dir: Path) -> list[tuple[str, Path]]:
    """One PNG per dataset: modes covered and HQ % against iterations, seed mean over a min-max band,
    the paper's final value (400k iterations) as a dashed line per model."""
    colors = model_colors(ORDER)
    made = []
    for dataset in datasets:
        if not (rows.dataset == dataset).any():
            continue
        fig, axes = panel_grid(2, ncols=2, panel_size=(5.0, 3.6))
        for ax, (metric, label, scale, _, i) in zip(axes, METRICS[:2]):
            for model in ORDER:
                curve = _curves(out, rows, dataset, model, metric)
                if curve is None:
                    continue
                steps, mean, lo, hi = curve
                band_plot(ax, steps, scale * mean, scale * lo, scale * hi, colors[model], model)
                ax.axhline(PUBLISHED[(model, dataset)][i], color=colors[model], linestyle="--", linewidth=1)
            ax.set_title(f"{dataset}: {label}", fontsize=10)
            ax.set_xlabel("iteration")
            ax.set_ylabel(label)
        handles = [Line2D([], [], color=colors[m], marker="o", markersize=3, label=m) for m in ORDER]
        handles.append(Line2D([], [], color="black", linestyle="--", linewidth=1, label="paper, final (400k iterations)"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        path = fig_dir / f"{dataset}.png"
        files.atomic_write_bytes(path, figure_png(fig))
        made.append((dataset, path))
    return made


# -- the report ------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="pacgan2d-reduced")
    ap.add_argument("--out", default=None)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=None, help="report on these datasets only")
    ap.add_argument("--no-run", action="store_true", help="do not train; report on the runs already in --out")
    ap.add_argument("--report", default=str(ROOT / "reports" / "pacgan2d-reduced.md"))
    args = ap.parse_args(argv)
    suite = load_suite(args.suite, datasets=args.datasets)
    out = Path(args.out or f"runs/{suite.name}")
    log = lambda m: print(m, file=sys.stderr, flush=True)
    if not args.no_run:
        run_suite(suite, RunOptions(out), jobs=args.jobs, log=log)
    expected = expected_runs(suite)
    datasets = [d for d in DATASETS if any(e[0] == d for e in expected)]
    fps = current_fingerprints(datasets)
    rescored = rescore(out, expected, fps, log) if out.is_dir() else []
    rows = run_rows(out, expected, fps)
    report = Path(args.report)
    fig_dir = report.with_suffix("")
    figs = figures(out, rows, datasets, fig_dir)
    tests = welch_tests(rows, datasets)
    steps = suite.jobs[0].config.train.steps
    train_s = float(pd.to_numeric(rows.get("train_time_s", pd.Series(dtype=float)), errors="coerce").sum())
    text = TEMPLATE.format(
        command=" ".join(["python", "scripts/reproduce_pacgan2d.py", *(argv if argv is not None else sys.argv[1:])]),
        suite=suite.name, cpus=os.cpu_count(), n_done=len(rows), n_expected=len(expected), train_s=train_s, coverage=coverage(out, expected, rows),
        rescored=(f"Re-scored under the current protocol (they had only older scores): {', '.join(rescored)}."
                  if rescored else "No run needed re-scoring: each had a score under the current protocol."),
        steps=steps, eval_every=suite.jobs[0].config.train.eval_every, pct=100 * steps / 400_000, seeds=len({j.seed for j in suite.jobs}), table=table(rows, datasets),
        figures="\n\n".join(f"![{d}: modes and HQ % against iterations]({fig_dir.name}/{p.name})" for d, p in figs)
        or "(no complete run yet)", welch=welch_table(tests) if tests else "(no PacGAN and GAN runs to compare yet)",
        verdicts=verdicts(tests, datasets, {d: training_stages(out, rows, d) for d in datasets}), alpha=ALPHA)  # fmt: skip
    files.atomic_write_text(report, text)
    print(text)
    return 0


TEMPLATE = """# PacGAN Table 1 at a reduced budget, under PacGAN's released protocol

Made by `{command}` (suite `{suite}`, on a machine with {cpus} CPU cores): {n_done} of {n_expected} runs complete and scored,
{train_s:.0f} s of training in all (the sum of the runs' training times).

{coverage}

{rescored}

**What is the same as the paper's released code** (fjxmlzn/PacGAN, 2D experiments; every value with its
source line is in `tests/models/test_pacgan_protocol.py`, and the top of `baselines/pacgan2d/*.toml` says
the same). Data: 8 Gaussians on a circle of radius 1 with sd 0.01, 25 on {{-4,-2,0,2,4}}^2 with sd 0.05,
100,000 training points. Networks: generator 4 x 400 ReLU with batch norm and no hidden biases,
discriminator 3 maxout layers of 200 units with 5 pieces, packing concatenates m samples at the
discriminator's input; both networks' weights N(0, 0.02), biases 0. Training: Adam, lr 1e-4, beta1 0.8,
batch 100 (100 packs of m samples for PacGANm), 2-D standard normal latents; both networks' gradients from
one forward pass, applied together (ALI's simultaneous update); the generator called once per pack slot on
100 latents, so batch-norm statistics are over 100 samples; Blocks' batch norm (epsilon 1e-4, population
mean and standard deviation moved at rate 0.05, refreshed from 50 generator batches before each
evaluation). Evaluation: every {eval_every:,} iterations (1,000, one epoch, in the paper's code) on 2,500 fixed latents in inference mode; a
sample is high quality within 3 sd of its nearest mode, a mode is covered when it is the nearest mode of at
least one high-quality sample, reverse KL of the high-quality samples' mode histogram to uniform.

**Differences kept.**
- The budget: {steps:,} iterations instead of 400,000 ({pct:.2f}% of it), and {seeds} seeds instead of 10.
- The training set is fixed (data seed 1234) for every run; the released code draws a new 100,000-point
  set per run.
- Real packs are m distinct points of an epoch-wise shuffle of the training set; the released code packs m
  independent resamples with replacement. Each pack is m draws from the training set in both (a
  with-replacement collision has probability 1e-5 per pair), so the distribution of a pack is the same.

## Table

Mean ± standard error over seeds. "final" is the score at the last iteration (what the paper reports);
"last evals" is each run's mean over its evaluations in the last 10% of training (at least 5 evaluations,
`ganbench.evaluation.curves.last_mean`), averaged over seeds. The paper's column is at 400,000 iterations.

{table}

## Curves

Seed mean (line) over the range of the seeds (band) at each evaluation; the dashed lines are the paper's
final values (400,000 iterations) in each model's colour.

{figures}

## Welch's t-tests of each PacGAN against the GAN

`scipy.stats.ttest_ind(pacgan, gan, equal_var=False)` over the runs' final scores and their last-evaluations
means; "n/a" where a group has fewer than 2 runs, or both groups have no spread and equal means.

{welch}

## Verdict

Rule: the ordering *holds* when every PacGAN's mean modes is at least the GAN's (a difference counts as
significant when Welch's p < {alpha}); it *does not hold* when some PacGAN's mean is below the GAN's with
p < {alpha}; it is *inconclusive* when some PacGAN's mean is below the GAN's but none of those differences is
significant.

{verdicts}

## Discussion

- **Budget.** The paper's values are after 400,000 iterations; these are after {steps:,}. The curves show
  where each model is at this budget and whether its modes and high-quality fraction still move; the
  table's verdicts are about this budget only, not about convergence.
- **Snapshots.** A 2D GAN's high-quality fraction can swing by tens of points between evaluations, so one
  final snapshot (the paper's measure) depends on the step it is taken at. The last-evaluations column
  shows by how much: where it and the final column differ, the final score reflects the step it was
  taken at more than the model's state over the end of training.
- **Seeds and tests.** With {seeds} seeds a Welch test detects only large differences; a p above {alpha}
  says the difference is within the seed-to-seed noise at this sample size, not that there is none.
- **Definitions.** The reverse KL is over the high-quality samples' mode histogram
  (`ganbench.metrics.mode_coverage_2d`), so with few high-quality samples it is noisy.

The full protocol is the `pacgan2d` suite (`ganbench run --suite pacgan2d`, 400,000 iterations, 10 seeds);
see the README for its time per run on CPU and GPU.
"""

if __name__ == "__main__":
    sys.exit(main())

"""Reproduce PacGAN's Table 1 (2D ring and grid) at a reduced budget and write reports/pacgan2d-reduced.md.

    python scripts/reproduce_pacgan2d.py [--suite pacgan2d-reduced] [--out runs/pacgan2d-reduced] [--jobs 2]

Runs the suite (skipping finished jobs), then sets ganbench's leaderboard beside the published numbers.
The published values below are copied from PacGAN's Table 1 (fjxmlzn/PacGAN, 10 trials, mean +- s.e.);
they are the reference, not something this script computes.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from ganbench.runs import files
from ganbench.results.leaderboard import collect_scores
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


def _se(values: np.ndarray) -> float:
    return float(stats.sem(values)) if len(values) > 1 else math.nan


def _suite_protocol(scores):
    """The rows scored under the suite's own protocol (a run re-scored under another counts once)."""
    from ganbench.data import load_dataset
    from ganbench.evaluation.protocol import default_protocol, fingerprint

    datasets = {ds: load_dataset(ds) for ds in scores.dataset.unique()}
    keep = {ds: fingerprint(default_protocol(d), None, d)["id"] for ds, d in datasets.items()}
    return scores[scores.fingerprint == scores.dataset.map(keep)]


def table(scores) -> str:
    lines = ["| dataset | model | seeds | modes (ours) | modes (paper) | HQ % (ours) | HQ % (paper) | rKL (ours) | rKL (paper) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for dataset in ("ring8", "grid25"):
        for model in ORDER:
            rows = scores[(scores.dataset == dataset) & (scores.model == model) & (scores.status == "complete")]
            pub = PUBLISHED[(model, dataset)]
            if rows.empty:
                continue
            m, h, k = (rows[c].to_numpy(float) for c in ("modes_covered", "hq_fraction", "reverse_kl"))
            lines.append(
                f"| {dataset} | {model} | {len(rows)} | {m.mean():.1f} ± {_se(m):.1f} | {pub[0]} ± {pub[1]} | "
                f"{100 * h.mean():.1f} ± {100 * _se(h):.1f} | {pub[2]} ± {pub[3]} | {k.mean():.2f} ± {_se(k):.2f} | "
                f"{pub[4]} ± {pub[5]} |"
            )
    return "\n".join(lines)


def observations(scores) -> str:
    """Sentences computed from the numbers: packing against the plain GAN, per dataset."""
    out = []
    for dataset, paper_gan in (("ring8", 6.3), ("grid25", 17.3)):
        sub = scores[(scores.dataset == dataset) & (scores.status == "complete")]
        means = sub.groupby("model")["modes_covered"].mean()
        hq = sub.groupby("model")["hq_fraction"].mean()
        if "gan" not in means:
            continue
        pac = {m: means[m] for m in ORDER[1:] if m in means}
        better = [m for m, v in pac.items() if v > means["gan"]]
        verdict = ("every PacGAN covers more modes than the GAN" if len(better) == len(pac) else
                   f"{len(better)} of {len(pac)} PacGANs cover more modes than the GAN")  # fmt: skip
        out.append(f"- **{dataset}**: {verdict} ({', '.join(f'{m} {v:.1f}' for m, v in pac.items())} against "
                   f"{means['gan']:.1f}; the paper's GAN has {paper_gan} at full budget). Mean high-quality fraction: "
                   + ", ".join(f"{m} {100 * hq[m]:.1f}%" for m in ORDER if m in hq) + ".")  # fmt: skip
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="pacgan2d-reduced")
    ap.add_argument("--out", default=None)
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--report", default=str(ROOT / "reports" / "pacgan2d-reduced.md"))
    args = ap.parse_args(argv)
    suite = load_suite(args.suite)
    out = Path(args.out or f"runs/{suite.name}")
    run_suite(suite, RunOptions(out), jobs=args.jobs, log=lambda m: print(m, file=sys.stderr, flush=True))
    scores = collect_scores(out)
    scores = scores[scores.model.isin(ORDER) & scores.dataset.isin(["ring8", "grid25"])]
    runs = scores.drop_duplicates(["dataset", "model", "seed"])  # one row per run, scored or not
    scores = _suite_protocol(scores)
    steps = suite.jobs[0].config.train.steps
    train_s = float(runs["train_time_s"].sum())
    text = TEMPLATE.format(table=table(scores), steps=steps, pct=100 * steps / 400_000, seeds=len({j.seed for j in suite.jobs}),
                           train_s=train_s, jobs=len(runs), suite=suite.name, observations=observations(scores),
                           command=" ".join(["python", "scripts/reproduce_pacgan2d.py", *(argv or sys.argv[1:])]))  # fmt: skip
    files.atomic_write_text(args.report, text)
    print(text)
    return 0


TEMPLATE = """# PacGAN Table 1 at a reduced budget

Reproduced by `{command}` (suite `{suite}`) on 2 CPU cores: {jobs} jobs, {train_s:.0f} s of training
in all (the sum of the jobs' training times; with 2 worker processes the wall time is about half).

**What is the same as the paper.** Data (8 Gaussians on a circle of radius 1 with sd 0.01; 25 on
{{-4,-2,0,2,4}}^2 with sd 0.05; 100,000 training points), networks (generator 4 x 400 ReLU with batch norm,
discriminator 3 maxout layers of 200 units with 5 pieces; packing concatenates m samples at the
discriminator's input), optimiser (Adam, lr 1e-4, beta1 0.8), batch 100, 2-D standard normal latents, and
evaluation (2,500 samples; a sample is high quality within 3 sd of its nearest mode; a mode is covered when
it is the nearest mode of at least one high-quality sample; reverse KL of the high-quality samples' mode
histogram to uniform).

**What is not.** The budget: {steps:,} iterations instead of 400,000 ({pct:.2f}% of it), and {seeds} seeds
instead of 10. Both columns give mean ± standard error over seeds.

{table}

## Observed in this run

{observations}

## Discussion

At {pct:.2f}% of the published budget these networks are far from converged, so the comparison is one of
trends, not of values.

- **High-quality fraction.** The modes are very narrow (3 sd is 0.03 on the ring, 0.15 on the grid) and
  lr 1e-4 moves slowly, so the high-quality fraction sits far below the paper's 91-98%. Since a mode counts
  as covered only through high-quality samples, a model whose samples are still diffuse also scores few
  modes: at this budget, mode counts mix "collapsed" with "not yet sharp".
- **Packing at a small budget.** A PacGAN discriminator with m packed samples has an m-times wider input
  and sees m times as many real samples a step; at lr 1e-4 its generator sharpens more slowly, which shows
  as a lower high-quality fraction for larger m. The paper's advantage of packing is measured after 400k
  iterations; the observations above say whether it already shows here.
- **The plain GAN on the ring.** The paper's 6.3 modes reflect collapse after long training; coverage is not
  monotone in training (each run's `metrics.jsonl` has the coverage every 500 steps, and `ganbench report`
  plots it), so a GAN covering more modes than that early on does not contradict the paper.
- **Definitions.** The paper's reverse-KL definition is inferred (KL of the generated mode distribution to
  uniform; ../shared/reference/paper-tables.md); ganbench counts only high-quality samples in that histogram
  (`ganbench.metrics.mode_coverage_2d`), so with few high-quality samples the reverse KL is noisy.
- **Packing batch.** PacGAN's code feeds 100 packed groups per discriminator batch; ganbench's packed
  discriminator likewise sees 100 groups of m samples (m x 100 real samples a step).

The full protocol is the `pacgan2d` suite (`ganbench run --suite pacgan2d`): about 20 ms a step on one CPU
core for the GAN and up to about 2.5 times that for PacGAN4, so hours per run on a CPU; it is GPU work.
"""

if __name__ == "__main__":
    sys.exit(main())

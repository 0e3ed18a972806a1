"""How often does a leaderboard's "95% confidence interval of the mean over seeds" hold the true mean?

A leaderboard row has 2 to 5 training seeds. This script draws many rows of n seeds' scores from a known
distribution and counts how often each interval holds the distribution's mean: the percentile bootstrap of
the mean that ganbench's leaderboard used before (``scipy.stats.bootstrap``, 2,000 resamples, as it was
called) and the Student-t interval it uses now (``ganbench.results.ranking.mean_ci``). Two distributions of
a row's scores: normal, and lognormal (sigma 0.5: skewed, as a metric bounded below such as FD can be).

    python scripts/seed_ci_coverage.py                 # writes reports/seed-ci-coverage.md
    python scripts/seed_ci_coverage.py --republish reports/standard-suite/leaderboard.csv

``--republish CSV`` rewrites a published leaderboard's ``<metric>_ci95_low`` / ``_ci95_high`` columns as the
t-interval of each row's committed mean, standard deviation and seed count cut to the metric's bounds
(``ganbench.results.ranking.t_interval``, which the leaderboard's ``mean_ci`` calls; no score or rank
changes). It refuses a row whose ``n_seeds`` cannot be each metric's count of values (a metric finite on fewer
seeds than the row's runs), which the committed columns alone cannot settle.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganbench.metrics import METRICS  # noqa: E402
from ganbench.results.ranking import mean_ci, t_interval  # noqa: E402
from ganbench.runs import files  # noqa: E402

OUT = ROOT / "reports" / "seed-ci-coverage.md"
SEEDS = (2, 3, 5, 10)
DISTRIBUTIONS = {  # name -> (draw(rng, shape), true mean)
    "normal": (lambda rng, shape: rng.normal(0.0, 1.0, shape), 0.0),
    "lognormal (sigma 0.5)": (lambda rng, shape: rng.lognormal(0.0, 0.5, shape), math.exp(0.5**2 / 2)),
}


def percentile_bootstrap(rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The former leaderboard interval of each row (``rows``: [reps, n]), vectorised over rows."""
    res = stats.bootstrap((rows,), np.mean, axis=-1, vectorized=True, confidence_level=0.95, n_resamples=2000,
                          method="percentile", random_state=np.random.default_rng(seed), batch=200)  # fmt: skip
    return res.confidence_interval.low, res.confidence_interval.high


def coverage(reps: int, seed: int = 0) -> list[dict]:
    """Per (distribution, n): the share of ``reps`` simulated rows whose interval holds the true mean, and
    the intervals' median width in units of the distribution's standard deviation."""
    rng = np.random.default_rng(seed)
    out = []
    for name, (draw, mu) in DISTRIBUTIONS.items():
        sd = float(np.std(draw(np.random.default_rng(1), 1_000_000)))
        for n in SEEDS:
            rows = draw(rng, (reps, n))
            b_low, b_high = percentile_bootstrap(rows, seed)
            t_low, t_high = np.array([mean_ci(r) for r in rows]).T
            out.append({"distribution": name, "n": n, "reps": reps,
                        "bootstrap": float(np.mean((b_low <= mu) & (mu <= b_high))),
                        "t": float(np.mean((t_low <= mu) & (mu <= t_high))),
                        "bootstrap_width": float(np.median(b_high - b_low)) / sd,
                        "t_width": float(np.median(t_high - t_low)) / sd})  # fmt: skip
    return out


def report(rows: list[dict]) -> str:
    reps = rows[0]["reps"]
    lines = [
        "# Confidence intervals of a leaderboard row's mean over training seeds: stated 95%, actual coverage",
        "",
        f"Made by `python scripts/seed_ci_coverage.py`: {reps:,} simulated rows of n seeds' scores per line, "
        "drawn from a known distribution; *coverage* is the share of rows whose 95% interval holds the "
        "distribution's mean (binomial standard error about "
        f"{math.sqrt(0.95 * 0.05 / reps):.3f} at 95%). *Percentile bootstrap*: what the leaderboard's "
        "`<metric>_ci95_low` / `_ci95_high` columns were before (`scipy.stats.bootstrap` of the mean, 2,000 "
        "resamples, percentile method); *Student t*: what they are now (`ganbench.results.ranking.mean_ci`, "
        "mean ± t(0.975, n-1) sd/sqrt(n)). Widths are medians, in units of the distribution's standard "
        "deviation.",
        "",
        "| scores over seeds | seeds n | percentile bootstrap: coverage | Student t: coverage "
        "| bootstrap width | t width |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['distribution']} | {r['n']} | {r['bootstrap']:.3f} | {r['t']:.3f} | "
                     f"{r['bootstrap_width']:.2f} | {r['t_width']:.2f} |")  # fmt: skip
    normal = {r["n"]: r for r in rows if r["distribution"] == "normal"}
    lines += [
        "",
        "With 2 seeds the percentile bootstrap's interval is the two values themselves (the resampled means are "
        "a, (a+b)/2 and b), which hold the mean of a symmetric distribution half the time "
        f"({normal[2]['bootstrap']:.2f} here); with 3 seeds, the standard suite's, it holds it "
        f"{normal[3]['bootstrap']:.2f} of the time for a stated 0.95. It nears its level only as the seeds "
        "grow, while the t-interval's coverage is exact for normal scores at every n, and nearer 0.95 than the "
        "bootstrap's for the skewed scores. The t-interval is wide at 2 seeds (t(0.975, 1) = 12.71: it reaches 9 "
        "times the two seeds' standard deviation either side of their mean): that is what 2 seeds can say "
        "about a mean. The "
        "leaderboard's rank ranges were never built on these intervals (they come from Welch's t-tests between "
        "rows), so no rank range changes. The leaderboard also cuts the t-interval to the metric's range where "
        "its definition has one (`MetricSpec.bounds`, e.g. [0, 1] for a fraction), which cannot lower its "
        "coverage: the mean of scores in that range lies in it.",
        "",
    ]
    return "\n".join(lines)


def republish(path: Path) -> int:
    """Rewrite ``path``'s ci95 columns as t-intervals of its committed mean, sd and n_seeds cut to each
    metric's bounds, every other cell as it was; returns how many (row, metric) intervals changed."""
    board = pd.read_csv(path, dtype=str, keep_default_na=False)  # cells as written: only the intervals change
    metrics = [c[: -len("_ci95_low")] for c in board.columns if c.endswith("_ci95_low")]

    def num(cell: str) -> float:
        return float(cell) if cell else math.nan

    changed = 0
    for i, row in board.iterrows():
        for m in metrics:
            mean, sd, n = num(row[f"{m}_mean"]), num(row[f"{m}_std"]), int(num(row["n_seeds"]))
            if not (math.isfinite(mean) and math.isfinite(sd)) or n < 2:
                continue
            old = (num(row[f"{m}_ci95_low"]), num(row[f"{m}_ci95_high"]))
            if n > 2 and sd > 0 and math.isclose(old[0] + old[1], 2 * mean, rel_tol=1e-12) and math.isclose(
                    old[1] - old[0], sd * math.sqrt(2), rel_tol=1e-9):  # fmt: skip
                raise SystemExit(f"{path}: {row['dataset']}/{row['model']} {m}: the old interval is that of 2 "
                                 f"values, not of its {n} seeds; rerun the suite's report instead")  # fmt: skip
            new = t_interval(mean, sd, n, bounds=METRICS[m].bounds)
            board.loc[i, [f"{m}_ci95_low", f"{m}_ci95_high"]] = [repr(v) for v in new]
            changed += old != new
    files.atomic_write_text(path, board.to_csv(index=False))
    return changed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=20_000, help="simulated rows per (distribution, n)")
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--republish", metavar="CSV", help="rewrite this leaderboard CSV's ci95 columns, then stop")
    args = p.parse_args(argv)
    if args.republish:
        print(f"{args.republish}: {republish(Path(args.republish))} intervals rewritten")
        return 0
    files.atomic_write_text(Path(args.out), report(coverage(args.reps)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

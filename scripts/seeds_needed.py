"""How many training seeds would tell the published standard suite's neighbours apart?

The standard suite trains 3 seeds per baseline, and its `rank range` column shows that 3 seeds do not
separate most neighbours (the five GAN objectives span ranks 1-5 on ring8, digits and stacked-digits). This
script reads the published leaderboard (`reports/standard-suite/leaderboard.csv`) and, for each pair of
neighbouring ranks, sets the observed difference against the seed-to-seed spread: Cohen's d (the difference
of the means over the pooled standard deviation), Welch's p at the published seeds, and the seeds per model a
two-sample t-test would need to detect a difference of that size with 80% power at a two-sided 5% level
(the power of Student's t-test from the noncentral t distribution, ``scipy.stats.nct``; Cohen 1988, ch. 2).

Read the counts as orders of magnitude, not as a plan: d is estimated from 3 seeds a side, so it is itself
noisy, and a pair whose true difference is 0 needs infinitely many seeds.

    python scripts/seeds_needed.py      # writes reports/seeds-needed.md
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganbench.metrics import METRICS  # noqa: E402
from ganbench.results.ranking import ALPHA, CAP, POWER, pooled_sd, power, seeds_needed, welch_p  # noqa: E402
from ganbench.runs import files  # noqa: E402

BOARD = ROOT / "reports" / "standard-suite" / "leaderboard.csv"
OUT = ROOT / "reports" / "seeds-needed.md"


def pairs(board: pd.DataFrame) -> list[dict]:
    """Each pair of neighbouring ranks of each dataset's ranked rows, with its difference and spread."""
    out = []
    ranked = board[board["rank"].notna()].sort_values(["dataset", "rank"])
    for dataset, g in ranked.groupby("dataset", sort=True):
        metric = g["primary_metric"].iloc[0]
        rows = list(g.itertuples())
        for a, b in zip(rows, rows[1:]):
            ma, sa, na = getattr(a, f"{metric}_mean"), getattr(a, f"{metric}_std"), int(a.n_seeds)
            mb, sb, nb = getattr(b, f"{metric}_mean"), getattr(b, f"{metric}_std"), int(b.n_seeds)
            pooled = pooled_sd((ma, sa, na), (mb, sb, nb))
            d = abs(ma - mb) / pooled if pooled > 0 else math.inf
            out.append({"dataset": dataset, "metric": metric, "better": a.model, "worse": b.model,
                        "ranks": f"{int(a.rank)}-{int(b.rank)}", "diff": abs(ma - mb), "pooled_sd": pooled,
                        "d": d, "seeds": min(na, nb), "p": welch_p((ma, sa, na), (mb, sb, nb)),
                        "needed": seeds_needed(d)})  # fmt: skip
    return out


def report(board_path: Path) -> str:
    rows = pairs(pd.read_csv(board_path))
    name = board_path.relative_to(ROOT) if board_path.is_relative_to(ROOT) else board_path.name
    lines = [
        "# Seeds needed to tell neighbouring ranks apart",
        "",
        (f"Made by `python scripts/seeds_needed.py` from `{name}` (the published standard suite). For each pair "
         "of neighbouring ranks on the metric each dataset ranks by: the difference of the seed means, the pooled "
         "standard deviation over training seeds, Cohen's d (their ratio), Welch's p at the published seeds "
         f"(the test of the leaderboard's `rank range`), and the seeds per model a two-sample t-test needs to "
         f"detect a difference of size d with {POWER:.0%} power at a two-sided {ALPHA:.0%} level (noncentral t, "
         f"Cohen 1988 ch. 2; '> {CAP}' beyond {CAP}). d is estimated from the published seeds, so the counts are "
         "orders of magnitude: they say whether a few more seeds, or hundreds, would settle the order."),
        "",
        "| dataset | metric | ranks | better | worse | difference | pooled sd | d | p (seeds) | seeds needed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        arrow = "↑" if METRICS[r["metric"]].higher_is_better else "↓"
        p = "n/a" if math.isnan(r["p"]) else f"{r['p']:.3f}"
        need = f"> {CAP}" if r["needed"] is None else str(r["needed"])
        lines.append(f"| {r['dataset']} | {r['metric']} {arrow} | {r['ranks']} | {r['better']} | {r['worse']} | "
                     f"{r['diff']:.3g} | {r['pooled_sd']:.3g} | {r['d']:.2f} | {p} ({r['seeds']}) | {need} |")
    need = [r["needed"] for r in rows]
    few = [f"{r['dataset']} {r['better']}/{r['worse']}" for r in rows if r["needed"] is not None and r["needed"] <= 10]
    many = [f"{r['dataset']} {r['better']}/{r['worse']}" for r in rows if r["needed"] is None or r["needed"] > 30]
    lines += ["", "## Summary", "",
              (f"{len(rows)} neighbouring pairs; median seeds needed per model "
               f"{_median(need)}. Within 10 seeds: {', '.join(few) if few else 'none'}. More than 30: "
               f"{', '.join(many) if many else 'none'}. The standard suite's 3 seeds separate a pair only when d "
               f"is about {_d_for(3):.1f} or more (80% power); with 10 seeds, about {_d_for(10):.1f}."), ""]
    return "\n".join(lines)


def _median(values: list[int | None]) -> str:
    v = np.array([CAP + 1 if x is None else x for x in values], dtype=float)
    m = float(np.median(v))
    return f"> {CAP}" if m > CAP else f"{m:g}"


def _d_for(n: int) -> float:
    """The smallest d (to 0.1) that n seeds per model detect with ``POWER``."""
    return next(d / 10 for d in range(1, 200) if power(d / 10, n) >= POWER)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--board", default=str(BOARD))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args(argv)
    files.atomic_write_text(args.out, report(Path(args.board).resolve()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

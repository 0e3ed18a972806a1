"""Published suite rows rerun on another machine, beside the published leaderboard: writes reports/cross-machine.md.

    python scripts/cross_machine.py --runs RUNS [--published reports/standard-suite/leaderboard.csv]
                                    [--metrics fd,precision,recall,coverage,modes_covered,mode_kl]
                                    [--out reports/cross-machine.md]

RUNS holds the rerun (``ganbench run --suite standard --datasets digits,stacked-digits --out RUNS``); its
datasets are the ones compared. Per (dataset, model) and metric: the published mean +- sd over training
seeds, the rerun's, the difference in units of the pooled sd (Cohen's d) and Welch's p
(``ganbench.results.ranking.welch_p``, the rank ranges' test); per dataset the two rank orders (Kendall's
tau) and rank ranges. What differs between the two is named in the header: the machine (CPU kernels:
training diverges from the last bits on, so a rerun is another draw, not a copy) and, where the fingerprints
differ, the extractor's weights.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from ganbench.results.leaderboard import leaderboard
from ganbench.results.ranking import pooled_sd, range_cell, welch_p
from ganbench.runs import files
from ganbench.runs.layout import iter_runs

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("fd", "precision", "recall", "coverage", "modes_covered", "mode_kl", "hq_fraction", "reverse_kl")


def cohens_d(a: tuple[float, float, int], b: tuple[float, float, int]) -> float:
    """(mean b - mean a) over the pooled sd of two rows' ``(mean, sd, n)``; NaN without spread."""
    if a[2] < 2 or b[2] < 2:
        return math.nan
    pooled = pooled_sd(a, b)
    return (b[0] - a[0]) / pooled if pooled > 0 else math.nan


def compare(published: pd.DataFrame, rerun: pd.DataFrame, metrics) -> pd.DataFrame:
    """One row per (dataset, model, metric) present in both, the real-data rows left out."""
    keep = ["dataset", "model", "n_seeds", "rank", "rank_best", "rank_worst", "fingerprint", "primary_metric"]
    pub = published[published["model"] != "real-data"]
    new = rerun[rerun["model"] != "real-data"]
    both = pub.merge(new, on=["dataset", "model"], suffixes=("_pub", "_new"))
    rows = []
    for _, r in both.iterrows():
        primary = r["primary_metric_pub"]
        present = [m for m in dict.fromkeys([primary, *metrics])
                   if f"{m}_mean_pub" in r and pd.notna(r[f"{m}_mean_pub"]) and pd.notna(r.get(f"{m}_mean_new"))]
        for m in present:
            a = (float(r[f"{m}_mean_pub"]), float(r[f"{m}_std_pub"]), int(r["n_seeds_pub"]))
            b = (float(r[f"{m}_mean_new"]), float(r[f"{m}_std_new"]), int(r["n_seeds_new"]))
            rows.append({**{f"{k}_{s}": r[f"{k}_{s}"] for k in keep[2:] for s in ("pub", "new")},
                         "dataset": r["dataset"], "model": r["model"], "metric": m, "primary": primary,
                         "mean_pub": a[0], "std_pub": a[1], "mean_new": b[0], "std_new": b[1],
                         "d": cohens_d(a, b), "p": welch_p(a, b)})  # fmt: skip
    return pd.DataFrame(rows)


def _cell(mean: float, std: float) -> str:
    return f"{mean:.4g} ± {std:.2g}"


def _num(x: float, fmt: str) -> str:
    return format(x, fmt) if math.isfinite(x) else "-"


def rerun_environment(runs: Path) -> dict:
    """The environment the first run of ``runs`` recorded (``config.json``)."""
    for run in iter_runs(runs):
        return files.read_json(run.config).get("environment", {})
    return {}


def render(table: pd.DataFrame, env: dict, published_path: str, runs: str, day: str) -> str:
    dev = env.get("device", {})
    machine = f"{dev.get('name', '?')}, {dev.get('capability', '?')} kernels"
    lines = [
        "# The standard suite's image rows rerun on another machine",
        "",
        f"Made by `python scripts/cross_machine.py --runs {runs}` on {day}: the rows of `{published_path}` for the "
        f"rerun's datasets, beside a rerun of the same baselines and seeds (`ganbench run --suite standard "
        f"--datasets ...`) on {machine}, ganbench commit {str(env.get('git_commit') or 'unknown')[:7]}. The "
        "published runs were trained on the machine named in `reports/standard-suite/README.md`. Training on "
        "another CPU's kernels diverges from the last bits on, so each rerun seed is another draw of the same "
        "training, not a copy: the question is whether the published numbers hold within their seed spread.",
        "",
        "*d*: the rerun's mean minus the published mean, in pooled standard deviations over seeds; *p*: Welch's "
        "t-test over seeds (two-sided; not corrected for the number of tests). ± is the sd over seeds.",
        "",
    ]
    fps = table.groupby("dataset")[["fingerprint_pub", "fingerprint_new", "primary"]].first()
    for dataset, g in table.groupby("dataset", sort=True):
        pub_fp, new_fp, primary = fps.loc[dataset]
        lines += [f"## {dataset}", ""]
        lines.append(f"Fingerprints: published `{pub_fp}`, rerun `{new_fp}`"
                     + (" (the same protocol)." if pub_fp == new_fp else
                        " (they differ: see the Protocol sections of the two reports; here the extractor's "
                        "weights)."))  # fmt: skip
        lines.append("")
        by_model = {m: gm.set_index("metric") for m, gm in g.groupby("model", sort=False)}
        order = sorted(by_model, key=lambda m: by_model[m]["rank_pub"].iloc[0])
        head = ["model", "seeds (published / rerun)", "rank (range) published", "rank (range) rerun",
                f"{primary} published", f"{primary} rerun", "d", "p"]  # fmt: skip
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for model in order:
            r = by_model[model].loc[primary]
            lines.append("| " + " | ".join([
                model, f"{int(r['n_seeds_pub'])} / {int(r['n_seeds_new'])}",
                f"{int(r['rank_pub'])} ({range_cell(r['rank_best_pub'], r['rank_worst_pub']) or '-'})",
                f"{int(r['rank_new'])} ({range_cell(r['rank_best_new'], r['rank_worst_new']) or '-'})",
                _cell(r["mean_pub"], r["std_pub"]), _cell(r["mean_new"], r["std_new"]), _num(r["d"], "+.2f"),
                _num(r["p"], ".3f")]) + " |")  # fmt: skip
        if len(order) > 1:
            tau = stats.kendalltau([by_model[m]["rank_pub"].iloc[0] for m in order],
                                   [by_model[m]["rank_new"].iloc[0] for m in order]).statistic  # fmt: skip
            lines += ["", f"Ranks are among each side's own rows. Kendall's tau between the two orders: {tau:.2f}."]
        others = [m for m in dict.fromkeys(g["metric"]) if m != primary]
        if others:
            lines += ["", "The other metrics, as d (the rerun minus the published mean in pooled sds; * where "
                      "Welch's p < 0.05; - where neither side has spread):", "",
                      "| model | " + " | ".join(others) + " |", "|" + " --- |" * (len(others) + 1)]  # fmt: skip
            for model in order:
                gm = by_model[model]
                lines.append(f"| {model} | " + " | ".join(
                    _num(gm.loc[m, "d"], "+.2f") + ("*" if gm.loc[m, "p"] < 0.05 else "") for m in others) + " |")
        lines.append("")
    n = len(table)
    sig = table[table["p"] < 0.05]
    big = table[table["d"].abs() > 2]
    lines += ["## Summary", "",
              f"{n} (row, metric) pairs; Welch's p < 0.05 for {len(sig)} of them "
              f"({', '.join(f'{r.dataset} {r.model} {r.metric}' for r in sig.itertuples()) or 'none'}); "
              f"|d| > 2 for {len(big)}. At p < 0.05 about {0.05 * n:.1f} pairs would differ by chance alone "
              "if nothing had changed.", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="the rerun's runs folder")
    p.add_argument("--published", default=str(ROOT / "reports" / "standard-suite" / "leaderboard.csv"))
    p.add_argument("--metrics", default=",".join(METRICS))
    p.add_argument("--out", default=str(ROOT / "reports" / "cross-machine.md"))
    args = p.parse_args(argv)
    rerun = leaderboard(args.runs)
    published = pd.read_csv(args.published)
    published = published[published["dataset"].isin(set(rerun["dataset"]))]
    table = compare(published, rerun, args.metrics.split(","))
    if table.empty:
        print(f"cross_machine: no (dataset, model) of {args.runs} is in {args.published}", file=sys.stderr)
        return 2
    day = datetime.date.today().isoformat()
    try:
        shown = Path(args.published).resolve().relative_to(ROOT)
    except ValueError:
        shown = Path(args.published)
    text = render(table, rerun_environment(Path(args.runs)), str(shown), args.runs, day)
    files.atomic_write_text(args.out, text + "\n")
    out = Path(args.out)
    files.atomic_write_text(out.with_suffix(".csv"), table.to_csv(index=False))
    print(json.dumps({"pairs": len(table), "p<0.05": int((table["p"] < 0.05).sum())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Leaderboards: per (dataset, model), seed statistics of every metric, ranks, and the real-data row.

Scores made under different protocols (fingerprints) are never averaged or ranked together: the
fingerprint id is part of the row key.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.errors import UserError
from ganbench.evaluation.curves import (
    MIN_POINTS,
    PLATEAUED,
    UNKNOWN,
    eval_curves,
    last_mean,
    plateau,
    plateau_over_seeds,
)
from ganbench.human.scoring import score_study
from ganbench.metrics import METRICS, direction_mark, ranking_keys
from ganbench.results.budgets import budget_column
from ganbench.results.ranking import mean_ci, rank_ranges, range_cell
from ganbench.runs import files
from ganbench.runs.layout import (
    iter_bench_files,
    iter_reference_scores,
    iter_runs,
    iter_studies,
    read_optional,
)

REFERENCE_MODEL = "real-data"


NOT_TRAINED = "external"  # the plateaued verdict of a row whose runs ganbench scored but did not train


def collect_scores(runs_dir) -> pd.DataFrame:
    """One row per (run, fingerprint), plus one per reference row and per unscored (diverged, failed) run.

    Columns: dataset, model, seed, status, fingerprint, train_time_s, steps, run_dir (the run's folder;
    empty on reference rows) and one per metric; then, from
    the run's evaluation curves in ``metrics.jsonl`` (``evaluation.curves``), per tracked metric
    ``<m>_last_mean`` (mean of the last evaluations) and ``<m>_plateau`` (``plateaued``, ``improving``,
    ``worsening`` or ``unknown``), and ``last_n`` (the fewest evaluations a metric's last mean averaged).
    ``runs_dir`` may be a list of folders: their runs are merged (a user's runs with the baselines').
    """
    if isinstance(runs_dir, (list, tuple)):
        frames = [collect_scores(d) for d in runs_dir]
        return pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
            not f.empty for f in frames) else pd.DataFrame()  # fmt: skip
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise UserError(f"runs folder {runs_dir} does not exist; run `ganbench run --out {runs_dir}` first")
    rows: list[dict] = []
    for d in iter_runs(runs_dir):
        cfg = d.read_config()
        if cfg is None:
            continue  # a config is written atomically; an unreadable one is not ganbench's
        result = d.read_result()
        status = (result or {}).get("status", "running")
        base = {"dataset": cfg["dataset"], "model": cfg.get("name", cfg["model"]), "seed": cfg["seed"],
                "status": status, "train_time_s": (result or {}).get("wall_time_s"),
                "steps": (result or {}).get("steps"), "run_dir": str(d.path),
                **_curve_summary(d, (result or {}).get("steps"))}  # fmt: skip
        scores = d.read_scores()
        if status != "complete" or not scores:
            rows.append({**base, "fingerprint": None})
        for fp_id, res in scores.items():
            if status == "complete":
                rows.append({**base, "fingerprint": fp_id, **_numbers(res["metrics"])})
    for ref in iter_reference_scores(runs_dir):
        for fp_id, res in (read_optional(ref) or {}).items():
            rows.append({"dataset": res["fingerprint"]["protocol"]["dataset"], "model": REFERENCE_MODEL, "seed": None,
                         "status": "reference", "fingerprint": fp_id, **_numbers(res["metrics"])})  # fmt: skip
    return pd.DataFrame(rows)


def _curve_summary(run, total_steps) -> dict:
    """``<m>_last_mean`` and ``<m>_plateau`` per metric tracked during training, and ``last_n``."""
    out: dict = {}
    ns = []
    total = total_steps if isinstance(total_steps, (int, float)) and not isinstance(total_steps, bool) else None
    for m, (steps, values) in eval_curves(run).items():
        last = last_mean(steps, values, total_steps=total)
        out[f"{m}_last_mean"] = last.mean
        out[f"{m}_plateau"] = plateau(steps, values, METRICS[m].higher_is_better).status
        ns.append(last.n)
    if ns:
        out["last_n"] = min(ns)
    return out


def _numbers(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items() if k in METRICS and isinstance(v, (int, float))}


def leaderboard(runs_dir, rank_all: bool = False) -> pd.DataFrame:
    """The leaderboard of a runs folder as a DataFrame.

    One row per (dataset, fingerprint, model): ``n_seeds`` (scored runs), ``n_diverged``, ``n_failed``,
    and per metric ``<m>_mean``, ``<m>_std`` (ddof=1), ``<m>_ci95_low``, ``<m>_ci95_high`` (95% Student-t
    interval of the mean over training seeds cut to the metric's bounds, ``ranking.mean_ci``); ``rank`` within
    (dataset, fingerprint) by the ranking keys of the metric specs (``ranking_keys()``: ``fd`` for images; for
    2D ``hq_coverage``, then ``modes_covered``, ``hq_fraction``, ``reverse_kl``), honouring ``higher_is_better``;
    the real-data reference row has model ``real-data`` and no rank; ``train_time_s_mean`` is the mean training
    time.
    Last come the columns of the runs' evaluation curves (``_curve_columns``): ``<m>_last_mean``,
    ``<m>_last_std``, ``last_n``, ``plateau_metric``, ``n_plateaued``, ``n_plateau_unknown``, ``plateaued``,
    and ``budget``: for a row of a reference baseline's present configuration, the budget study's verdict
    on its budget (``ganbench.results.budgets.budget_column``), which does not change the ranking.

    Only rows trained to a plateau are ranked: a row whose ``plateaued`` is ``no`` (its seed-mean curve
    still improving or worsening) or ``unknown`` (too few evaluations to tell) gets no rank and is listed
    after the ranked rows of its protocol, ordered by the same keys. Rows of samples that ganbench scored but
    did not train (``ganbench eval`` of a samples file, ``compare`` with a sampler; ``plateaued`` is
    ``external``) are ranked: how they were trained is their author's statement. ``rank_all=True`` ranks every
    model row whatever its curve (for exploring short runs; the ``plateaued`` column still says which are
    trained).
    """
    scores = collect_scores(runs_dir)
    if scores.empty:
        return pd.DataFrame(columns=["dataset", "model", "n_seeds"])
    metric_cols = [m for m in METRICS if m in scores.columns]
    rows, row_runs = [], []
    for (dataset, model), g in scores.groupby(["dataset", "model"], sort=True):
        n_div = int((g["status"] == "diverged").sum())
        n_fail = int((g["status"] == "failed").sum())
        scored = g[g["fingerprint"].notna()]
        groups = list(scored.groupby("fingerprint")) or [(None, scored)]
        for fp, sg in groups:
            row = {"dataset": dataset, "model": model, "fingerprint": fp, "n_seeds": int(len(sg)) if fp else 0,
                   "n_diverged": n_div, "n_failed": n_fail}  # fmt: skip
            for m in metric_cols:
                vals = sg[m].to_numpy(dtype=np.float64) if fp else np.array([])
                vals = vals[np.isfinite(vals)]
                row[f"{m}_mean"] = float(vals.mean()) if len(vals) else math.nan
                row[f"{m}_std"] = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
                row[f"{m}_ci95_low"], row[f"{m}_ci95_high"] = mean_ci(vals, bounds=METRICS[m].bounds)
            times = pd.to_numeric(sg["train_time_s"], errors="coerce").dropna()
            row["train_time_s_mean"] = float(times.mean()) if len(times) else math.nan
            rows.append(row)
            row_runs.append(sg.iloc[0:0] if not fp else sg)
    board = pd.DataFrame(rows)
    board = _join_bench(board, runs_dir)
    rank_keys = ranking_keys()
    board["primary_metric"] = [_primary(board, i, rank_keys) for i in range(len(board))]
    board = _curve_columns(board, row_runs, scores)
    board["budget"] = budget_column(board, row_runs)
    order = _ranks(board, rank_keys)  # every model row: the order within each protocol, ranked or not
    ranked = board["plateaued"].isin(["yes", NOT_TRAINED])
    board["rank"] = order if rank_all else _ranks(board, rank_keys, eligible=ranked)
    board["rank_best"], board["rank_worst"] = rank_ranges(board)
    board["_order"] = order
    board = _join_human(board, runs_dir)  # last: it may add a real-data row that has no runs
    lead = ["dataset", "model", "n_seeds", "n_diverged", "n_failed", "rank", "primary_metric", "fingerprint"]
    cols = lead + [c for c in board.columns if c not in lead]
    board = board[cols].sort_values(["dataset", "fingerprint", "rank", "_order", "model"], na_position="last")
    return board.drop(columns="_order").reset_index(drop=True)


def _curve_columns(board: pd.DataFrame, row_runs: list[pd.DataFrame], scores: pd.DataFrame) -> pd.DataFrame:
    """Columns from the runs' evaluation curves, after every other column (so theirs keep their places).

    Per metric tracked during training: ``<m>_last_mean`` and ``<m>_last_std`` (mean and ddof=1 standard
    deviation over the row's runs of each run's last-evaluations mean); ``last_n`` (the fewest evaluations
    a run's last mean averaged: under ``MIN_POINTS`` when a curve was that short); ``plateau_metric`` (the
    row's primary metric), ``n_plateaued`` and ``n_plateau_unknown`` (runs whose own curve of it has
    plateaued, or has fewer than ``MIN_POINTS`` evaluations, none included) and ``plateaued``: the plateau
    rule on the seed-mean curve of the row's runs (``plateau_over_seeds``): ``yes``, ``no`` (improving or
    worsening) or ``unknown`` (fewer than ``MIN_POINTS`` evaluations common to the runs); ``external`` when no
    run of the row was trained by ganbench (scored samples: result ``steps`` null); empty for the real-data
    row.
    """
    tracked = [m for m in METRICS if f"{m}_last_mean" in scores.columns]
    cols: dict[str, list] = {c: [] for m in tracked for c in (f"{m}_last_mean", f"{m}_last_std")}
    cols.update(last_n=[], plateau_metric=[], n_plateaued=[], n_plateau_unknown=[], plateaued=[])
    for i, runs in enumerate(row_runs):
        for m in tracked:
            vals = runs[f"{m}_last_mean"].to_numpy(dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            cols[f"{m}_last_mean"].append(float(vals.mean()) if len(vals) else math.nan)
            cols[f"{m}_last_std"].append(float(vals.std(ddof=1)) if len(vals) > 1 else math.nan)
        ns = pd.to_numeric(runs["last_n"], errors="coerce").dropna() if "last_n" in runs else pd.Series(dtype=float)
        cols["last_n"].append(int(ns.min()) if len(ns) else pd.NA)
        metric = board["primary_metric"].iloc[i]
        if runs.empty or board["model"].iloc[i] == REFERENCE_MODEL or metric is None:
            for c in ("plateau_metric", "n_plateaued", "n_plateau_unknown"):
                cols[c].append(None if c == "plateau_metric" else pd.NA)
            cols["plateaued"].append("")
            continue
        steps = pd.to_numeric(runs["steps"], errors="coerce") if "steps" in runs else pd.Series([0] * len(runs))
        if steps.isna().all():  # samples scored by `ganbench eval` / `compare`: no training seen here
            for c in ("n_plateaued", "n_plateau_unknown"):
                cols[c].append(pd.NA)
            cols["plateau_metric"].append(metric)
            cols["plateaued"].append(NOT_TRAINED)
            continue
        col = f"{metric}_plateau"
        status = runs[col].fillna(UNKNOWN).tolist() if col in runs else [UNKNOWN] * len(runs)
        n_yes, n_unknown = status.count(PLATEAUED), status.count(UNKNOWN)
        cols["plateau_metric"].append(metric)
        cols["n_plateaued"].append(n_yes)
        cols["n_plateau_unknown"].append(n_unknown)
        curves = [eval_curves(d).get(metric) for d in runs["run_dir"]] if "run_dir" in runs else []
        over = (plateau_over_seeds(curves, METRICS[metric].higher_is_better).status
                if curves and all(c is not None for c in curves) else UNKNOWN)  # fmt: skip
        cols["plateaued"].append("unknown" if over == UNKNOWN else "yes" if over == PLATEAUED else "no")
    new = pd.DataFrame(cols, index=board.index)
    for c in ("last_n", "n_plateaued", "n_plateau_unknown"):
        new[c] = new[c].astype("Int64")
    return pd.concat([board, new], axis=1)


BENCH_COLUMNS = ("step_ms_median", "step_ms_iqr", "samples_per_s", "peak_memory_mb", "utilisation")


def _join_bench(board: pd.DataFrame, runs_dir) -> pd.DataFrame:
    """Timing columns from ``ganbench bench --out`` (``<runs>/<dataset>/<model>/bench.json``)."""
    dirs = runs_dir if isinstance(runs_dir, (list, tuple)) else [runs_dir]
    rows = []
    for d in dirs:
        for path in iter_bench_files(d):
            rec = read_optional(path)
            if rec and not rec.get("error"):
                rows.append({"dataset": rec["dataset"], "model": rec["model"], **{c: rec.get(c) for c in BENCH_COLUMNS}})
    if not rows:
        return board
    return board.merge(pd.DataFrame(rows).drop_duplicates(["dataset", "model"], keep="last"), how="left",
                       on=["dataset", "model"])  # fmt: skip


def human_scores(runs_dir) -> dict[str, dict]:
    """The human studies' scores (``ganbench.human.scoring.score_study``) by dataset, scored afresh."""
    out = {}
    for d in runs_dir if isinstance(runs_dir, (list, tuple)) else [runs_dir]:
        for sdir in iter_studies(d):
            study = sdir.read_study()
            if study is not None:
                out[study["dataset"]] = score_study(study, files.read_jsonl(sdir.judgments))
    return out


def _join_human(board: pd.DataFrame, runs_dir) -> pd.DataFrame:
    """Human columns from a study (``ganbench human-eval``): per model the rate of its generated images
    judged real, its Wilson 95% interval, judgments and raters; on the real-data row, the real images' rate."""
    rows = []
    for ds, res in human_scores(runs_dir).items():
        for model, r in [*res["models"].items(), (REFERENCE_MODEL, res["real"])]:
            if r["judgments"]:
                rows.append({"dataset": ds, "model": model, "human_rate": r["rate"], "human_ci95_low": r["ci95_low"],
                             "human_ci95_high": r["ci95_high"], "human_judgments": r["judgments"],
                             "human_raters": res["raters"], "human_fingerprint": res["fingerprint"]["id"]})  # fmt: skip
    if not rows:
        return board
    human = pd.DataFrame(rows)
    keys = set(zip(board["dataset"], board["model"]))
    missing = human[[(d, m) not in keys for d, m in zip(human["dataset"], human["model"])]]
    extra = pd.DataFrame({"dataset": missing["dataset"], "model": missing["model"], "fingerprint": None, "n_seeds": 0,
                          "n_diverged": 0, "n_failed": 0})  # fmt: skip
    if "plateaued" in board.columns:  # as _curve_columns leaves a row without runs
        extra["plateaued"] = ""
    board = pd.concat([board, extra], ignore_index=True) if len(extra) else board
    return board.merge(human, how="left", on=["dataset", "model"])


def _primary(board: pd.DataFrame, i: int, rank_keys: dict[str, tuple[str, ...]]) -> str | None:
    """The first primary metric (in ``rank_keys`` order) that row ``i`` reports."""
    row = board.iloc[i]
    for m in rank_keys:
        if f"{m}_mean" in board.columns and not math.isnan(row[f"{m}_mean"]):
            return m
    return None


def _ranks(board: pd.DataFrame, rank_keys: dict[str, tuple[str, ...]], eligible: pd.Series | None = None) -> pd.Series:
    """Ranks 1, 2, ... within each (dataset, fingerprint) of the scored model rows (those ``eligible`` marks,
    when given); tied rows share the smaller rank; other rows NaN."""
    ranks = pd.Series(np.nan, index=board.index)
    keep = (board["model"] != REFERENCE_MODEL) & board["fingerprint"].notna()
    ranked = board[keep & eligible] if eligible is not None else board[keep]
    for _, g in ranked.groupby(["dataset", "fingerprint"]):
        metric = g["primary_metric"].dropna()
        if metric.empty:
            continue
        keys = [k for k in rank_keys[metric.iloc[0]] if f"{k}_mean" in g.columns]
        # Sort so that better is first on every key, then give tied rows the same (minimum) rank.
        signed = pd.DataFrame({k: g[f"{k}_mean"] * (-1 if METRICS[k].higher_is_better else 1) for k in keys})
        order = signed.sort_values(keys, na_position="last")
        tuples = [tuple(r) for r in order.to_numpy()]
        rank, prev = 0, None
        for pos, (idx, t) in enumerate(zip(order.index, tuples), start=1):
            if t != prev:
                rank, prev = pos, t
            ranks[idx] = rank
    return ranks


def display_table(board: pd.DataFrame) -> pd.DataFrame:
    """A compact table for reading: seeds, diverged/failed, rank and beside it the plateau verdict that
    decides whether a row is ranked; ``mean ± std`` per metric; then ``mean ± std`` of the last-evaluations
    means per tracked metric (``(n=k)`` when a curve had fewer than ``MIN_POINTS`` evaluations)."""
    metric_cols = [m for m in METRICS if f"{m}_mean" in board.columns]
    out = board[["dataset", "model", "n_seeds", "n_diverged", "n_failed"]].copy()
    out["rank"] = [_rank_cell(r, v) for r, v in zip(board["rank"], board.get("plateaued", [""] * len(board)))]
    if "rank_best" in board.columns:
        out["rank range"] = [range_cell(b, w) for b, w in zip(board["rank_best"], board["rank_worst"])]
    for m in metric_cols:
        arrow = direction_mark(METRICS[m])
        out[f"{m} {arrow}"] = [_fmt(a, b) for a, b in zip(board[f"{m}_mean"], board[f"{m}_std"])]
    for m in [m for m in METRICS if f"{m}_last_mean" in board.columns]:
        arrow = direction_mark(METRICS[m])
        out[f"{m} last {arrow}"] = [_last_cell(a, b, n) for a, b, n in zip(board[f"{m}_last_mean"],
                                                                             board[f"{m}_last_std"], board["last_n"])]
    if "plateaued" in board.columns:
        out["plateaued"] = [_plateau_cell(*r) for r in zip(board["plateaued"], board["n_plateaued"],
                                                           board["n_plateau_unknown"], board["n_seeds"])]  # fmt: skip
    if "budget" in board.columns:
        out["budget"] = board["budget"].fillna("").to_numpy()
    if "human_rate" in board.columns:  # generated images judged real by people, Wilson 95% interval
        out["human ↑"] = ["" if pd.isna(r) else f"{r:.2f} [{lo:.2f}, {hi:.2f}]"
                          for r, lo, hi in zip(board["human_rate"], board["human_ci95_low"], board["human_ci95_high"])]
    keep = [c for c in out.columns if not (out[c] == "").all()]
    if "rank range" in keep:  # beside the rank it qualifies
        keep.remove("rank range")
        keep.insert(keep.index("rank") + 1, "rank range")
    if "plateaued" in keep:  # beside the rank, which it decides
        keep.remove("plateaued")
        keep.insert(keep.index("rank range" if "rank range" in keep else "rank") + 1, "plateaued")
    if "budget" in keep:  # and the study's verdict on the budget beside it
        keep.remove("budget")
        keep.insert(keep.index("plateaued") + 1 if "plateaued" in keep else keep.index("rank") + 1, "budget")
    return out[keep]


def _rank_cell(rank, plateaued) -> str:
    """The rank, or ``—`` for a scored row left unranked because its curve has not plateaued (``no`` or
    ``unknown`` in the plateaued column); empty for the real-data row and rows without scores."""
    if not pd.isna(rank):
        return str(int(rank))
    return "—" if plateaued in ("no", "unknown") else ""


def _last_cell(mean: float, std: float, n) -> str:
    """``mean ± std`` of the last-evaluations means, ``(n=k)`` after it when a curve had fewer than 5 points."""
    text = _fmt(mean, std)
    return f"{text} (n={n})" if text and not pd.isna(n) and n < MIN_POINTS else text


def _plateau_cell(verdict: str, n_yes, n_unknown, n: int) -> str:
    """``yes (seeds 3/3)``, ``no (seeds 1/3)``, ``unknown (seeds 0/3; 3 with under 5 evaluations)``: the
    verdict on the seed-mean curve, then how many seeds' own curves have plateaued."""
    if not verdict:
        return ""
    if verdict == NOT_TRAINED:
        return "external (not trained here)"
    short = f"; {n_unknown} with under {MIN_POINTS} evaluations" if n_unknown else ""
    return f"{verdict} (seeds {n_yes}/{n}{short})"


def _fmt(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    text = _num(mean, 4)
    return text if std is None or math.isnan(std) else f"{text} ± {_num(std, 2)}"


def _num(x: float, digits: int) -> str:
    """``digits`` significant figures without exponent notation for everyday magnitudes."""
    return f"{x:.0f}" if abs(x) >= 10**digits else f"{x:.{digits}g}"


def format_leaderboard(board: pd.DataFrame, fmt: str = "md") -> str:
    """Render for stdout: ``md`` and ``latex`` and ``html`` as compact tables, ``csv`` with every column."""
    if fmt == "csv":
        return board.to_csv(index=False)
    if fmt in ("md", "html") and board["dataset"].nunique() > 1:  # one table per dataset, its own metrics
        parts = []
        for ds, g in board.groupby("dataset", sort=True):
            body = format_leaderboard(g.reset_index(drop=True), fmt)
            parts.append(f"### {ds}\n\n{body}" if fmt == "md" else f"<h3>{ds}</h3>\n{body}")
        return "\n\n".join(parts)
    table = display_table(board)
    if fmt == "md":
        return table.to_markdown(index=False)
    if fmt == "html":
        return table.to_html(index=False, border=0, classes="leaderboard")
    if fmt == "latex":
        return table.to_latex(index=False, escape=True).replace("±", r"$\pm$").replace("↑", r"$\uparrow$").replace(
            "↓", r"$\downarrow$").replace("→", r"$\to$")  # fmt: skip
    raise UserError(f"--format must be md, csv, html or latex; got {fmt!r}")

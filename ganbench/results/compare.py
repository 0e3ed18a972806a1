"""Compare a new model with the baselines under the same protocol, with significance tests.

TARGET is (a) ``module:attr`` naming a factory ``f(info) -> model`` of a trainable model (the
``GenerativeModel`` interface), trained here under the dataset's baseline budget with the same seeds;
(b) ``module:attr`` naming a trained sampler (any object with ``sample(n, generator=None)``), only
evaluated; (c) a samples file, as for ``ganbench eval``; or (d) the name of a ``ganbench.models``
entry point (a factory, as in a).
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ganbench.config import BaselineConfig, TrainConfig
from ganbench.data import get_dataset_info, load_dataset
from ganbench.environment import resolve_device
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import evaluate_samples_file
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import save_score, score_model
from ganbench.metrics import METRICS, MetricSpec, is_better
from ganbench.models import MODELS, ModelRecipe, register_recipe
from ganbench.plugins import import_target, load_entry_point
from ganbench.results.leaderboard import collect_scores, display_table, leaderboard
from ganbench.results.ranking import holm, seeds_needed, welch_p
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Suite, load_suite, run_suite
from ganbench.runs.worker import Job, run_job

MIN_SEEDS = 2


@dataclasses.dataclass
class Target:
    kind: str  # "factory", "sampler" or "samples"
    label: str
    obj: object = None
    path: Path | None = None


def resolve_target(spec: str) -> Target:
    path = Path(spec)
    if path.suffix in (".npy", ".npz"):
        if not path.exists():
            raise UserError(f"TARGET {spec}: no such samples file")
        return Target("samples", _label(path.stem), path=path)
    if ":" in spec:
        obj = import_target(spec)
        label = _label(spec.split(":", 1)[1])
    else:
        obj = load_entry_point(spec)
        if obj is None:
            raise UserError(f"TARGET {spec!r} is not module:attr, a .npy/.npz samples file, or a ganbench.models "
                            "entry point")  # fmt: skip
        label = _label(spec)
    if hasattr(obj, "sample") and not isinstance(obj, type):
        return Target("sampler", label, obj)
    if callable(obj):
        return Target("factory", label, obj)
    raise UserError(f"TARGET {spec}: {type(obj).__name__} is neither a model factory nor an object with "
                    "sample(n, generator=None)")  # fmt: skip


def _label(text: str) -> str:
    return "user-" + (re.sub(r"[^A-Za-z0-9_.+-]", "-", text).strip("-") or "model")


def _train_user_model(target: Target, dataset: str, seeds, baseline_train, options: RunOptions) -> None:
    recipe_name = f"{target.label}"
    temporary = recipe_name not in MODELS
    if temporary:
        register_recipe(ModelRecipe(recipe_name, "plugin", target.obj, description="user model"))
    cfg = BaselineConfig(recipe_name, dataset, "user model under the baseline budget", {}, baseline_train)
    try:
        records = [run_job(Job(cfg, s), options) for s in seeds]
    finally:
        if temporary:  # the registry is process-wide: leave it as it was
            MODELS.unregister(recipe_name)
    if all(r.get("status") == "failed" for r in records):
        raise UserError(f"the model failed on every seed: {records[0].get('error')}")


def _score_fixed(target: Target, dataset_name: str, options: RunOptions) -> None:
    """Score a sampler or samples file once, stored like a one-seed run."""
    dataset = load_dataset(dataset_name, data_root=options.data_root)
    if target.kind == "samples":
        result = evaluate_samples_file(target.path, dataset_name, eval_seed=options.eval_seed, device=options.device,
                                       data_root=options.data_root)  # fmt: skip
    else:
        protocol = default_protocol(dataset, eval_seed=options.eval_seed)
        extractor = ProtocolExtractor(dataset, protocol, str(resolve_device(options.device)))
        result = score_model(target.obj, dataset, protocol, extractor)
    d = RunDir.of(options.out, dataset_name, target.label, 0)
    files.atomic_write_json(d.config, {"dataset": dataset_name, "model": target.label, "name": target.label,
                                              "seed": 0, "kind": target.kind})  # fmt: skip
    files.atomic_write_json(d.result, {"status": "complete", "steps": None, "wall_time_s": None})
    d.scores.unlink(missing_ok=True)
    save_score(d.scores, result)


def dataset_budget(suite: Suite) -> TrainConfig:
    """The training settings most of ``suite``'s jobs share (the first such in job order on a tie): the
    dataset's budget, which a new model trains under. A few slower objectives have longer budgets of their
    own (``scripts/make_baselines.py``, ``STEPS``); a new model that needs more shows it in the
    leaderboard's ``plateaued`` column and is not ranked."""
    trains = [j.config.train for j in suite.jobs]
    return max(trains, key=lambda t: (trains.count(t), -trains.index(t)))


def significance(scores: pd.DataFrame, new: str, fingerprint: str) -> pd.DataFrame:
    """Welch's t-test and Hedges' g of ``new`` against each baseline, per metric, over training seeds, and
    ``seeds_needed``: the seeds per model a t-test would need to detect a difference of the size observed
    (``|g|``) with 80% power at the 5% level (None beyond 1,000 or for no difference), which says whether "no
    significant difference" means "about equal" or "too few seeds to tell". ``p_holm``: ``p_value`` adjusted
    by Holm's method over the baselines tested on the same metric (one family per metric: "is the new model
    better than each baseline on m?"), which the verdict reads, so that a comparison with six baselines does
    not find a difference by chance one time in four or so."""
    rows = []
    sub = scores[(scores["fingerprint"] == fingerprint) & (scores["status"] == "complete")]
    mine = sub[sub["model"] == new]
    for model, g in sub[sub["model"] != new].groupby("model"):
        for m in [m for m in METRICS if m in sub.columns]:
            a, b = mine[m].dropna().to_numpy(float), g[m].dropna().to_numpy(float)
            if len(a) == 0 or len(b) == 0:
                continue
            row = {"baseline": model, "metric": m, "n_new": len(a), "n_baseline": len(b),
                   "mean_new": a.mean(), "mean_baseline": b.mean()}  # fmt: skip
            if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
                row.update(p_value=math.nan, hedges_g=math.nan, verdict=f"too few seeds to conclude (need >= {MIN_SEEDS} each)",
                           seeds_needed=None, _better=None)  # fmt: skip
            else:
                row.update(_welch(a, b, METRICS[m]))
                row["seeds_needed"] = seeds_needed(abs(row["hedges_g"]))
            rows.append(row)
    out = pd.DataFrame(rows)
    if "p_value" in out:
        out.insert(out.columns.get_loc("p_value") + 1, "p_holm", np.nan)
        for _, g in out.groupby("metric"):
            out.loc[g.index, "p_holm"] = holm(g["p_value"])
        tested = out["p_holm"].notna()
        out.loc[tested, "verdict"] = [_verdict(p, better) for p, better in zip(out.loc[tested, "p_holm"],
                                                                             out.loc[tested, "_better"])]  # fmt: skip
    out = out.drop(columns="_better", errors="ignore")
    if "seeds_needed" in out:  # whole numbers, empty where none (beyond 1,000, or no test)
        out["seeds_needed"] = out["seeds_needed"].astype("Int64")
    return out


def _welch(a: np.ndarray, b: np.ndarray, spec: MetricSpec) -> dict:
    p = welch_p((a.mean(), a.std(ddof=1), len(a)), (b.mean(), b.std(ddof=1), len(b)))  # the rank ranges' test
    pooled = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    d = (a.mean() - b.mean()) / pooled if pooled > 0 else (0.0 if a.mean() == b.mean() else math.copysign(math.inf, a.mean() - b.mean()))
    g = d * (1 - 3 / (4 * (len(a) + len(b)) - 9))  # Hedges' small-sample correction
    better = is_better(spec, float(a.mean()), float(b.mean()))  # by its direction, or nearer its target
    # the verdict reads the Holm-adjusted p of the metric's family (significance)
    return {"p_value": p, "hedges_g": g, "verdict": "no test (p undefined)", "_better": better}


def _verdict(p_holm: float, better: bool) -> str:
    if p_holm >= 0.05:
        return "no significant difference (Holm-adjusted p >= 0.05)"
    return "new model better" if better else "new model worse"


def compare(spec: str, dataset: str, out: str | Path, seeds: list[int] | None = None, runs: str | Path | None = None,
            jobs: int | None = None, device: str = "auto", eval_seed: int = 0, data_root: str | None = None,
            suite="quick", log=print) -> dict:  # fmt: skip
    """Run the comparison; returns paths of what it wrote.

    Args:
        spec: the TARGET (see the module docstring).
        dataset: the dataset to compare on.
        out: output folder (leaderboard.csv, significance.csv, README.md, the new model's runs).
        seeds: training seeds (default: the suite's).
        runs: the baselines' runs folder (default ``runs/<suite>``, shared with ``ganbench run``).
        device, eval_seed, data_root: as for ``ganbench run``; the same for the baselines and the new model.
        suite: the suite whose baselines and budget apply (a name, a file, or a ``Suite``).
    """
    get_dataset_info(dataset)
    target = resolve_target(spec)
    out = Path(out)
    if isinstance(suite, str):
        suite = load_suite(suite, datasets=[dataset], seeds=seeds)
    else:  # a Suite object: narrowed to the dataset and seeds as a name is
        kept = tuple(j for j in suite.jobs if j.config.dataset == dataset and (seeds is None or j.seed in seeds))
        if not kept:
            raise UserError(f"--suite {suite.name}: no job on {dataset} with seeds {seeds}; check the suite")
        suite = dataclasses.replace(suite, jobs=kept)
    baselines = RunOptions(runs or f"runs/{suite.name}", device, data_root, eval_seed)
    runs = baselines.out
    run_suite(suite, baselines, jobs=jobs, log=log)  # missing baselines first
    seeds = sorted({j.seed for j in suite.jobs})
    new_model = dataclasses.replace(baselines, out=out / "runs")  # the new model's runs, same options
    new_runs = new_model.out
    if target.kind == "factory":
        _train_user_model(target, dataset, seeds, dataset_budget(suite), new_model)
    else:
        _score_fixed(target, dataset, new_model)
    board = leaderboard([runs, new_runs])
    board = board[board["dataset"] == dataset].reset_index(drop=True)
    scores = collect_scores([runs, new_runs])
    mine = board[board["model"] == target.label]
    if mine.empty or mine["fingerprint"].isna().all():
        raise UserError(f"the new model produced no score on {dataset}; see {new_runs}")
    fp = mine["fingerprint"].dropna().iloc[0]
    sig = significance(scores[scores["dataset"] == dataset], target.label, fp)
    files.atomic_write_text(out / "leaderboard.csv", board.to_csv(index=False))
    files.atomic_write_text(out / "significance.csv", sig.to_csv(index=False))
    report = _report_md(target, dataset, display_table(board[board["fingerprint"].isin([fp]) | board["fingerprint"].isna()]), sig, fp)
    files.atomic_write_text(out / "README.md", report)
    return {"leaderboard": out / "leaderboard.csv", "significance": out / "significance.csv", "report": out / "README.md",
            "label": target.label}  # fmt: skip


def _report_md(target: Target, dataset: str, table: pd.DataFrame, sig: pd.DataFrame, fp: str) -> str:
    lines = [f"# {target.label} against the baselines on {dataset}", "",
             f"Target kind: {target.kind}. Protocol fingerprint: `{fp}` (all rows below share it).", "",
             "± is the standard deviation over training seeds; ↑ higher is better, ↓ lower is better, →0 "
             "and →1 the nearer that value (a model that generalises), the better. "
             "Only rows trained to a plateau are ranked ('—': its curve has not plateaued, or has too few "
             "evaluations to tell; see the plateaued column).", "",
             table.to_markdown(index=False), "", "## Significance against each baseline", "",
             f"Welch's t-test over training seeds (scipy), effect size Hedges' g; p_holm: p adjusted by Holm's "
             "method over the baselines compared on the same metric, which the verdict reads (at 0.05); fewer "
             f"than {MIN_SEEDS} seeds on either side cannot support a conclusion and says so. seeds_needed: the "
             "seeds per model a t-test would need to detect a difference of size |g| with 80% power at the 5% "
             "level ('> 1000' beyond; g is estimated from these seeds, so read it as an order of magnitude).", ""]  # fmt: skip
    if sig.empty:
        lines.append("No metric in common with any baseline.")
    else:
        show = sig.copy()
        for c in ("mean_new", "mean_baseline", "p_value", "p_holm", "hedges_g"):
            show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.4g}")
        show["seeds_needed"] = [("" if pd.isna(g) else "> 1000") if pd.isna(n) else str(int(n))
                                for n, g in zip(show["seeds_needed"], sig["hedges_g"])]  # fmt: skip
        lines.append(show.to_markdown(index=False))
    return "\n".join(lines) + "\n"

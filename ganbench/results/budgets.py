"""The leaderboard's ``budget`` column: the learning-curve study's verdict on a reference baseline's budget,
read from the files the study writes beside the baseline files (``scripts/budget_study.py``,
``scripts/budget_seeds.py``), for runs of that baseline's present configuration."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganbench.config import BASELINES_DIR
from ganbench.runs.layout import RunDir

__all__ = ["VERDICTS_FILE", "SEEDS_FILE", "JUSTIFIED", "BORDERLINE", "LONGER_PAYS", "NOT_PLATEAUED",
           "budget_verdicts", "still_improving", "budget_column"]  # fmt: skip

# Each reference baseline's budget verdict from the learning-curve study (scripts/budget_study.py writes it
# beside the baseline files; reports/budgets.md is its report): the leaderboard's ``budget`` column.
VERDICTS_FILE = "budget-verdicts.csv"
# Per verdict, how many of the study's seeds still improve from the budget to 1.5x it (scripts/budget_seeds.py;
# reports/budgets-seeds.md): a justified budget on which every seed still improves is ``borderline``.
SEEDS_FILE = "budget-seeds.csv"
JUSTIFIED, BORDERLINE, LONGER_PAYS, NOT_PLATEAUED = "justified", "borderline", "longer pays", "not plateaued"


def budget_verdicts(path: Path | None = None) -> dict[tuple[str, str], dict]:
    """``{(dataset, model): row}`` of the budget study's verdicts (``baselines/budget-verdicts.csv``: dataset,
    model, baseline (configuration hash), budget, plateaued, longer_pays, justified); empty without the
    file."""
    path = BASELINES_DIR / VERDICTS_FILE if path is None else Path(path)
    if not path.exists():
        return {}
    table = pd.read_csv(path, dtype=str)
    return {(r["dataset"], r["model"]): r for r in table.to_dict("records")}


def still_improving(path: Path | None = None) -> set[tuple[str, str, str]]:
    """``(dataset, model, baseline hash)`` of the studied budgets on which every seed still improves from the
    budget to 1.5x it (``baselines/budget-seeds.csv``); empty without the file."""
    path = BASELINES_DIR / SEEDS_FILE if path is None else Path(path)
    if not path.exists():
        return set()
    t = pd.read_csv(path, dtype={"baseline": str})
    return {(r.dataset, r.model, r.baseline) for r in t.itertuples() if r.seeds > 1 and r.improving == r.seeds}


def budget_column(board: pd.DataFrame, row_runs: list[pd.DataFrame], verdicts: dict | None = None) -> list[str]:
    """The ``budget`` column: for a row whose runs are all of one reference baseline's present configuration
    (their suite job ids end in the hash the budget study recorded for that baseline), the study's verdict
    on its budget: ``justified`` (plateaued, and training on to 1.5x does not pay), ``borderline`` (justified
    by the tolerance, but every seed of the study still improves by 1.5x), ``longer pays`` (plateaued by the
    rule, but 1.5x improves the seed mean by more than the rule's tolerance) or ``not plateaued``; empty for
    other rows (a user's model, a changed configuration, runs trained outside a suite, which record no job
    id)."""
    verdicts = budget_verdicts() if verdicts is None else verdicts
    improving = still_improving()
    out = []
    for i, runs in enumerate(row_runs):
        v = verdicts.get((board["dataset"].iloc[i], board["model"].iloc[i]))
        ids = [(RunDir(d).read_job() or {}).get("id", "") for d in runs["run_dir"]] if v and "run_dir" in runs else []
        hashes = {str(j).rpartition("@")[2] for j in ids}
        if not ids or hashes != {v["baseline"]}:
            out.append("")
        elif v["justified"] == "yes":
            key = (board["dataset"].iloc[i], board["model"].iloc[i], v["baseline"])
            out.append(BORDERLINE if key in improving else JUSTIFIED)
        else:
            out.append(LONGER_PAYS if v["plateaued"] == "yes" and v["longer_pays"] == "yes" else NOT_PLATEAUED)
    return out

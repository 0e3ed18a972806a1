"""Run the standard suite end to end and publish its report: writes reports/standard-suite/.

    python scripts/publish_standard.py [--runs runs/standard] [--jobs 2] [--dest reports/standard-suite]

Trains every job of the standard suite that the runs folder does not hold finished (a fresh folder: all 84),
times it, writes ``ganbench report`` of the folder and copies it to ``--dest`` (without the self-contained
``index.html``, which holds the same content), under a header generated from the run: the command, the
machine and versions, the ganbench commit, the wall time and how many jobs ran and how many were found
finished. The header says "measured end to end" only when every job ran in this invocation; otherwise it
gives the time of the jobs that ran. If a job fails, nothing is published (``--dest`` keeps the last
published report) and the exit code is 1.

After a baseline file changes, its jobs' run folders hold another configuration, which the runner will not
overwrite; ``--replace-changed`` moves each such folder to ``<RUNS>.replaced/`` (listed as it goes), so that the
rerun trains only the changed baselines' jobs and keeps the other runs.

After a change of protocol that leaves training as it was (a new fingerprint for some datasets), ``--rescore
digits,stacked-digits`` scores those datasets' finished runs and real-data rows again before the suite runs,
moving their scores under other fingerprints to ``<RUNS>.replaced/``; with ``--only digits,stacked-digits``
only those datasets' jobs run and only their part of the published report is replaced (``splice``).

Then continue the same runs for ``reports/budgets.md``:
``python scripts/budget_study.py --run --continue-from RUNS [--longer LONGER_RUNS ...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganbench.environment import environment
from ganbench.evaluation.evaluate import evaluate_run, reference_scores
from ganbench.results.report import write_report
from ganbench.runs import files
from ganbench.runs.layout import ReferenceDir
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import load_suite, run_suite
from ganbench.runs.worker import single_threaded


def header(suite: str, wall_s: float, n_jobs: int, ran: int, failed: int, env: dict, day: str,
           seeds: list[int]) -> list[str]:  # fmt: skip
    """The published report's title and first paragraph, from what the run measured."""
    done_before = n_jobs - ran - failed
    whole = done_before == 0 and failed == 0
    versions = env["versions"]
    machine = (f"{env['device'].get('name', env['device']['type'])}, {env.get('cores', '?')} cores, "
               f"torch {versions['torch']}, Python {versions['python']}")  # fmt: skip
    counts = f"{ran} ran, {failed} failed" + (f", {done_before} found finished (not timed)" if done_before else "")
    return [
        f"# ganbench report: the {suite} suite" + (", measured end to end" if whole else ""),
        "",
        (f"`python scripts/publish_standard.py` (`ganbench run --suite {suite}`, then `ganbench report`), on "
         f"{machine}, {day}, ganbench commit {env['git_commit'][:7] if env.get('git_commit') else 'unknown'}: "
         f"**{wall_s:,.0f} s wall ({wall_s / 60:.1f} minutes), {n_jobs} jobs: {counts}** (seeds "
         f"{', '.join(map(str, seeds))}; each baseline's seeds trained as one seed-vectorised stack). "
         + ("" if whole else "The time is of the jobs that ran in this invocation, not of the whole suite. ")
         + "Copied here without the report's self-contained index.html (the same content)."),
        "",
    ]


def publish(report: Path, dest: Path, head: list[str]) -> None:
    """Copy the report folder ``report`` to ``dest`` (replacing its files; not ``index.html``), its README's
    title replaced by ``head``. Each file is written atomically."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(report.iterdir()):
        if path.name == "index.html" or not path.is_file():
            continue
        if path.name == "README.md":
            body = path.read_text(encoding="utf-8").splitlines()
            if body and body[0].startswith("# "):
                body = body[1:]
            while body and not body[0].strip():
                body = body[1:]
            files.atomic_write_text(dest / "README.md", "\n".join(head + body) + "\n")
        else:
            files.atomic_write_bytes(dest / path.name, path.read_bytes())


def replace_changed(suite, runs: Path, log=print) -> list[Path]:
    """Move aside the run folders in ``runs`` of the suite's jobs that hold a job of another configuration (a
    baseline file changed since they ran) to the same place under ``<runs>.replaced``; returns where they went.
    A folder of the present configuration, or one with no job record, is left alone; so is a destination that
    exists already (the move would lose it): that raises FileExistsError, before anything is moved."""
    changed = []
    for job in suite.jobs:
        run = job.run_dir(runs)
        rec = run.read_job()
        if rec and rec.get("id") != job.id:
            changed.append((job, run, rec, Path(f"{runs}.replaced") / run.path.relative_to(runs)))
    for _, _, _, dest in changed:
        if dest.exists():
            raise FileExistsError(f"--replace-changed: {dest} exists already (a run replaced before); move it "
                                  "away and rerun")  # fmt: skip
    for job, run, rec, dest in changed:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(run.path, dest)
        log(f"moved {run.path} ({rec.get('id')}) to {dest}: the suite's job is now {job.id}")
    return [dest for *_, dest in changed]


def rescore(suite, runs: Path, datasets: set[str], log=print) -> int:
    """Score again, under the present default protocol, every complete run of the suite's jobs on ``datasets``
    and those datasets' real-data rows (after a change of protocol: a new fingerprint, the same training), and
    move their scores under any other fingerprint to the same place under ``<runs>.replaced`` (the file
    written there holds the whole ``scores.json`` as it was), so that the report ranks the present protocol's
    scores only. Returns how many runs were scored. Where something is to move and its destination exists
    already (scores replaced before), FileExistsError is raised before anything is moved (the runs are then
    scored under the present protocol, as ``ganbench eval`` would leave them, and nothing else changed)."""
    opts = RunOptions(out=runs)
    targets = [job.run_dir(runs) for job in suite.jobs if job.config.dataset in datasets]
    targets = [run for run in targets if (run.read_job() or {}).get("status") == "complete"]
    present: dict[Path, str] = {}
    with single_threaded():  # as the suite's workers score (threads change the last bits of the linear algebra)
        for run in targets:
            present[run.scores] = evaluate_run(run.path, **opts.scoring())["fingerprint"]["id"]
        for ds in sorted(datasets):
            ref = ReferenceDir.of(runs, ds).scores
            present[ref] = reference_scores(ds, runs, **opts.scoring())["fingerprint"]["id"]
    moves = []
    for src, keep in present.items():
        scores = files.read_json(src)
        if set(scores) != {keep}:
            moves.append((src, keep, scores, Path(f"{runs}.replaced") / src.relative_to(runs)))
    for *_, dest in moves:
        if dest.exists():
            raise FileExistsError(f"--rescore: {dest} exists already (scores replaced before); move it away and rerun")
    for src, keep, scores, dest in moves:
        dest.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_json(dest, scores)
        files.atomic_write_json(src, {keep: scores[keep]})
        log(f"{src}: kept {keep}, moved {', '.join(sorted(set(scores) - {keep}))} to {dest}")
    return len(targets)


def _readme_parts(text: str) -> tuple[list[str], dict[str, list[str]], list[str], dict[str, list[str]], list[str]]:
    """A report README cut into: the lines before the first dataset section, each ``## Dataset NAME`` section
    by name, the ``## Protocol`` lines before its first fingerprint, each ``### Fingerprint ID`` subsection by
    id, and the rest (the commands table)."""
    head, datasets, intro, prints, tail = [], {}, [], {}, []
    current = head
    for line in text.splitlines():
        if line.startswith("## Dataset "):
            current = datasets.setdefault(line[len("## Dataset "):].strip(), [])
        elif line.startswith("## Protocol"):
            current = intro
        elif line.startswith("### Fingerprint "):
            current = prints.setdefault(line[len("### Fingerprint "):].strip(), [])
        elif line.startswith("### ") and current is not intro and any(current is v for v in prints.values()):
            current = tail
        current.append(line)
    return head, datasets, intro, prints, tail


def splice(report: Path, dest: Path, datasets: set[str]) -> None:
    """Put ``datasets``' part of the report folder ``report`` into the published report ``dest``, keeping the
    other datasets' as published: their README sections, their fingerprints' Protocol subsections (those only
    the replaced rows used are dropped, the new ones added, in id order), their rows of ``leaderboard.csv`` (in
    the published order of datasets) and their figures (``<dataset>_*.png``). The README's header and commands
    table stay as published, to be edited by hand to say what was republished. Each file is written
    atomically."""
    new_head, new_sets, _, new_prints, _ = _readme_parts((report / "README.md").read_text(encoding="utf-8"))
    head, sets, intro, prints, tail = _readme_parts((dest / "README.md").read_text(encoding="utf-8"))
    if not datasets <= set(new_sets) or not datasets <= set(sets):
        raise ValueError(f"splice: {sorted(datasets)} must be datasets of both reports")
    old_board = pd.read_csv(dest / "leaderboard.csv", keep_default_na=False, dtype=str)
    new_board = pd.read_csv(report / "leaderboard.csv", keep_default_na=False, dtype=str)
    kept = old_board[~old_board.dataset.isin(datasets)]
    board = pd.concat([kept, new_board[new_board.dataset.isin(datasets)]])
    order = {d: i for i, d in enumerate(dict.fromkeys(old_board.dataset))}
    board = board.sort_values("dataset", key=lambda c: c.map(order), kind="stable")[old_board.columns]
    used = set(kept.fingerprint) | set(new_board[new_board.dataset.isin(datasets)].fingerprint)
    prints = {k: v for k, v in {**prints, **new_prints}.items() if k in used}
    sets.update({d: new_sets[d] for d in datasets})
    lines = head + [x for d in sorted(sets) for x in sets[d]] + intro + [x for k in sorted(prints) for x in prints[k]]
    files.atomic_write_text(dest / "README.md", "\n".join(lines + tail) + "\n")
    files.atomic_write_text(dest / "leaderboard.csv", board.to_csv(index=False))
    for png in sorted(report.glob("*.png")):
        if png.name.split("_", 1)[0] in datasets:
            files.atomic_write_bytes(dest / png.name, png.read_bytes())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", default="standard")
    p.add_argument("--runs", default=str(ROOT / "runs" / "standard"), help="runs folder (kept: a rerun resumes)")
    p.add_argument("--jobs", type=int, default=None, help="worker processes (default: cores)")
    p.add_argument("--dest", default=str(ROOT / "reports" / "standard-suite"))
    p.add_argument("--replace-changed", action="store_true",
                   help="move the runs of baselines whose configuration changed to RUNS.replaced/ and train them "
                        "again (without it, such a job fails: its folder holds another configuration)")  # fmt: skip
    p.add_argument("--rescore", metavar="DATASETS",
                   help="score the finished runs of these datasets (e.g. digits,stacked-digits) and their real-data "
                        "rows again under the present protocol, moving their other scores to RUNS.replaced/, "
                        "before the suite runs (after a change of protocol that leaves training as it was)")  # fmt: skip
    p.add_argument("--only", metavar="DATASETS",
                   help="run only these datasets' jobs and put only their part of the report into --dest (their "
                        "sections, leaderboard rows, fingerprints and figures; the others stay as published), "
                        "leaving the header to be edited by hand")  # fmt: skip
    args = p.parse_args(argv)
    only = args.only.split(",") if args.only else None
    suite = load_suite(args.suite, datasets=only)
    runs = Path(args.runs)
    try:
        if args.replace_changed:
            replace_changed(suite, runs, log=lambda m: print(m, flush=True))
        if args.rescore:
            n = rescore(suite, runs, set(args.rescore.split(",")), log=lambda m: print(m, flush=True))
            print(f"rescored {n} runs of {args.rescore}", flush=True)
    except FileExistsError as e:
        p.error(str(e))
    t0 = time.perf_counter()
    records = run_suite(suite, RunOptions(out=runs), jobs=args.jobs, log=lambda m: print(m, flush=True))
    wall = time.perf_counter() - t0
    failed = sum(r.get("status") == "failed" for r in records)
    if failed:
        print(f"{failed} job(s) failed: {args.dest} not written (the reasons are above)", file=sys.stderr)
        return 1
    ran = sum(r.get("status") != "failed" and not r.get("skipped") and r.get("status") != "locked" for r in records)
    env = {**environment(torch.device("cpu")), "cores": os.cpu_count()}
    head = header(suite.name, wall, len(suite.jobs), ran, failed, env,
                  datetime.date.today().isoformat(), sorted({j.seed for j in suite.jobs}))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(runs.resolve().parent):
        write_report(runs.name, tmp)  # the report names the folder as given: its name, not this machine's path
        if only:
            splice(Path(tmp), Path(args.dest), set(only))
            print("\n".join(["header to merge by hand:", *head]))
        else:
            publish(Path(tmp), Path(args.dest), head)
    print(f"wrote {args.dest} ({ran} ran, {wall:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Suites: baselines x seeds as independent, resumable jobs.

A suite file (TOML) names the baselines and seeds::

    name = "quick"
    seeds = [0, 1, 2]
    models = ["gan", "vae"]            # baselines/<model>_<dataset>.toml for each pair
    datasets = ["ring8", "digits"]
    baselines_dir = "pacgan2d"         # optional, relative to baselines/: take every file there instead
    [train.points2d]                   # optional budget overrides per data kind
    steps = 1000

Each (baseline, seed) is a ``Job`` with a deterministic id (``ganbench.runs.worker``, which trains and scores
it). ``run_suite`` turns the suite's unfinished jobs and its datasets' real-data rows into ``Task`` objects
and hands them to an executor (``ganbench.runs.executors``). A finished job is skipped, so rerunning a
suite is cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ganbench.config import BASELINES_DIR, BaselineConfig, TrainConfig, find_baseline, list_baselines, tomllib
from ganbench.data import get_dataset_info, load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors import get_classifier
from ganbench.models import get_recipe
from ganbench.models.vectorised import vectorisable
from ganbench.runs.executors.local import LocalExecutor
from ganbench.runs.locks import JobLock
from ganbench.runs.options import RunOptions
from ganbench.runs.worker import Job, Task, job_done

__all__ = ["Job", "Suite", "load_suite", "run_suite", "suite_names"]

SUITES_DIR = Path(__file__).resolve().parent / "suites"
_SUITE_KEYS = {"name", "description", "seeds", "models", "datasets", "exclude", "baselines_dir", "train"}


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    jobs: tuple[Job, ...]

    def datasets(self) -> list[str]:
        return sorted({j.config.dataset for j in self.jobs})


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str, models: list[str] | None = None, datasets: list[str] | None = None,
               seeds: list[int] | None = None, train: dict | None = None) -> Suite:  # fmt: skip
    """A built-in suite by name or a suite file, optionally narrowed by models, datasets and seeds.

    ``train`` sets TrainConfig fields of every job over the baselines' and the file's (None values are left
    alone; ``channels_last`` applies to the image sets' jobs only)."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            close = difflib.get_close_matches(name_or_path, suite_names(), n=2)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UserError(f"--suite: unknown suite {name_or_path!r}.{hint} Built-in: {', '.join(suite_names())}, "
                            "or pass a suite .toml file")  # fmt: skip
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"--suite {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"--suite {path}: not valid TOML: {e}") from None
    for key in raw:
        if key not in _SUITE_KEYS:
            raise UserError(f"{path}: unknown key {key!r}; allowed: {', '.join(sorted(_SUITE_KEYS))}")
    configs = _suite_baselines(raw, path, {k: v for k, v in (train or {}).items() if v is not None})
    if models:
        configs = [c for c in configs if c.name in models or c.model in models]
    if datasets:
        configs = [c for c in configs if c.dataset in datasets]
    run_seeds = seeds if seeds is not None else raw.get("seeds", [0])
    jobs = tuple(Job(c, s) for c in configs for s in run_seeds)
    if not jobs:
        raise UserError(f"--suite {raw.get('name', path.stem)}: no job left after --models/--datasets/--seeds; "
                        "check the names against `ganbench list baselines`")  # fmt: skip
    return Suite(raw.get("name", path.stem), raw.get("description", ""), jobs)


def _suite_baselines(raw: dict, path: Path, cli: dict) -> list[BaselineConfig]:
    if "baselines_dir" in raw:
        configs = list_baselines(BASELINES_DIR / raw["baselines_dir"])
    else:
        configs = [find_baseline(m, d) for d in raw.get("datasets", []) for m in raw.get("models", [])]
    # ``exclude = ["dataset/model", ...]``: pairs of the grid left out (a model whose budget on that set is
    # not justified within the suite's time); each must name a pair of the grid, so a typo cannot pass.
    excluded = raw.get("exclude", [])
    pairs = {f"{c.dataset}/{c.name}" for c in configs}
    for pair in excluded:
        if pair not in pairs:
            close = difflib.get_close_matches(str(pair), sorted(pairs), n=1)
            hint = f" Did you mean: {close[0]}?" if close else ""
            raise UserError(f"{path}: exclude {pair!r} is not a dataset/model pair of the suite.{hint}")
    configs = [c for c in configs if f"{c.dataset}/{c.name}" not in excluded]
    overrides = raw.get("train", {})
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for kind, changes in overrides.items():
        if kind not in ("points2d", "image"):
            raise UserError(f"{path}: unknown section [train.{kind}]; use [train.points2d] or [train.image]")
        bad = [k for k in changes if k not in fields]
        if bad:
            raise UserError(f"{path}: unknown key train.{kind}.{bad[0]!r}; allowed: {', '.join(sorted(fields))}")
    out = []
    for c in configs:
        kind = get_dataset_info(c.dataset).kind
        changes = {**overrides.get(kind, {}), **{k: v for k, v in cli.items() if kind == "image" or k != "channels_last"}}
        out.append(dataclasses.replace(c, train=dataclasses.replace(c.train, **changes)))
    return out


# -- running a suite -------------------------------------------------------------------------------


def _ensure_evaluator(dataset_name: str, data_root: str | None) -> None:
    dataset = load_dataset(dataset_name, data_root=data_root)
    if dataset.info.kind == "image" and dataset.train_labels is not None:
        get_classifier(dataset, data_root=data_root)


def _collect(rec: dict, records: list, n: int, t0: float, log) -> None:
    for r in rec.get("batch", [rec]):
        if "reference" not in r:
            records.append(_report(r, len(records) + 1, n, t0, log))


def job_tasks(jobs: list[Job], options: RunOptions) -> list[Task]:
    """One ``batch`` task per baseline whose model has a vectorised form (its seeds trained as one model),
    when ``options.vectorise``; a ``job`` task for every other job. Every executor runs the same tasks, so a
    suite's results do not depend on where it runs."""
    groups: dict[tuple[str, str], list[Job]] = {}
    for j in jobs:
        groups.setdefault((j.config.name, j.config_hash), []).append(j)
    tasks = []
    for group in groups.values():
        model = group[0].config.model
        if options.vectorise and len(group) > 1 and vectorisable(get_recipe(model).cls):
            tasks.append(Task("batch", tuple(group), options))
        else:
            tasks += [Task("job", j, options) for j in group]
    return tasks


def run_suite(suite: Suite, options: RunOptions, jobs: int | None = None, log=print, executor=None) -> list[dict]:
    """Run every job of ``suite`` (skipping finished ones) under ``options``; returns the jobs' records.

    Args:
        options: the runs folder and how every task trains and scores (device, data root, eval seed).
        jobs: local worker processes when no ``executor`` is given (default: cores, at most the jobs left).
        log: called with each progress line.
        executor: where tasks run (``ganbench.runs.executors``); default: ``jobs`` local worker processes.
    """
    out = options.out
    todo = [j for j in suite.jobs if not job_done(j, out)]
    left = {j.id for j in todo}
    for job in suite.jobs:  # a runner killed after finishing a job, before letting go, left its lock behind
        if job.id not in left:
            JobLock(job.run_dir(out).path).clear_if_stale()
    if executor is None:
        executor = LocalExecutor(max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1)))
    where = f"{executor.workers} worker(s)" if isinstance(executor, LocalExecutor) else type(executor).__name__
    log(f"suite {suite.name}: {len(suite.jobs)} jobs, {len(suite.jobs) - len(todo)} already done, {where}, "
        f"runs in {out}")  # fmt: skip
    t0 = time.perf_counter()
    # Evaluator classifiers are trained (or found in the cache) here, once, before any worker needs them;
    # the real-data rows are then scored beside the jobs.
    for name in suite.datasets():
        _ensure_evaluator(name, options.data_root)
    tasks = [Task("reference", name, options) for name in suite.datasets()] + job_tasks(todo, options)
    records: list[dict] = []
    executor(tasks, lambda rec: _collect(rec, records, len(todo), t0, log))
    failed = [r for r in records if r.get("status") == "failed"]
    locked = [r for r in records if r.get("status") == "locked"]
    skipped = [r for r in records if r.get("skipped")]
    log(f"suite {suite.name}: done in {time.perf_counter() - t0:.0f} s; "
        f"{len(records) - len(failed) - len(locked) - len(skipped)} ran, {len(failed)} failed"
        + (f", {len(skipped)} finished meanwhile by another runner" if skipped else "")
        + (f", {len(locked)} held by another runner (rerun later to collect them)" if locked else ""))  # fmt: skip
    for r in failed:
        log(f"  failed {r['id']}: {r.get('error')}")
    if failed:
        log(f"  a rerun (ganbench run --suite {suite.name} --out {out}) resumes jobs whose worker died; a job that "
            "raised stays failed until its run folder is removed")  # fmt: skip
    return records


def _report(rec: dict, i: int, n: int, t0: float, log) -> dict:
    extra = f" ({rec['error']})" if rec.get("status") == "failed" else ""
    # A job another runner finished while this one waited is reported as such, not as run here.
    status = "done" if rec.get("skipped") else rec.get("status", "?")
    log(f"[{i}/{n} {time.perf_counter() - t0:5.0f}s] {status:>8} {rec['id']}{extra}")
    sys.stdout.flush()
    return rec

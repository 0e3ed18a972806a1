"""Suites: baselines x seeds as independent, resumable jobs.

A suite file (TOML) names the baselines and seeds::

    name = "quick"
    seeds = [0, 1, 2]
    models = ["gan", "vae"]            # baselines/<model>_<dataset>.toml for each pair
    datasets = ["ring8", "digits"]
    baselines_dir = "pacgan2d"         # optional, relative to baselines/: take every file there instead
    [train.points2d]                   # optional budget overrides per data kind
    steps = 1000

Each (baseline, seed) is a ``Job`` with a deterministic id. ``run_job`` trains it (resuming from its
checkpoint), scores it under the dataset's standard protocol and stores the score with its fingerprint.
A finished job is skipped, so rerunning a suite is cheap; executors only need ``run_job``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.config import BASELINES_DIR, BaselineConfig, TrainConfig, find_baseline, list_baselines, tomllib
from ganbench.errors import UserError

SUITES_DIR = Path(__file__).resolve().parent / "suites"
_SUITE_KEYS = {"name", "description", "seeds", "models", "datasets", "baselines_dir", "train"}


@dataclass(frozen=True)
class Job:
    """One (baseline, seed): the unit that executors run."""

    config: BaselineConfig
    seed: int

    @property
    def config_hash(self) -> str:
        body = {k: v for k, v in self.config.to_dict().items() if k not in ("source", "description")}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def id(self) -> str:
        return f"{self.config.dataset}/{self.config.name}/seed-{self.seed}@{self.config_hash}"


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
               seeds: list[int] | None = None) -> Suite:  # fmt: skip
    """A built-in suite by name or a suite file, optionally narrowed by models, datasets and seeds."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            import difflib

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
    configs = _suite_baselines(raw, path)
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


def _suite_baselines(raw: dict, path: Path) -> list[BaselineConfig]:
    from ganbench.data import get_dataset_info

    if "baselines_dir" in raw:
        configs = list_baselines(BASELINES_DIR / raw["baselines_dir"])
    else:
        configs = [find_baseline(m, d) for d in raw.get("datasets", []) for m in raw.get("models", [])]
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
        changes = overrides.get(get_dataset_info(c.dataset).kind, {})
        out.append(dataclasses.replace(c, train=dataclasses.replace(c.train, **changes)))
    return out


# -- running one job -------------------------------------------------------------------------------


def job_done(job: Job, out: Path) -> bool:
    rec = RunDir.of(out, job.config.dataset, job.config.name, job.seed).read_job()
    return bool(rec) and rec.get("id") == job.id and rec.get("status") in ("complete", "diverged", "failed")


# CPU results depend on the number of threads (reduction order), so every job runs with the same
# count wherever it runs: serially, in a worker process, or on a cluster.
JOB_THREADS = 1


def run_job(job: Job, out: str | Path, device: str = "auto", data_root: str | None = None, eval_seed: int = 0,
            progress: bool = False) -> dict:  # fmt: skip
    """Train and score one job; never raises for a job's own failure (it is recorded as ``failed``)."""
    from ganbench.runs.locks import JobLock

    directory = RunDir.of(out, job.config.dataset, job.config.name, job.seed).path
    with JobLock(directory) as held:
        if not held:  # another runner is on it: leave it alone
            return {"id": job.id, "status": "locked"}
        with _single_threaded():
            return _run_job(job, out, device, data_root, eval_seed, progress)


@contextlib.contextmanager
def _single_threaded():
    """JOB_THREADS for torch and for numpy's BLAS (KID, PRDC), restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(JOB_THREADS)
    try:
        with threadpool_limits(JOB_THREADS):
            yield
    finally:
        torch.set_num_threads(previous)


def _run_job(job: Job, out, device, data_root, eval_seed, progress) -> dict:
    from ganbench.evaluation.evaluate import evaluate_run
    from ganbench.evaluation.tracking import training_tracker
    from ganbench.training import train

    out = Path(out)
    run = RunDir.of(out, job.config.dataset, job.config.name, job.seed)
    directory = run.path
    if job_done(job, out):
        return {**run.read_job(), "skipped": True}
    rec = run.read_job()
    if rec and rec.get("id") != job.id:
        raise UserError(f"{directory} holds another configuration ({rec.get('id')}); use another --out")
    directory.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(run.job, {"id": job.id, "status": "running"})
    record = {"id": job.id, "dataset": job.config.dataset, "model": job.config.name, "seed": job.seed}
    try:
        result = train(job.config, job.seed, out, device=device, resume=True, data_root=data_root,
                       progress=progress, tracker=training_tracker)  # fmt: skip
        record.update(status=result.status, steps=result.steps, wall_time_s=result.wall_time_s)
        if result.status == "complete":
            evaluate_run(directory, eval_seed=eval_seed, device=device, data_root=data_root)
    except UserError:
        raise
    except Exception as e:  # a job's failure is data, not the end of the suite
        record.update(status="failed", error=f"{type(e).__name__}: {e}")
        files.atomic_write_json(run.result, {"status": "failed", "error": record["error"]})
    files.atomic_write_json(run.job, record)
    return record


def _worker_init(threads: int) -> None:
    import torch

    _die_with_parent()
    torch.set_num_threads(threads)


def _die_with_parent() -> None:
    """On Linux, ask the kernel to kill this worker when its parent dies (a killed runner must not
    leave orphans training on). Elsewhere the pool's own shutdown is all there is."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def _ensure_evaluator(dataset_name: str, data_root: str | None) -> None:
    from ganbench.data import load_dataset

    dataset = load_dataset(dataset_name, data_root=data_root)
    if dataset.info.kind == "image" and dataset.train_labels is not None:
        from ganbench.evaluation.extractors import get_classifier

        get_classifier(dataset, data_root=data_root)


def run_task(args) -> dict:
    """Run one task tuple ``(kind, item, out, device, data_root, eval_seed)``; what executors call."""
    kind, item, out, device, data_root, eval_seed = args
    if kind == "reference":
        from ganbench.evaluation.evaluate import reference_scores

        with _single_threaded():
            reference_scores(item, out, eval_seed=eval_seed, device=device, data_root=data_root)
        return {"reference": item}
    try:
        return run_job(item, out, device, data_root, eval_seed)
    except UserError as e:
        return {"id": item.id, "status": "failed", "error": str(e)}


def _collect(rec: dict, records: list, n: int, t0: float, log) -> None:
    if "reference" not in rec:
        records.append(_report(rec, len(records) + 1, n, t0, log))


def run_suite(suite: Suite, out: str | Path, jobs: int | None = None, device: str = "auto",
              data_root: str | None = None, eval_seed: int = 0, log=print, executor=None) -> list[dict]:  # fmt: skip
    """Run every job of ``suite`` (skipping finished ones).

    Args:
        executor: where tasks run (``ganbench.runs.executors``); default: ``jobs`` local worker processes.
    """
    import os
    import time

    from ganbench.runs.executors.local import LocalExecutor

    out = Path(out)
    todo = [j for j in suite.jobs if not job_done(j, out)]
    if executor is None:
        executor = LocalExecutor(max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1)))
    where = f"{executor.workers} worker(s)" if isinstance(executor, LocalExecutor) else type(executor).__name__
    log(f"suite {suite.name}: {len(suite.jobs)} jobs, {len(suite.jobs) - len(todo)} already done, {where}, "
        f"runs in {out}")  # fmt: skip
    t0 = time.perf_counter()
    # Evaluator classifiers are trained (or found in the cache) here, once, before any worker needs them;
    # the real-data rows are then scored beside the jobs.
    for name in suite.datasets():
        _ensure_evaluator(name, data_root)
    tasks = [("reference", name) for name in suite.datasets()] + [("job", j) for j in todo]
    records: list[dict] = []
    executor([(kind, item, str(out), device, data_root, eval_seed) for kind, item in tasks],
             lambda rec: _collect(rec, records, len(todo), t0, log))  # fmt: skip
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
    import time

    extra = f" ({rec['error']})" if rec.get("status") == "failed" else ""
    # A job another runner finished while this one waited is reported as such, not as run here.
    status = "done" if rec.get("skipped") else rec.get("status", "?")
    log(f"[{i}/{n} {time.perf_counter() - t0:5.0f}s] {status:>8} {rec['id']}{extra}")
    sys.stdout.flush()
    return rec

"""The worker side of a suite: one ``Task`` (a job, or a dataset's real-data row) run to its record.

Executors hand ``Task`` objects to ``run_task`` wherever they run them (this process, a spawned worker
process, a Ray worker, a Slurm job). ``run_job`` trains a job (resuming from its checkpoint), scores it
under the dataset's standard protocol and stores the score with its fingerprint; a finished job is
skipped, so rerunning a suite is cheap.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from threadpoolctl import threadpool_limits

from ganbench.config import BaselineConfig
from ganbench.errors import UserError
from ganbench.evaluation.evaluate import evaluate_run, reference_scores
from ganbench.evaluation.tracking import tracker_for
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.runs.locks import JobLock
from ganbench.runs.options import RunOptions
from ganbench.training import train
from ganbench.training_batched import train_seeds

# CPU results depend on the number of threads (reduction order), so every job runs with the same
# count wherever it runs: serially, in a worker process, or on a cluster.
JOB_THREADS = 1

TASK_KINDS = ("job", "reference", "batch")


@dataclass(frozen=True)
class Job:
    """One (baseline, seed): the unit that executors run."""

    config: BaselineConfig
    seed: int

    @property
    def config_hash(self) -> str:
        body = {k: v for k, v in self.config.to_dict().items() if k not in ("source", "description")}
        body["train"] = self.config.train.identity()
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def id(self) -> str:
        return f"{self.config.dataset}/{self.config.name}/seed-{self.seed}@{self.config_hash}"

    def run_dir(self, out: str | Path) -> RunDir:
        return RunDir.of(out, self.config.dataset, self.config.name, self.seed)


@dataclass(frozen=True)
class Task:
    """What an executor runs: a ``job`` (train and score a ``Job``), a ``batch`` (a tuple of jobs of one
    baseline with different seeds, trained together as one vectorised model, each scored as a job) or a
    ``reference`` (score the real data of the dataset named ``item``: the leaderboard's real-data row),
    under ``options``."""

    kind: str
    item: Job | str
    options: RunOptions

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"Task.kind must be job, batch or reference; got {self.kind!r}")
        expected = {"job": Job, "reference": str, "batch": tuple}[self.kind]
        if not isinstance(self.item, expected):
            raise TypeError(f"a {self.kind} task holds a {expected.__name__}; got {type(self.item).__name__}")
        if self.kind == "batch" and (not self.item or not all(isinstance(j, Job) for j in self.item)
                                     or len({(j.config.name, j.config_hash) for j in self.item}) != 1):  # fmt: skip
            raise TypeError("a batch task holds a tuple of jobs of one baseline")
        if not isinstance(self.options, RunOptions):
            raise TypeError(f"Task.options must be RunOptions; got {type(self.options).__name__}")

    @property
    def label(self) -> str:
        """The job's id, a batch's jobs' ids, or the dataset's name for its real-data row."""
        if self.kind == "batch":
            return " + ".join(j.id for j in self.item)
        return self.item.id if isinstance(self.item, Job) else self.item


def run_task(task: Task) -> dict:
    """Run one task to its record; what every executor calls."""
    opts = task.options
    if task.kind == "reference":
        with single_threaded():
            reference_scores(task.item, opts.out, **opts.scoring())
        return {"reference": task.item}
    if task.kind == "batch":
        return {"batch": run_batch(task.item, opts)}
    try:
        return run_job(task.item, opts)
    except UserError as e:
        return {"id": task.item.id, "status": "failed", "error": str(e)}


def job_done(job: Job, out: str | Path) -> bool:
    """Whether ``job`` has finished in the runs folder ``out`` (complete, diverged or failed)."""
    rec = job.run_dir(out).read_job()
    return bool(rec) and rec.get("id") == job.id and rec.get("status") in ("complete", "diverged", "failed")


def run_job(job: Job, options: RunOptions) -> dict:
    """Train and score one job; never raises for a job's own failure (it is recorded as ``failed``)."""
    with JobLock(job.run_dir(options.out).path) as held:
        if not held:  # another runner is on it: leave it alone
            return {"id": job.id, "status": "locked"}
        with single_threaded():
            return _run_job(job, options)


@contextlib.contextmanager
def single_threaded():
    """JOB_THREADS for torch and for numpy's BLAS (KID, PRDC), restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(JOB_THREADS)
    try:
        with threadpool_limits(JOB_THREADS):
            yield
    finally:
        torch.set_num_threads(previous)


def _run_job(job: Job, opts: RunOptions) -> dict:
    run = job.run_dir(opts.out)
    directory = run.path
    run.remove_stale_temp_files()  # a runner killed mid-write left them; this one holds the lock
    if job_done(job, opts.out):
        return {**run.read_job(), "skipped": True}
    rec = run.read_job()
    if rec and rec.get("id") != job.id:
        raise UserError(f"{directory} holds another configuration ({rec.get('id')}); use another --out")
    directory.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(run.job, {"id": job.id, "status": "running"})
    record = {"id": job.id, "dataset": job.config.dataset, "model": job.config.name, "seed": job.seed}
    try:
        result = train(job.config, job.seed, opts.out, device=opts.device, resume=True, data_root=opts.data_root,
                       progress=opts.progress, tracker=tracker_for(job.config))  # fmt: skip
        record.update(status=result.status, steps=result.steps, wall_time_s=result.wall_time_s)
        if result.status == "complete":
            evaluate_run(directory, **opts.scoring())
    except UserError:
        raise
    except Exception as e:  # a job's failure is data, not the end of the suite
        record.update(status="failed", error=f"{type(e).__name__}: {e}")
        files.atomic_write_json(run.result, {"status": "failed", "error": record["error"]})
    files.atomic_write_json(run.job, record)
    return record


def run_batch(jobs: tuple[Job, ...], options: RunOptions) -> list[dict]:
    """Train the jobs (one baseline, several seeds) as one vectorised model, then score each; one record per
    job, as ``run_job`` gives. A job already finished is left out of the batch.

    A seed's numbers depend on the stack it is trained in (``ganbench.training_batched``: rounding), so a
    batch is never split between runners: the jobs' locks are taken in the batch's order, the same in every
    runner, and a runner that finds any of them held leaves the whole batch (each job ``locked``) to the
    runner that holds it (a job of it that is already finished is reported as such, not as locked). Two
    runners on one folder then train the stacks one runner would."""
    records: dict[str, dict] = {}
    with contextlib.ExitStack() as stack:
        for job in jobs:
            if not stack.enter_context(JobLock(job.run_dir(options.out).path)):  # the stack releases those taken
                return [{**j.run_dir(options.out).read_job(), "skipped": True} if job_done(j, options.out)
                        else {"id": j.id, "status": "locked"} for j in jobs]  # fmt: skip
        todo = []
        for job in jobs:
            try:
                rec = _start_job(job, options)
            except UserError as e:
                rec = {"id": job.id, "status": "failed", "error": str(e)}
            if rec is not None:
                records[job.id] = rec
            else:
                todo.append(job)
        with single_threaded():
            for job, rec in zip(todo, _train_batch(todo, options)):
                records[job.id] = rec
    return [records[j.id] for j in jobs]


def _start_job(job: Job, opts: RunOptions) -> dict | None:
    """The record of a job with nothing to do (finished), or None after marking it running."""
    run = job.run_dir(opts.out)
    run.remove_stale_temp_files()
    if job_done(job, opts.out):
        return {**run.read_job(), "skipped": True}
    rec = run.read_job()
    if rec and rec.get("id") != job.id:
        raise UserError(f"{run.path} holds another configuration ({rec.get('id')}); use another --out")
    run.path.mkdir(parents=True, exist_ok=True)
    files.atomic_write_json(run.job, {"id": job.id, "status": "running"})
    return None


def _train_batch(jobs: list[Job], opts: RunOptions) -> list[dict]:
    if not jobs:
        return []
    records = [{"id": j.id, "dataset": j.config.dataset, "model": j.config.name, "seed": j.seed} for j in jobs]
    try:
        results = train_seeds(jobs[0].config, [j.seed for j in jobs], opts.out, device=opts.device, resume=True,
                              data_root=opts.data_root, progress=opts.progress, tracker=tracker_for(jobs[0].config))  # fmt: skip
    except Exception as e:  # the batch's failure is every job's, recorded as data
        results = {}
        for rec in records:
            rec.update(status="failed", error=f"{type(e).__name__}: {e}")
    for job, rec in zip(jobs, records):
        run = job.run_dir(opts.out)
        result = results.get(job.seed)
        try:
            if result is not None:
                rec.update(status=result.status, steps=result.steps, wall_time_s=result.wall_time_s)
                if result.status == "complete":
                    evaluate_run(run.path, **opts.scoring())
        except Exception as e:
            rec.update(status="failed", error=f"{type(e).__name__}: {e}")
        if rec["status"] == "failed":
            files.atomic_write_json(run.result, {"status": "failed", "error": rec["error"]})
        files.atomic_write_json(run.job, rec)
    return records


def init_worker_process(threads: int = JOB_THREADS) -> None:
    """Initialiser of a spawned worker process: die with the parent, train with ``threads`` threads."""
    die_with_parent()
    torch.set_num_threads(threads)


def die_with_parent() -> None:
    """On Linux, ask the kernel to kill this worker when its parent dies (a killed runner must not
    leave orphans training on). Elsewhere the pool's own shutdown is all there is."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass

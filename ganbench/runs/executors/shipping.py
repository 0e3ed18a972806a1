"""What distributed executors (Ray, Slurm) share: shipping a task to a fresh worker, naming the logical
task a retry belongs to, collecting results as they arrive, and checking that the runs came back.

A worker on another node imports ganbench afresh: a model recipe registered in the driver at run time
travels with its task (``task_recipe``) and is registered again there (``run_shipped_task``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

from ganbench.errors import UserError
from ganbench.models import MODELS
from ganbench.runs.worker import Task, job_done, run_task

Handle = TypeVar("Handle")


def task_recipe(task: Task):
    """``(name, recipe)`` of the model a job task trains, as registered in this process, else None.

    Workers import ganbench afresh: a recipe registered here at run time (``register_recipe``, a plugin
    loaded by name) would be unknown there, so it travels with the task."""
    if task.kind not in ("job", "batch"):
        return None
    name = (task.item[0] if task.kind == "batch" else task.item).config.model
    return (name, MODELS.get(name)) if name in MODELS else None


def run_shipped_task(task: Task, recipe=None) -> dict:
    """``run_task(task)`` in a worker, after registering the driver's recipe for the job's model."""
    owner = task_owner()
    if owner:  # kept by retries: a retry on another host may take over the dead attempt's lock
        os.environ["GANBENCH_TASK_OWNER"] = owner
    if recipe is not None:
        name, obj = recipe
        if name not in MODELS or MODELS.get(name) != obj:
            MODELS.unregister(name)
            MODELS.register(name, obj)
    return run_task(task)


def task_owner() -> str | None:
    """A name for this logical task that its retries share: the Ray task id, or the Slurm array job."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"slurm-{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    try:
        import ray  # optional dependency, and only meaningful inside a Ray worker: imported on demand

        if ray.is_initialized():
            return f"ray-{ray.get_runtime_context().get_task_id()}"
    except Exception:  # Ray not installed, or not in a Ray worker
        pass
    return None


def failed_record(task: Task, error: str) -> dict:
    """The record of a job task that could not run to its end on the executor (not a model failure); for a
    batch task, ``{"batch": [one such record per job]}``, as ``run_task`` returns for a batch."""
    if task.kind == "batch":
        return {"batch": [failed_record(Task("job", job, task.options), error) for job in task.item]}
    job = task.item
    return {"id": job.id, "dataset": job.config.dataset, "model": job.config.name, "seed": job.seed,
            "status": "failed", "error": error}  # fmt: skip


def collect_results(finished: Iterable[tuple[Task, Handle]], result: Callable[[Handle], dict],
                    explain: Callable[[Handle, Exception], str], on_result: Callable[[dict], None],
                    cancel: Callable[[], None]) -> list[dict]:  # fmt: skip
    """Hand each finished task's record to ``on_result`` as it arrives; return the records.

    Args:
        finished: ``(task, handle)`` pairs in the order the executor sees them finish.
        result: the record behind a handle; raises when the executor could not run the task.
        explain: one line on why a handle's task could not run (``result`` raised the exception).
        on_result: called with each record, in this thread.
        cancel: stops what is still queued or running; called on Ctrl-C or when ``on_result`` raises.

    A job task the executor could not run becomes a ``failed`` record (its run is left as it was, so
    a rerun resumes it). A real-data row that could not run has no record to fall back on: the first
    such failure is raised once every other task has been collected.
    """
    records, reference_error = [], None  # (message, exception) of the first real-data row that failed
    try:
        for task, handle in finished:
            try:
                rec = result(handle)
            except Exception as e:  # the worker died on every try, or the executor could not run it
                if task.kind == "reference":
                    reference_error = reference_error or (f"real-data row of {task.item}: {explain(handle, e)}", e)
                    continue
                rec = failed_record(task, explain(handle, e))
            records.extend(rec.get("batch", [rec]))  # a batch's jobs' records, one each
            on_result(rec)
    except BaseException:  # Ctrl-C or a failing on_result: do not leave tasks queued or running
        cancel()
        raise
    if reference_error is not None:
        message, cause = reference_error
        raise RuntimeError(message) from cause
    return records


def missing_runs(tasks: Sequence[Task], records: Sequence[dict]) -> list[Path]:
    """Run directories of jobs that a worker reported finished but that this machine cannot see."""
    by_id = {job.id: (job, t.options) for t in tasks if t.kind != "reference"
             for job in (t.item if t.kind == "batch" else (t.item,))}  # fmt: skip
    missing = []
    for rec in records:
        found = by_id.get(rec.get("id"))
        if found is None or rec.get("status") not in ("complete", "diverged"):  # these always write job.json
            continue
        job, options = found
        if not job_done(job, options.out):
            missing.append(job.run_dir(options.out).path)
    return missing


def check_runs_visible(tasks: Sequence[Task], records: Sequence[dict], wait_s: float = 60.0) -> None:
    """Raise ``UserError`` when finished runs are not in the runs folder here (``--out`` not shared).
    A network filesystem may show a new file late: wait up to ``wait_s`` before concluding."""
    deadline = time.monotonic() + wait_s
    while True:
        missing = missing_runs(tasks, records)
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(2.0)
    if missing:
        raise UserError(f"{len(missing)} job(s) finished on the workers but their runs are not on this machine "
                        f"(e.g. {missing[0]}): --out must be a folder on a filesystem shared by this machine and "
                        "every worker, at the same path")  # fmt: skip

"""Run a suite's tasks as Slurm jobs through submitit (``--executor slurm``).

Each task (a job, or a dataset's real-data row) is one element of a Slurm job array, running
``ganbench.runs.worker.run_task`` with the driver's Python (``sys.executable``) on a compute node. Run it from a
login node whose Python environment and runs folder (``--out``) are on a filesystem the compute nodes
share at the same path: the task writes its run there, and submitit passes pickled tasks and results
through ``<out>/_slurm/<slurm job id>/``, where each job's stdout and stderr logs stay.

Time limits and preemption: a job that reaches ``--slurm-time`` minutes (or is preempted) is requeued
by submitit and resumes from its last checkpoint (up to 3 timeouts). A job that fails in Slurm (its
process killed, a node lost, timed out too often) comes back as a ``failed`` record with the error and
its log; its run is left as it was, so rerunning the suite resumes it from its checkpoint.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable, Sequence

from ganbench.errors import UserError
from ganbench.runs.executors.shipping import collect_results, run_shipped_task, task_recipe
from ganbench.runs.worker import Task
from ganbench.runs.layout import slurm_dir

INSTALL_HINT = "--executor slurm needs submitit: pip install 'ganbench[slurm]'"

try:  # optional dependency (ganbench[slurm]); the task class below must be importable by pickle either way
    from submitit.helpers import Checkpointable as _Checkpointable
except ImportError:  # the module stays importable; SlurmExecutor says what to install
    _Checkpointable = object


class _Task(_Checkpointable):
    """The callable each Slurm job runs; checkpointable, so that a timeout or preemption requeues it
    (same task: it resumes from the job's checkpoint)."""

    def __call__(self, task: Task, recipe=None) -> dict:
        return run_shipped_task(task, recipe)


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b")


def _error(job, e: BaseException) -> str:
    """One line: the job's final state, the exception it raised if any, and where its log is."""
    try:
        state = job.state
    except Exception:
        state = "UNKNOWN"
    lines = [ln.strip() for ln in str(e).splitlines()]
    raised = next((ln for ln in reversed(lines) if _EXCEPTION_LINE.match(ln)), None)
    what = f"raised {raised[:300]}" if raised else "produced no result"
    return f"Slurm job {job.job_id} ended in state {state}, {what} (log: {job.paths.stderr})"


class SlurmExecutor:
    """Tasks as a Slurm job array through submitit.

    Args:
        partition: Slurm partition (default: the cluster's default).
        time_min: time limit of each job in minutes; a job still running then is requeued and resumes.
        gpus_per_job: GPUs per job (``--device auto`` then trains on CUDA).
        cpus_per_job: CPUs per job (training uses one thread; more only buys memory on some clusters).
        folder: submitit's folder for pickles and logs (default ``<out>/_slurm``; ``%j`` is the job id).
        local: run the jobs as local processes with ``submitit.LocalExecutor`` (tests, no Slurm).
        array_parallelism: at most this many jobs of the array run at once (default: Slurm's choice).
        poll_s: seconds between checks of the jobs' states (submitit caches ``sacct`` between them).
    """

    def __init__(self, partition: str | None = None, time_min: int = 60, gpus_per_job: int = 0, cpus_per_job: int = 1,
                 folder: str | Path | None = None, local: bool = False, array_parallelism: int | None = None,
                 poll_s: float | None = None) -> None:  # fmt: skip
        self.partition = partition
        self.time_min = time_min
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job
        self.folder = folder
        self.local = local
        self.array_parallelism = array_parallelism
        self.poll_s = poll_s if poll_s is not None else (0.5 if local else 15.0)

    def _executor(self, submitit, out: Path):
        folder = Path(self.folder) if self.folder else slurm_dir(out) / "%j"
        ex = submitit.AutoExecutor(folder=folder, cluster="local" if self.local else "slurm")
        params = dict(name="ganbench", timeout_min=self.time_min, gpus_per_node=self.gpus_per_job,
                      cpus_per_task=self.cpus_per_job, slurm_partition=self.partition,
                      slurm_array_parallelism=self.array_parallelism)  # fmt: skip
        ex.update_parameters(**{k: v for k, v in params.items() if v is not None})
        return ex

    def __call__(self, tasks: Sequence[Task], on_result: Callable[[dict], None]) -> None:
        try:
            import submitit  # optional dependency (ganbench[slurm]): imported only when this executor runs
        except ImportError:
            raise UserError(INSTALL_HINT) from None
        tasks = list(tasks)
        if not tasks:
            return
        ex = self._executor(submitit, tasks[0].options.out)
        jobs = ex.map_array(_Task(), tasks, [task_recipe(t) for t in tasks])
        if self.local:  # submitit waits 15 s for a dead job's result to show up on a network filesystem
            for job in jobs:
                job._results_timeout_s = 1
        task_of = {id(j): t for j, t in zip(jobs, tasks)}

        def cancel():  # do not leave jobs queued or running on the cluster
            for job in jobs:
                if not job.done():
                    job.cancel(check=False)

        finished = ((task_of[id(job)], job) for job in submitit.helpers.as_completed(jobs, poll_frequency=self.poll_s))
        collect_results(finished, lambda job: job.result(), _error, on_result, cancel)


def make_slurm_executor(workers: int | None = None, slurm_partition: str | None = None, slurm_time: int = 60,
                        slurm_gpus: int = 0, slurm_cpus: int = 1, **_options) -> SlurmExecutor:  # fmt: skip
    """``make_executor("slurm", workers, slurm_partition=..., ...)``: ``workers`` (``--jobs``) caps how
    many jobs of the array run at once."""
    try:
        import submitit  # noqa: F401  (optional dependency: fail at the command line, not at submission)
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    for flag, value, least in (("--slurm-gpus", slurm_gpus, 0), ("--slurm-cpus", slurm_cpus, 1),
                               ("--slurm-time", slurm_time, 1)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise UserError(f"{flag} must be an integer >= {least}; got {value!r}")
    if shutil.which("sbatch") is None:
        raise UserError("--executor slurm: sbatch not found; run ganbench on a Slurm login node")
    return SlurmExecutor(partition=slurm_partition, time_min=slurm_time, gpus_per_job=slurm_gpus,
                         cpus_per_job=slurm_cpus, array_parallelism=workers)  # fmt: skip

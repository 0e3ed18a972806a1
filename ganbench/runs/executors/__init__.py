"""Executors run a suite's tasks somewhere and hand each result back as it arrives.

An executor is a callable ``executor(tasks, on_result)``: ``tasks`` is a list of picklable
``ganbench.runs.worker.Task`` objects (a job, or a dataset's real-data row) for ``run_task``; it must call
``on_result(record)`` once per task, in any order, from the calling thread. The local executor runs them in
this process or in spawned worker processes; distributed executors (Ray, Slurm) plug in the same way and
share ``shipping``.

The backend modules are cheap to import: Ray is imported only when its executor runs, and submitit's
helpers module only to give the Slurm task class its base, so all three are imported here.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from ganbench.errors import UserError
from ganbench.runs.executors.local import LocalExecutor
from ganbench.runs.executors.ray import make_ray_executor
from ganbench.runs.executors.slurm import make_slurm_executor
from ganbench.runs.worker import Task

EXECUTORS = ("local", "ray", "slurm")


class Executor(Protocol):
    def __call__(self, tasks: Sequence[Task], on_result: Callable[[dict], None]) -> None: ...


def make_executor(name: str, workers: int | None, **options) -> Executor:
    """The executor called ``name``: ``local``, ``ray`` or ``slurm``.

    ``options``: ``ray_address`` (ray); ``slurm_partition``, ``slurm_time``, ``slurm_gpus``, ``slurm_cpus``
    (slurm). ``workers`` (``--jobs``): local worker processes, the CPUs of a local Ray instance, or how
    many Slurm jobs run at once.
    """
    if name == "local":
        return LocalExecutor(workers or 1)
    if name == "ray":
        return make_ray_executor(workers, **options)
    if name == "slurm":
        return make_slurm_executor(workers, **options)
    raise UserError(f"--executor must be {', '.join(EXECUTORS[:-1])} or {EXECUTORS[-1]}; got {name!r}")

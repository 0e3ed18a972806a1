"""Executors run a suite's tasks somewhere and hand each result back as it arrives.

An executor is a callable ``executor(tasks, on_result)``: ``tasks`` is a list of picklable task tuples
for ``ganbench.runs.suite.run_task`` (a job, or a dataset's real-data row); it must call ``on_result(record)``
once per task, in any order, from the calling thread. The local executor runs them in this process or in
spawned worker processes; distributed executors (Ray, Slurm) plug in the same way.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence


class Executor(Protocol):
    def __call__(self, tasks: Sequence[tuple], on_result: Callable[[dict], None]) -> None: ...


def make_executor(name: str, workers: int | None, **options) -> Executor:
    """The executor called ``name``: ``local``, ``ray`` or ``slurm`` (the last two imported only when named).

    ``options``: ``ray_address`` (ray); ``slurm_partition``, ``slurm_time``, ``slurm_gpus``, ``slurm_cpus``
    (slurm). ``workers`` (``--jobs``): local worker processes, the CPUs of a local Ray instance, or how
    many Slurm jobs run at once.
    """
    from ganbench.errors import UserError

    if name == "local":
        from ganbench.runs.executors.local import LocalExecutor

        return LocalExecutor(workers or 1)
    if name == "ray":
        from ganbench.runs.executors.ray import make_ray_executor

        return make_ray_executor(workers, **options)
    if name == "slurm":
        from ganbench.runs.executors.slurm import make_slurm_executor

        return make_slurm_executor(workers, **options)
    raise UserError(f"--executor must be local, ray or slurm; got {name!r}")

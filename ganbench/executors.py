"""Executors run a suite's tasks somewhere and hand each result back as it arrives.

An executor is a callable ``executor(tasks, on_result)``: ``tasks`` is a list of picklable task tuples
for ``ganbench.suite.run_task`` (a job, or a dataset's real-data row); it must call ``on_result(record)``
once per task, in any order, from the calling thread. The local executor runs them in this process or in
spawned worker processes; distributed executors (Ray, Slurm) plug in the same way.
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence


class Executor(Protocol):
    def __call__(self, tasks: Sequence[tuple], on_result: Callable[[dict], None]) -> None: ...


class LocalExecutor:
    """``workers`` spawned processes (or this process when 1), each running one task at a time."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def __call__(self, tasks: Sequence[tuple], on_result: Callable[[dict], None]) -> None:
        from ganbench.suite import JOB_THREADS, _worker_init, run_task

        if self.workers == 1:
            for t in tasks:
                on_result(run_task(t))
            return
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")  # torch and fork do not mix
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(JOB_THREADS,)) as pool:  # fmt: skip
            futures = [pool.submit(run_task, t) for t in tasks]
            for f in as_completed(futures):
                on_result(f.result())


def make_executor(name: str, workers: int, **options) -> Executor:
    """The executor called ``name`` (``local`` here; others are imported only when named)."""
    from ganbench.errors import UserError

    if name == "local":
        return LocalExecutor(workers)
    raise UserError(f"--executor must be local; got {name!r}")

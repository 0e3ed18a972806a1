"""The local executor: tasks in this process, or in spawned worker processes."""

from __future__ import annotations

from typing import Callable, Sequence


class LocalExecutor:
    """``workers`` spawned processes (or this process when 1), each running one task at a time."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def __call__(self, tasks: Sequence[tuple], on_result: Callable[[dict], None]) -> None:
        from ganbench.runs.suite import JOB_THREADS, _worker_init, run_task

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

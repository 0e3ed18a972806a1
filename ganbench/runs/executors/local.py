"""The local executor: tasks in this process, or in spawned worker processes."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable, Sequence

from ganbench.runs.worker import JOB_THREADS, Task, init_worker_process, run_task


class LocalExecutor:
    """``workers`` spawned processes (or this process when 1), each running one task at a time."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)

    def __call__(self, tasks: Sequence[Task], on_result: Callable[[dict], None]) -> None:
        if self.workers == 1:
            for t in tasks:
                on_result(run_task(t))
            return
        ctx = mp.get_context("spawn")  # torch and fork do not mix
        with ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_worker_process,
                                 initargs=(JOB_THREADS,)) as pool:  # fmt: skip
            futures = [pool.submit(run_task, t) for t in tasks]
            for f in as_completed(futures):
                on_result(f.result())

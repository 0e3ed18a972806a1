"""Run a suite's tasks as Ray tasks: on this machine, or on a Ray cluster (``--executor ray``).

Each task (a job, or a dataset's real-data row) is one Ray task calling ``ganbench.runs.worker.run_task``
with one CPU (``JOB_THREADS``), plus one GPU when the device is ``cuda`` or ``auto`` on a cluster that
has GPUs. The record comes back to the driver, which calls ``on_result`` as each task finishes.

Where results go: the task writes its run into the runs folder itself, so that folder must be a path
every worker can write and this machine can read. On a laptop (a local Ray instance, the default) the
local folder is shared by construction. On a cluster, ``--out`` must be on a shared filesystem (NFS,
Lustre, ...) mounted at the same path on the driver and on every node, and ganbench (the same version)
must be installed on every node.

Retries: a task whose worker process dies (killed, out of memory, node lost) is retried by Ray up to
``max_retries`` times; the retry takes over the job's lock and resumes from the job's last checkpoint,
so it ends with the same result as an uninterrupted run. (``ganbench.runs.locks`` takes over a lock whose
owner died on the same host, and one left on another host by an earlier attempt of the same task, which
keeps its owner name; other hosts' locks are trusted for 24 hours.) A job's own failure (an exception in the model) is
not retried: it is recorded as ``failed``, as in a local run. A task whose worker died on every try
comes back as ``failed`` with Ray's error; its run is left as it was, so a rerun resumes it.
"""

from __future__ import annotations

import os
import socket
from typing import Callable, Sequence

from ganbench.errors import UserError
from ganbench.runs.executors.shipping import check_runs_visible, collect_results, run_shipped_task, task_recipe
from ganbench.runs.worker import Task

INSTALL_HINT = "--executor ray needs Ray: pip install 'ganbench[ray]'"


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"[:500]


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on a ``HOST:PORT`` nothing answers at (Ray itself would keep retrying for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto" and other forms: left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise UserError(f"--ray-address {address}: nothing answers there ({e.strerror or e}); start the cluster "
                        "with `ray start --head` and pass the address it prints") from None  # fmt: skip


class RayExecutor:
    """Tasks as Ray tasks, one CPU each (and one GPU each on CUDA).

    Args:
        address: a running cluster to join (``ray.init(address=...)``; ``auto`` finds one started with
            ``ray start`` on this machine). Default: ``RAY_ADDRESS`` if set, else a local Ray instance is
            started for the run and shut down afterwards.
        num_cpus: CPUs of the local instance (default: all cores); ignored when joining a cluster.
        max_retries: how many times a task whose worker process died is run again.
        visibility_wait_s: how long to wait for finished runs to appear on this machine before
            concluding that ``--out`` is not shared.

    The runs folder (the tasks' ``out``) must be visible to every worker: local on a laptop, on a
    shared filesystem on a cluster. If Ray is already initialised in this process, that instance is used
    and left running.
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, max_retries: int = 2,
                 visibility_wait_s: float = 60.0) -> None:  # fmt: skip
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self.visibility_wait_s = visibility_wait_s

    def _init(self, ray) -> bool:
        """Connect to Ray; True when this call started the connection (and must shut it down)."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        # Workers on other nodes do not inherit this environment: pass ganbench's own settings on
        # (GANBENCH_CACHE, GANBENCH_DATA, GANBENCH_OFFLINE).
        env = {k: v for k, v in os.environ.items() if k.startswith("GANBENCH_")}
        runtime_env = {"env_vars": env} if env else None
        try:
            if address:
                _check_reachable(address)
                ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
            else:
                # "local": a new instance even when `ray start` once ran here (ray.init() would join that)
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                         runtime_env=runtime_env)  # fmt: skip
        except ConnectionError as e:
            what = f"cannot connect to the Ray cluster at {address}" if address else "cannot start Ray here"
            raise UserError(f"--executor ray: {what} ({e})") from None
        return True

    def __call__(self, tasks: Sequence[Task], on_result: Callable[[dict], None]) -> None:
        try:
            import ray  # optional dependency (ganbench[ray]): imported only when this executor runs
        except ImportError:
            raise UserError(INSTALL_HINT) from None
        if not tasks:
            return
        started = self._init(ray)
        try:
            self._run(ray, list(tasks), on_result)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, tasks: list[Task], on_result: Callable[[dict], None]) -> None:
        remote = ray.remote(run_shipped_task)
        # "auto" trains on CUDA wherever there is a GPU, so on a cluster with GPUs each task takes one
        # (asking the cluster, not this machine: the driver may have none).
        cluster_gpus = ray.cluster_resources().get("GPU", 0) >= 1
        pending: dict = {}  # ref -> task, until it finishes
        for t in tasks:
            device = t.options.device
            gpus = 1 if device.startswith("cuda") or (device == "auto" and cluster_gpus) else 0
            options = dict(num_cpus=1, num_gpus=gpus, max_retries=self.max_retries,
                           retry_exceptions=False, name=f"ganbench:{t.label}")  # fmt: skip
            pending[remote.options(**options).remote(t, task_recipe(t))] = t

        def finished():
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    yield pending.pop(ref), ref

        def cancel():
            for ref in pending:
                ray.cancel(ref, force=True)

        records = collect_results(finished(), ray.get, lambda ref, e: f"Ray task failed: {_one_line(e)}",
                                  on_result, cancel)  # fmt: skip
        check_runs_visible(tasks, records, self.visibility_wait_s)


def make_ray_executor(workers: int | None = None, ray_address: str | None = None, **_options) -> RayExecutor:
    """``make_executor("ray", workers, ray_address=...)``: ``workers`` (``--jobs``) sizes a local instance."""
    try:
        import ray  # noqa: F401  (optional dependency: fail at the command line, not at the first task)
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    if ray_address:
        _check_reachable(ray_address)
    return RayExecutor(address=ray_address, num_cpus=None if ray_address else workers)

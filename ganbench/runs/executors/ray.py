"""Run a suite's tasks as Ray tasks: on this machine, or on a Ray cluster (``--executor ray``).

Each task (a job, or a dataset's real-data row) is one Ray task calling ``ganbench.runs.suite.run_task``
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
import time
from pathlib import Path
from typing import Callable, Sequence

from ganbench.errors import UserError
from ganbench.runs.layout import RunDir

INSTALL_HINT = "--executor ray needs Ray: pip install 'ganbench[ray]'"


def task_recipe(task: tuple):
    """``(name, recipe)`` of the model a job task trains, as registered in this process, else None.

    Workers import ganbench afresh: a recipe registered here at run time (``register_recipe``, a plugin
    loaded by name) would be unknown there, so it travels with the task."""
    if task[0] != "job":
        return None
    from ganbench.models import MODELS

    name = task[1].config.model
    return (name, MODELS.get(name)) if name in MODELS else None


def run_shipped_task(task: tuple, recipe=None) -> dict:
    """``run_task(task)`` in a worker, after registering the driver's recipe for the job's model."""
    owner = _task_owner()
    if owner:  # kept by retries: a retry on another host may take over the dead attempt's lock
        os.environ["GANBENCH_TASK_OWNER"] = owner
    if recipe is not None:
        from ganbench.models import MODELS

        name, obj = recipe
        if name not in MODELS or MODELS.get(name) != obj:
            MODELS.unregister(name)
            MODELS.register(name, obj)
    from ganbench.runs.suite import run_task

    return run_task(task)


def _task_owner() -> str | None:
    """A name for this logical task that its retries share: the Ray task id, or the Slurm array job."""
    if os.environ.get("SLURM_ARRAY_JOB_ID"):
        return f"slurm-{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    try:
        import ray

        if ray.is_initialized():
            return f"ray-{ray.get_runtime_context().get_task_id()}"
    except Exception:  # not in a Ray worker
        pass
    return None


def failed_record(task: tuple, error: str) -> dict:
    """The record of a job task that could not run to its end on the executor (not a model failure)."""
    job = task[1]
    return {"id": job.id, "dataset": job.config.dataset, "model": job.config.name, "seed": job.seed,
            "status": "failed", "error": error}  # fmt: skip


def _one_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return f"{type(e).__name__}: {lines[-1] if lines else ''}"[:500]


def missing_runs(tasks: Sequence[tuple], records: Sequence[dict]) -> list[Path]:
    """Run directories of jobs that a worker reported finished but that this machine cannot see."""
    from ganbench.runs.suite import job_done

    by_id = {t[1].id: t for t in tasks if t[0] == "job"}
    missing = []
    for rec in records:
        task = by_id.get(rec.get("id"))
        if task is None or rec.get("status") not in ("complete", "diverged"):  # these always write job.json
            continue
        job, out = task[1], Path(task[2])
        if not job_done(job, out):
            missing.append(RunDir.of(out, job.config.dataset, job.config.name, job.seed).path)
    return missing


def check_runs_visible(tasks, records, wait_s: float = 60.0) -> None:
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


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on a ``HOST:PORT`` nothing answers at (Ray itself would keep retrying for minutes)."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "auto" and other forms: left to Ray
    import socket

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

    def __call__(self, tasks: Sequence[tuple], on_result: Callable[[dict], None]) -> None:
        try:
            import ray
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

    def _run(self, ray, tasks: list[tuple], on_result: Callable[[dict], None]) -> None:
        remote = ray.remote(run_shipped_task)
        # "auto" trains on CUDA wherever there is a GPU, so on a cluster with GPUs each task takes one
        # (asking the cluster, not this machine: the driver may have none).
        cluster_gpus = ray.cluster_resources().get("GPU", 0) >= 1
        refs: dict = {}
        for t in tasks:
            gpus = 1 if t[3].startswith("cuda") or (t[3] == "auto" and cluster_gpus) else 0
            options = dict(num_cpus=1, num_gpus=gpus, max_retries=self.max_retries,
                           retry_exceptions=False, name=f"ganbench:{t[1].id if t[0] == 'job' else t[1]}")  # fmt: skip
            refs[remote.options(**options).remote(t, task_recipe(t))] = t
        records, reference_error = [], None
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    task = refs.pop(ref)
                    try:
                        rec = ray.get(ref)
                    except Exception as e:  # the worker died max_retries + 1 times, or could not run it
                        if task[0] != "job":
                            reference_error = reference_error or e
                            continue
                        rec = failed_record(task, f"Ray task failed: {_one_line(e)}")
                    records.append(rec)
                    on_result(rec)
        except BaseException:  # Ctrl-C or a failing on_result: stop what is still queued or running
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        if reference_error is not None:
            raise reference_error
        check_runs_visible(tasks, records, self.visibility_wait_s)


def make_ray_executor(workers: int | None = None, ray_address: str | None = None, **_options) -> RayExecutor:
    """``make_executor("ray", workers, ray_address=...)``: ``workers`` (``--jobs``) sizes a local instance."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    if ray_address:
        _check_reachable(ray_address)
    return RayExecutor(address=ray_address, num_cpus=None if ray_address else workers)

"""Distributed executors give the same results as a local run: Ray (a real local Ray instance) and
submitit (its LocalExecutor, the same code path as Slurm without a cluster).

A worker killed in the middle of a job is the interesting case: the kill happens inside the worker
process (a model that SIGKILLs its own process once, after its first checkpoint); Ray retries the task in
a new worker, which takes over the dead worker's job lock and resumes from the checkpoint.
"""

import dataclasses
import os
import signal

import pandas as pd
import pytest

from ganbench.runs import files
from ganbench.config import find_baseline
from ganbench.errors import UserError
from ganbench.results.leaderboard import leaderboard
from ganbench.models import MODELS, register_recipe
from ganbench.runs.executors import make_executor
from ganbench.runs.executors.local import LocalExecutor
from ganbench.runs.executors.shipping import check_runs_visible
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Job, Suite, load_suite, run_suite
from ganbench.runs.worker import Task
from tests.runs.executor_helpers import NAME, kill_once_recipe
from tests.runs.test_suite import tiny

STEPS = 60  # checkpoints at 20, 40, 60


def _suite() -> Suite:
    return tiny(load_suite("quick", models=["gan", "vae"], datasets=["ring8"], seeds=[0, 1]), steps=STEPS)


def _board(out):
    return leaderboard(out).drop(columns=["train_time_s_mean"])


def _metrics_steps(out):
    return {f.parent.relative_to(out): [(r["step"], "eval" in r) for r in files.read_jsonl(f)]
            for f in out.glob("ring8/*/seed-*/metrics.jsonl")}  # fmt: skip


def _no_leftovers(out):
    assert not list(out.rglob("job.lock*")) and not list(out.rglob("*.tmp"))


@pytest.fixture(scope="module")
def local_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    recs = run_suite(_suite(), RunOptions(out), jobs=1, log=lambda m: None)
    assert [r["status"] for r in recs] == ["complete"] * 4
    return out


# -- Ray ---------------------------------------------------------------------------------------------


def test_ray_gives_the_same_leaderboard_as_local(local_out, tmp_path):
    ray = pytest.importorskip("ray")
    from ganbench.runs.executors.ray import RayExecutor

    already = ray.is_initialized()  # normally not: this test runs before the shared instance starts
    logs = []
    out = tmp_path / "ray"
    recs = run_suite(_suite(), RunOptions(out), executor=RayExecutor(num_cpus=2), log=logs.append)
    assert ray.is_initialized() == already  # an instance it started itself is shut down
    assert sorted(r["status"] for r in recs) == ["complete"] * 4
    assert "RayExecutor" in logs[0] and sum(line.startswith("[") for line in logs) == 4  # live progress
    pd.testing.assert_frame_equal(_board(out), _board(local_out))
    assert _metrics_steps(out) == _metrics_steps(local_out)
    _no_leftovers(out)


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _kill_suite() -> Suite:
    """One job whose worker dies once (the kill-once GAN, seed 0) beside an ordinary one (VAE)."""
    base = find_baseline("gan", "ring8")
    cfg = dataclasses.replace(base, model=NAME, name=NAME, source=None,
                              train=dataclasses.replace(base.train, steps=STEPS))  # fmt: skip
    vae = [j for j in _suite().jobs if j.config.name == "vae" and j.seed == 0]
    return tiny(Suite("kill", "", (Job(cfg, 0), *vae)), steps=STEPS)


@pytest.fixture
def kill_once(tmp_path):
    """Register the kill-once GAN (here, in the test process) with a marker; unregister afterwards."""

    def register(marker, kill_at_step=30, kill_signal=signal.SIGKILL):
        MODELS.unregister(NAME)
        register_recipe(kill_once_recipe(marker, kill_at_step, kill_signal))

    yield register
    MODELS.unregister(NAME)


def test_ray_worker_killed_mid_job_is_retried_and_resumes_from_its_checkpoint(ray_instance, kill_once, tmp_path):
    from ganbench.runs.executors.ray import RayExecutor

    # Uninterrupted reference, serial in this process: its marker exists, so nothing dies.
    calm = tmp_path / "calm.marker"
    calm.write_text("")
    kill_once(calm)
    clean = tmp_path / "clean"
    recs = run_suite(_kill_suite(), RunOptions(clean), jobs=1, log=lambda m: None)
    assert [r["status"] for r in recs] == ["complete"] * 2

    marker = tmp_path / "kill.marker"
    kill_once(marker, kill_at_step=30)  # after the checkpoint at step 20
    out = tmp_path / "ray"
    recs = run_suite(_kill_suite(), RunOptions(out), executor=RayExecutor(max_retries=2), log=lambda m: None)
    assert ray_instance.is_initialized()  # an instance it did not start is left running
    assert sorted(r["status"] for r in recs) == ["complete"] * 2
    # the kill happened, in a Ray worker process, not here
    assert marker.exists() and int(marker.read_text()) != os.getpid()
    result = files.read_json(out / "ring8" / NAME / "seed-0" / "result.json")
    assert result["resumed_from"] == 20
    assert files.read_json(out / "ring8" / "vae" / "seed-0" / "result.json")["resumed_from"] is None
    pd.testing.assert_frame_equal(_board(out), _board(clean))
    assert _metrics_steps(out) == _metrics_steps(clean)  # no step logged twice or lost
    _no_leftovers(out)  # the dead worker's lock was taken over, then released


def test_ray_task_that_keeps_dying_is_a_failed_record_and_a_rerun_resumes_it(ray_instance, kill_once, tmp_path):
    from ganbench.runs.executors.ray import RayExecutor

    marker = tmp_path / "kill.marker"
    kill_once(marker, kill_at_step=30)
    suite = Suite("kill", "", _kill_suite().jobs[:1])
    out = tmp_path / "ray"
    logs = []
    recs = run_suite(suite, RunOptions(out), executor=RayExecutor(max_retries=0), log=logs.append)
    assert [r["status"] for r in recs] == ["failed"]
    assert "Ray task failed" in recs[0]["error"] and recs[0]["model"] == NAME
    assert any("a rerun (ganbench run --suite" in line for line in logs)
    # the run is left resumable (not marked failed): the rerun resumes it
    recs = run_suite(suite, RunOptions(out), executor=RayExecutor(), log=lambda m: None)
    assert [r["status"] for r in recs] == ["complete"]
    assert files.read_json(out / "ring8" / NAME / "seed-0" / "result.json")["resumed_from"] == 20


def test_runs_the_driver_cannot_see_are_an_error(tmp_path):
    job = _suite().jobs[0]
    tasks = [Task("job", job, RunOptions(tmp_path / "elsewhere", device="cpu"))]
    records = [{"id": job.id, "status": "complete"}]
    with pytest.raises(UserError, match="shared by this machine and every worker"):
        check_runs_visible(tasks, records, wait_s=0)
    check_runs_visible(tasks, [{"id": job.id, "status": "locked"}], wait_s=0)


def test_factories():
    pytest.importorskip("ray")
    from ganbench.runs.executors.ray import RayExecutor, make_ray_executor

    ex = make_ray_executor(3)
    assert isinstance(ex, RayExecutor) and ex.num_cpus == 3 and ex.address is None
    ex = make_ray_executor(3, ray_address="auto")
    assert ex.address == "auto" and ex.num_cpus is None
    with pytest.raises(UserError, match="--ray-address 127.0.0.1:1: nothing answers there"):
        make_ray_executor(3, ray_address="127.0.0.1:1")  # at once, not after Ray's minutes of retries


# -- submitit (Slurm) --------------------------------------------------------------------------------


def test_submitit_local_gives_the_same_leaderboard_as_local(local_out, tmp_path):
    pytest.importorskip("submitit")
    from ganbench.runs.executors.slurm import SlurmExecutor

    out = tmp_path / "slurm"
    logs = []
    recs = run_suite(_suite(), RunOptions(out), executor=SlurmExecutor(local=True, time_min=10), log=logs.append)
    assert sorted(r["status"] for r in recs) == ["complete"] * 4
    assert sum(line.startswith("[") for line in logs) == 4
    pd.testing.assert_frame_equal(_board(out), _board(local_out))
    assert _metrics_steps(out) == _metrics_steps(local_out)
    # 2 Slurm jobs for the 4 runs (each baseline's 2 seeds are one vectorised batch) + ring8's real-data row
    assert len(list((out / "_slurm").glob("*/*_log.err"))) == 3
    _no_leftovers(out)


def test_submitit_job_that_dies_is_a_failed_record_and_a_rerun_resumes_it(kill_once, tmp_path):
    pytest.importorskip("submitit")
    from ganbench.runs.executors.slurm import SlurmExecutor

    marker = tmp_path / "kill.marker"
    kill_once(marker, kill_at_step=30)
    suite = Suite("kill", "", _kill_suite().jobs[:1])
    out = tmp_path / "slurm"
    recs = run_suite(suite, RunOptions(out), executor=SlurmExecutor(local=True), log=lambda m: None)
    assert [r["status"] for r in recs] == ["failed"]
    assert recs[0]["error"].startswith("Slurm job ") and "log: " in recs[0]["error"]
    recs = run_suite(suite, RunOptions(out), executor=SlurmExecutor(local=True), log=lambda m: None)
    assert [r["status"] for r in recs] == ["complete"]
    assert files.read_json(out / "ring8" / NAME / "seed-0" / "result.json")["resumed_from"] == 20


def test_submitit_preempted_job_is_requeued_and_resumes_from_its_checkpoint(kill_once, tmp_path):
    """Slurm signals a job (SIGUSR2) before its time limit or when preempting it; submitit then requeues
    the same task, which resumes from the job's checkpoint. Here the job signals itself, once."""
    pytest.importorskip("submitit")
    from ganbench.runs.executors.slurm import SlurmExecutor

    marker = tmp_path / "usr2.marker"
    kill_once(marker, kill_at_step=30, kill_signal=signal.SIGUSR2)
    suite = Suite("kill", "", _kill_suite().jobs[:1])
    out = tmp_path / "slurm"
    recs = run_suite(suite, RunOptions(out), executor=SlurmExecutor(local=True), log=lambda m: None)
    assert marker.exists() and [r["status"] for r in recs] == ["complete"]
    assert files.read_json(out / "ring8" / NAME / "seed-0" / "result.json")["resumed_from"] == 20
    log = "".join(p.read_text() for p in (out / "_slurm").glob("*/*_log.*"))
    assert "Requeued job" in log
    _no_leftovers(out)  # the interrupted attempt released its lock on the way out


def test_slurm_factory_needs_sbatch(monkeypatch):
    pytest.importorskip("submitit")
    import shutil

    from ganbench.runs.executors.slurm import SlurmExecutor, make_slurm_executor

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="sbatch not found"):
        make_slurm_executor(2)
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/sbatch")
    ex = make_slurm_executor(2, slurm_partition="gpu", slurm_time=30, slurm_gpus=1, slurm_cpus=4)
    assert isinstance(ex, SlurmExecutor)
    assert (ex.partition, ex.time_min, ex.gpus_per_job, ex.cpus_per_job, ex.array_parallelism) == ("gpu", 30, 1, 4, 2)


# -- choosing an executor ----------------------------------------------------------------------------


def test_make_executor_local_and_unknown_name():
    ex = make_executor("local", 3)
    assert isinstance(ex, LocalExecutor) and ex.workers == 3
    assert make_executor("local", None).workers == 1
    with pytest.raises(UserError, match=r"^--executor must be local, ray or slurm; got 'dask'$"):
        make_executor("dask", 2)


def test_make_executor_slurm_without_sbatch_says_so(monkeypatch):
    pytest.importorskip("submitit")
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="^--executor slurm: sbatch not found; run ganbench on a Slurm login node$"):
        make_executor("slurm", 2)


@pytest.mark.parametrize("numbers, message", [
    (dict(slurm_gpus=-1), "--slurm-gpus must be an integer >= 0; got -1"),
    (dict(slurm_cpus=0), "--slurm-cpus must be an integer >= 1; got 0"),
    (dict(slurm_time=0), "--slurm-time must be an integer >= 1; got 0"),
    (dict(slurm_time=1.5), "--slurm-time must be an integer >= 1; got 1.5"),
])  # fmt: skip
def test_make_executor_bad_slurm_numbers(monkeypatch, numbers, message):
    pytest.importorskip("submitit")
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/sbatch")  # so that only the numbers are wrong
    with pytest.raises(UserError, match=f"^{message}$"):
        make_executor("slurm", 2, **numbers)

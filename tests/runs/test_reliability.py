"""Crash safety and concurrency of `ganbench run`, with real processes: SIGKILL at random moments, then
a rerun, must give the same leaderboard as an uninterrupted run; two runners on one folder must not
run a job twice or corrupt a file."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
import pytest

from ganbench.runs import files
from ganbench.results.leaderboard import leaderboard

SUITE = """
name = "crash"
seeds = [0, 1]
models = ["gan", "vae"]
datasets = ["ring8"]
[train.points2d]
steps = 240
log_every = 20
checkpoint_every = 40
eval_every = 80
"""


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("suite") / "crash.toml"
    p.write_text(SUITE)
    return p


def _cmd(suite_file, out):
    return [sys.executable, "-m", "ganbench.cli", "run", "--suite", str(suite_file), "--out", str(out), "--jobs", "1",
            "--format", "csv"]  # fmt: skip


def _board(out):
    return leaderboard(out).drop(columns=["train_time_s_mean"])


@pytest.fixture(scope="module")
def uninterrupted(suite_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    subprocess.run(_cmd(suite_file, out), check=True, capture_output=True)
    return out


def _metrics_steps(out):
    steps = {}
    for f in out.glob("ring8/*/seed-*/metrics.jsonl"):
        recs = files.read_jsonl(f)
        steps[f.parent] = [(r["step"], "eval" in r) for r in recs]
    return steps


def test_sigkill_at_random_moments_then_rerun_matches_uninterrupted(suite_file, uninterrupted, tmp_path):
    rng = random.Random(1234)
    out = tmp_path / "runs"
    records_at_kill = []  # how many jobs had their record when each kill landed
    for _ in range(3):
        p = subprocess.Popen(_cmd(suite_file, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The kill lands while the runner works on jobs (training, checkpointing, scoring, writing records),
        # not while Python imports torch: wait for its first lock, then a random moment.
        deadline = time.monotonic() + 120
        while p.poll() is None and not list(out.rglob("job.lock")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.2, 2.0))
        if p.poll() is None:
            records_at_kill.append(len(list(out.rglob("result.json"))))
            p.send_signal(signal.SIGKILL)
        p.wait()
    # a kill interrupted the suite while a job was unfinished (not, say, while it printed the leaderboard)
    assert any(n < 4 for n in records_at_kill), records_at_kill
    done = subprocess.run(_cmd(suite_file, out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(_board(out), _board(uninterrupted))
    # no job was trained twice: every step is logged once, exactly as in the uninterrupted run
    clean = {k.relative_to(uninterrupted): v for k, v in _metrics_steps(uninterrupted).items()}
    mine = {k.relative_to(out): v for k, v in _metrics_steps(out).items()}
    assert mine == clean
    assert not list(out.rglob("*.tmp")) and not list(out.rglob("job.lock"))


def test_two_runners_on_one_folder(suite_file, uninterrupted, tmp_path):
    out = tmp_path / "runs"
    procs = [subprocess.Popen(_cmd(suite_file, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    logs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    # each job ran in exactly one of the runners; the other found it locked or done
    ran = Counter()
    for _, err in logs:
        for line in err.splitlines():
            if " complete ring8/" in line:
                ran[line.split()[-1]] += 1
    assert len(ran) == 4 and set(ran.values()) == {1}, ran
    pd.testing.assert_frame_equal(_board(out), _board(uninterrupted))
    assert _metrics_steps(out).keys() and all(
        len(v) == len(set(v)) for v in _metrics_steps(out).values())  # fmt: skip


def test_stale_lock_of_a_dead_runner_is_taken_over(tmp_path):
    from ganbench.runs.locks import JobLock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "job.lock").write_text('{"host": "%s", "pid": %d}' % (os.uname().nodename, dead.pid))
    with JobLock(tmp_path) as held:
        assert held
    (tmp_path / "job.lock").write_text('{"host": "%s", "pid": %d}' % (os.uname().nodename, os.getpid()))
    assert not JobLock(tmp_path).acquire()  # a live owner keeps it


def test_lock_of_the_same_logical_task_from_another_host_is_taken_over(tmp_path, monkeypatch):
    """A retried Ray task / requeued Slurm job keeps its owner name; its earlier attempt's lock from a
    host that died must not block it for 24 hours."""
    import json

    from ganbench.runs.locks import JobLock

    (tmp_path / "job.lock").write_text(json.dumps({"host": "node-that-died", "pid": 1, "task": "ray-abc"}))
    monkeypatch.setenv("GANBENCH_TASK_OWNER", "ray-other")
    assert not JobLock(tmp_path).acquire()  # another task's lock from another host is trusted
    monkeypatch.setenv("GANBENCH_TASK_OWNER", "ray-abc")
    lock = JobLock(tmp_path)
    assert lock.acquire()
    assert json.loads((tmp_path / "job.lock").read_text())["task"] == "ray-abc"
    lock.release()


def test_live_lock_of_the_same_task_on_this_host_is_kept_and_release_spares_a_new_owner(tmp_path, monkeypatch):
    """Ray inside a Slurm allocation gives every task one owner name: a live holder here must win."""
    import json

    from ganbench.runs.locks import JobLock

    monkeypatch.setenv("GANBENCH_TASK_OWNER", "slurm-42")
    first = JobLock(tmp_path)
    assert first.acquire()
    assert not JobLock(tmp_path).acquire()  # same task name, same host, owner alive
    # A lock that another runner put in place (e.g. after a takeover) is not removed by our release.
    other = json.dumps({"host": "elsewhere", "pid": 1, "task": "ray-x"})
    (tmp_path / "job.lock").unlink()
    (tmp_path / "job.lock").write_text(other)
    first.release()
    assert (tmp_path / "job.lock").read_text() == other


def test_rerun_removes_the_lock_a_killed_runner_left_on_a_finished_job(suite_file, uninterrupted, tmp_path):
    """A runner killed after a job's record was written, before it let go of the lock (in a batch the
    locks are held until every seed is scored), leaves a finished job with a dead owner's lock; the next
    run skips that job, and must still remove the lock. A live owner's lock stays."""
    import json
    import shutil

    out = tmp_path / "runs"
    shutil.copytree(uninterrupted, out)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_lock = out / "ring8" / "gan" / "seed-0" / "job.lock"
    dead_lock.write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid}))
    live_lock = out / "ring8" / "vae" / "seed-1" / "job.lock"
    live_lock.write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid()}))
    done = subprocess.run(_cmd(suite_file, out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "4 already done" in done.stderr + done.stdout
    assert not dead_lock.exists()
    assert json.loads(live_lock.read_text())["pid"] == os.getpid()

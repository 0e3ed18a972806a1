import dataclasses

import pytest

from ganbench.runs import files
from ganbench.config import find_baseline
from ganbench.errors import UserError
from ganbench.results.leaderboard import leaderboard
from ganbench.models import MODELS, ModelRecipe, register_recipe
from ganbench.models.base import GenerativeModel
from ganbench.runs.layout import RunDir
from ganbench.runs.locks import JobLock
from ganbench.runs.options import RunOptions
from ganbench.runs.suite import Job, Suite, load_suite, run_suite
from ganbench.runs.worker import Task, run_batch


def tiny(suite: Suite, steps=40) -> Suite:
    jobs = []
    for j in suite.jobs:
        train = dataclasses.replace(j.config.train, steps=steps, eval_every=20, checkpoint_every=20, log_every=10)
        jobs.append(Job(dataclasses.replace(j.config, train=train), j.seed))
    return Suite(suite.name, suite.description, tuple(jobs))


EMBEDDED = ["digits", "grid25", "ring8", "stacked-digits"]


def test_quick_suite_runs_three_embedded_sets_with_2_seeds_and_deterministic_ids():
    s = load_suite("quick")
    assert s.datasets() == ["digits", "grid25", "ring8"]
    assert {j.seed for j in s.jobs} == {0, 1}
    assert sorted({j.config.model for j in s.jobs}) == ["ae", "gan", "pacgan", "vae"]
    ids = [j.id for j in s.jobs]
    assert len(set(ids)) == len(ids) and ids == [j.id for j in load_suite("quick").jobs]  # deterministic


def test_quick_suite_runs_baselines_at_their_own_budgets():
    # No budget override: a quick-suite row is the baseline as reports/budgets.md justifies it.
    for job in load_suite("quick").jobs:
        assert job.config == find_baseline(job.config.model, job.config.dataset)


@pytest.mark.parametrize("model", MODELS.names())
def test_standard_suite_has_every_reference_model_on_every_embedded_set_and_seed(model):
    s = load_suite("standard")
    have = sorted((j.config.dataset, j.seed) for j in s.jobs if j.config.model == model)
    assert have == [(d, seed) for d in EMBEDDED for seed in (0, 1, 2)]


def test_narrowing_and_errors():
    s = load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[5])
    assert [(j.config.name, j.config.dataset, j.seed) for j in s.jobs] == [("gan", "ring8", 5)]
    with pytest.raises(UserError, match="unknown suite 'quik'. Did you mean: quick"):
        load_suite("quik")
    with pytest.raises(UserError, match="no job left"):
        load_suite("quick", models=["nope"])


def test_suite_file_with_a_misspelt_train_section_or_key_is_an_error(tmp_path):
    head = 'name = "t"\nseeds = [0]\nmodels = ["gan"]\ndatasets = ["ring8"]\n'
    (tmp_path / "kind.toml").write_text(head + "[train.point2d]\nsteps = 3\n")
    with pytest.raises(UserError, match=r"unknown section \[train.point2d\]"):
        load_suite(str(tmp_path / "kind.toml"))
    (tmp_path / "key.toml").write_text(head + "[train.points2d]\nstep = 3\n")
    with pytest.raises(UserError, match="unknown key train.points2d.'step'"):
        load_suite(str(tmp_path / "key.toml"))
    (tmp_path / "typo.toml").write_text(head.replace('["gan"]', '["gan", "vae"]') + 'exclude = ["ring8/gna"]\n')
    with pytest.raises(UserError, match="exclude 'ring8/gna' is not a dataset/model pair of the suite. Did you mean: ring8/gan"):
        load_suite(str(tmp_path / "typo.toml"))
    (tmp_path / "ex.toml").write_text(head.replace('["gan"]', '["gan", "vae"]') + 'exclude = ["ring8/gan"]\n')
    assert [j.config.name for j in load_suite(str(tmp_path / "ex.toml")).jobs] == ["vae"]
    (tmp_path / "ok.toml").write_text(head + "[train.points2d]\nsteps = 3\n")
    assert load_suite(str(tmp_path / "ok.toml")).jobs[0].config.train.steps == 3


def test_rerun_skips_finished_jobs_and_leaderboard_has_seed_stats(tmp_path):
    suite = tiny(load_suite("quick", models=["gan", "vae"], datasets=["ring8"], seeds=[0, 1]))
    logs = []
    recs = run_suite(suite, RunOptions(tmp_path), jobs=1, log=logs.append)
    assert [r["status"] for r in recs] == ["complete"] * 4
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("checkpoint.pt")}
    logs2 = []
    assert run_suite(suite, RunOptions(tmp_path), jobs=1, log=logs2.append) == []
    assert "4 already done" in logs2[0]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("checkpoint.pt")} == mtimes
    board = leaderboard(tmp_path)
    assert set(board.model) == {"gan", "vae", "real-data"}
    assert (board[board.model != "real-data"].n_seeds == 2).all()


class _Broken(GenerativeModel):
    def __init__(self, info):
        super().__init__()
        self.w = __import__("torch").nn.Parameter(__import__("torch").zeros(1))

    def train_step(self, batch):
        raise RuntimeError("user model exploded")


def test_failed_job_is_recorded_and_the_suite_goes_on(tmp_path):
    from ganbench.config import BaselineConfig, TrainConfig

    register_recipe(ModelRecipe("test-broken", "gan", _Broken))
    try:
        good = tiny(load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0]))
        bad = Job(BaselineConfig("test-broken", "ring8", train=TrainConfig(steps=5)), 0)
        recs = run_suite(Suite("t", "", (bad, *good.jobs)), RunOptions(tmp_path), jobs=1, log=lambda m: None)
    finally:
        MODELS.unregister("test-broken")
    assert [r["status"] for r in recs] == ["failed", "complete"]
    assert "user model exploded" in recs[0]["error"]
    res = files.read_json(tmp_path / "ring8" / "test-broken" / "seed-0" / "result.json")
    assert res["status"] == "failed" and "user model exploded" in res["error"]
    board = leaderboard(tmp_path)
    assert board[board.model == "test-broken"].iloc[0].n_failed == 1


def test_parallel_jobs_give_the_same_leaderboard_as_serial(tmp_path):
    suite = tiny(load_suite("standard", models=["gan", "lsgan"], datasets=["ring8"], seeds=[0]))
    run_suite(suite, RunOptions(tmp_path / "serial"), jobs=1, log=lambda m: None)
    run_suite(suite, RunOptions(tmp_path / "parallel"), jobs=2, log=lambda m: None)
    a = leaderboard(tmp_path / "serial").drop(columns=["train_time_s_mean"])
    b = leaderboard(tmp_path / "parallel").drop(columns=["train_time_s_mean"])
    import pandas as pd

    pd.testing.assert_frame_equal(a, b)


def test_run_options_and_tasks_are_checked_where_they_are_built(tmp_path):
    assert RunOptions(str(tmp_path)).out == tmp_path  # a folder given as text becomes a Path
    with pytest.raises(UserError, match="^--device must be auto, cpu or cuda; got 'gpu'$"):
        RunOptions(tmp_path, device="gpu")
    with pytest.raises(UserError, match="^--eval-seed must be an integer; got '3'$"):
        RunOptions(tmp_path, eval_seed="3")
    job = load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0]).jobs[0]
    assert Task("job", job, RunOptions(tmp_path)).label == job.id
    with pytest.raises(TypeError, match="a reference task holds a str; got Job"):
        Task("reference", job, RunOptions(tmp_path))
    with pytest.raises(ValueError, match="Task.kind must be job, batch or reference; got 'train'"):
        Task("train", job, RunOptions(tmp_path))


def test_a_rerun_removes_what_a_writer_killed_mid_write_left_but_not_lock_attempts(tmp_path):
    """A SIGKILL between atomic_write's temporary file and its rename leaves ``.job.json.XXXX.tmp``; the next
    runner of that job (holding its lock) deletes it. Another runner's lock attempt is not touched."""
    job = tiny(load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0]), steps=5).jobs[0]
    run = job.run_dir(tmp_path)
    run.path.mkdir(parents=True)
    killed = run.path / ".job.json.k1ll3d.tmp"
    killed.write_text('{"id": "half')
    scores = run.path / ".scores.json.x.tmp"
    scores.write_text("")
    attempt = run.path / ".job.lock.otherhost.123.tmp"  # what runs/locks.py writes before linking the lock
    attempt.write_text("otherhost 123")
    assert files.temp_files(run.job) == [killed]
    run_suite(Suite("t", "", (job,)), RunOptions(tmp_path), jobs=1, log=lambda m: None)
    assert run.read_job()["status"] == "complete"
    assert not killed.exists() and not scores.exists() and attempt.exists()


def test_a_reference_baselines_seeds_train_as_one_batch_unless_turned_off(tmp_path):
    suite = tiny(load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0, 1, 2]), steps=20)
    logs = []
    recs = run_suite(suite, RunOptions(tmp_path / "b"), jobs=1, log=logs.append)
    assert [(r["seed"], r["status"]) for r in recs] == [(0, "complete"), (1, "complete"), (2, "complete")]
    assert len([m for m in logs if "complete" in m]) == 3  # one progress line per job, as serial jobs
    for seed in (0, 1, 2):
        run = RunDir.of(tmp_path / "b", "ring8", "gan", seed)
        assert files.read_json(run.config)["vectorised"] == 3 and files.read_json(run.config)["stack"] == [0, 1, 2]
        assert files.read_json(run.job)["status"] == "complete"
        assert run.read_scores()
    assert run_suite(suite, RunOptions(tmp_path / "b"), jobs=1, log=lambda m: None) == []  # finished: skipped
    run_suite(suite, RunOptions(tmp_path / "s", vectorise=False), jobs=1, log=lambda m: None)
    assert "vectorised" not in files.read_json(RunDir.of(tmp_path / "s", "ring8", "gan", 1).config)
    a, b = leaderboard(tmp_path / "b"), leaderboard(tmp_path / "s")
    assert list(a.columns) == list(b.columns) and list(a.model) == list(b.model)


def test_a_runner_that_finds_part_of_a_batch_held_leaves_the_whole_batch(tmp_path):
    """A seed's numbers depend on its stack, so two runners must not split a batch between them (each would
    train its part as another stack): one that finds a job held leaves all of the batch's jobs."""
    suite = tiny(load_suite("quick", models=["gan"], datasets=["ring8"], seeds=[0, 1]), steps=20)
    opts = RunOptions(tmp_path)
    for held in suite.jobs:
        with JobLock(held.run_dir(tmp_path).path) as ok:  # this process stands in for a live runner on it
            assert ok
            recs = run_suite(suite, opts, jobs=1, log=lambda m: None)
        assert [r["status"] for r in recs] == ["locked", "locked"]
        assert not list(tmp_path.rglob("job.json")) and not list(tmp_path.rglob("job.lock"))
    recs = run_suite(suite, opts, jobs=1, log=lambda m: None)
    assert [r["status"] for r in recs] == ["complete", "complete"]
    assert all(files.read_json(j.run_dir(tmp_path).config)["stack"] == [0, 1] for j in suite.jobs)
    # A batch listed while unfinished whose holder has finished a job of it by the time this runner comes to it
    # (the holder writes each job's record while it still holds the batch): that job is reported finished.
    second = suite.jobs[1]
    files.atomic_write_json(second.run_dir(tmp_path).job, {"id": second.id, "status": "running"})
    with JobLock(second.run_dir(tmp_path).path) as ok:
        assert ok
        recs = run_batch(tuple(suite.jobs), opts)
    assert [(r["status"], r.get("skipped")) for r in recs] == [("complete", True), ("locked", None)]


def test_batch_tasks_hold_jobs_of_one_baseline(tmp_path):
    jobs = load_suite("quick", models=["gan", "vae"], datasets=["ring8"], seeds=[0, 1]).jobs
    opts = RunOptions(tmp_path)
    assert Task("batch", jobs[:2], opts).label == f"{jobs[0].id} + {jobs[1].id}"
    with pytest.raises(TypeError, match="one baseline"):
        Task("batch", (jobs[0], jobs[2]), opts)


def test_command_line_training_settings_apply_over_the_suite_channels_last_to_image_jobs(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "t"\nseeds = [0]\nmodels = ["gan"]\ndatasets = ["ring8", "digits"]\n'
                    "[train.image]\nsteps = 3\n")  # fmt: skip
    plain = load_suite(str(path))
    s = load_suite(str(path), train={"precision": "bf16", "channels_last": True})
    got = {j.config.dataset: (j.config.train.precision, j.config.train.channels_last, j.config.train.steps)
           for j in s.jobs}  # fmt: skip
    assert got == {"ring8": ("bf16", False, find_baseline("gan", "ring8").train.steps), "digits": ("bf16", True, 3)}
    assert not {j.id for j in s.jobs} & {j.id for j in plain.jobs}  # other settings, other jobs
    unset = load_suite(str(path), train={"precision": None, "channels_last": None})
    assert [j.id for j in unset.jobs] == [j.id for j in plain.jobs]

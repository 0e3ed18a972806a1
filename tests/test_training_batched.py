"""train_seeds: per-seed run folders as serial runs write them, divergence of one seed, resume."""

import dataclasses
import math

import pytest
import torch

from ganbench.config import BaselineConfig, TrainConfig, find_baseline
from ganbench.evaluation.tracking import training_tracker
from ganbench.models import MODELS, ModelRecipe, register_recipe
from ganbench.models.base import GenerativeModel
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.training import load_checkpoint, train
from ganbench.training_batched import train_seeds

# No bias before batch norm: such a bias has a zero gradient in exact arithmetic, so in float32 Adam turns its
# gradient's rounding noise into full steps, different for any other summation order (see
# tests/models/test_vectorised.py, which compares every model in float64).
NO_ZERO_GRADIENT = {"g_hidden_bias": False}
SMALL = TrainConfig(steps=60, batch_size=32, log_every=10, checkpoint_every=20, eval_every=30, eval_samples=500)


def _cfg(model, dataset="ring8", params=None, **train_):
    base = find_baseline(model, dataset)
    return dataclasses.replace(base, model_params={**base.model_params, **(params or {})},
                               train=dataclasses.replace(SMALL, **train_))  # fmt: skip


def _run(out, cfg, seed):
    return RunDir.of(out, cfg.dataset, cfg.name, seed)


@pytest.fixture(autouse=True)
def one_thread():
    """Jobs train with one thread (runs/worker.py); so do these comparisons. With two, the serial and the
    batched products sum in other orders, and a rounding difference can flip a ReLU or maxout choice."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_each_seed_writes_the_serial_run_folder(tmp_path, schedule):
    cfg = _cfg("gan", params=NO_ZERO_GRADIENT, steps=20 if schedule == "constant" else 16, eval_every=0,
               lr_schedule=schedule)  # fmt: skip
    results = train_seeds(cfg, [3, 4], tmp_path / "batched", progress=False)
    assert [r.status for r in results.values()] == ["complete", "complete"]
    for seed in (3, 4):
        train(cfg, seed, tmp_path / "serial", progress=False)
        a, b = _run(tmp_path / "batched", cfg, seed), _run(tmp_path / "serial", cfg, seed)
        assert sorted(p.name for p in a.path.iterdir()) == sorted(p.name for p in b.path.iterdir())
        ca, cb = files.read_json(a.config), files.read_json(b.config)
        assert ca.pop("vectorised") == 2 and ca.pop("stack") == [3, 4] and "vectorised" not in cb and "stack" not in cb
        assert ca.pop("stacks") == [{"from_step": 0, "stack": [3, 4]}] and "stacks" not in cb
        ca.pop("environment"), cb.pop("environment")
        assert ca == cb
        ra, rb = files.read_json(a.result), files.read_json(b.result)
        for r in (ra, rb):
            r.pop("wall_time_s"), r.pop("final_losses")
        assert ra == rb
        ma, mb = files.read_jsonl(a.metrics), files.read_jsonl(b.metrics)
        assert [sorted(r) for r in ma] == [sorted(r) for r in mb] and [r["step"] for r in ma] == [10, cfg.train.steps]
        for x, y in zip(ma, mb):
            assert x["loss_d"] == pytest.approx(y["loss_d"], rel=1e-4)
            assert x["loss_g"] == pytest.approx(y["loss_g"], rel=1e-4)
        ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
        assert ka["step"] == kb["step"] == cfg.train.steps
        # the seed's generator drew exactly what the serial run drew from torch's global one
        assert torch.equal(ka["rng"]["torch"], kb["rng"]["torch"])
        assert ka["model"]["modules"].keys() == kb["model"]["modules"].keys()
        for k, v in kb["model"]["modules"].items():
            assert torch.allclose(ka["model"]["modules"][k], v, rtol=1e-4, atol=1e-4 * v.abs().max().item()), k
        for name in ("g", "d"):
            assert ka["model"]["optimizers"][name]["state"].keys() == kb["model"]["optimizers"][name]["state"].keys()
            # the same learning rate at the end (1/steps of the configured one under the linear schedule)
            ga, gb = ka["model"]["optimizers"][name]["param_groups"], kb["model"]["optimizers"][name]["param_groups"]
            assert ga == gb
            if schedule == "linear":
                assert ga[0]["lr"] == pytest.approx(ga[0]["initial_lr"] / cfg.train.steps)


def _crash_at(step):
    def tracker(model, dataset, at):
        if at == step:
            raise RuntimeError("interrupted")
        return training_tracker(model, dataset, at)

    return tracker


@pytest.mark.parametrize("schedule", ["constant", "linear"])
def test_resume_is_bit_identical_to_uninterrupted(tmp_path, schedule):
    cfg = _cfg("pacgan", lr_schedule=schedule)
    train_seeds(cfg, [0, 1], tmp_path / "full", progress=False, tracker=training_tracker)
    with pytest.raises(RuntimeError, match="interrupted"):
        train_seeds(cfg, [0, 1], tmp_path / "cut", progress=False, tracker=_crash_at(60))
    results = train_seeds(cfg, [0, 1], tmp_path / "cut", resume=True, progress=False, tracker=training_tracker)
    assert all(r.status == "complete" for r in results.values())
    for seed in (0, 1):
        a, b = _run(tmp_path / "full", cfg, seed), _run(tmp_path / "cut", cfg, seed)
        assert files.read_json(b.result)["resumed_from"] == 40
        assert files.read_json(b.config)["stacks"] == [{"from_step": 0, "stack": [0, 1]}]  # one stack throughout
        assert a.metrics.read_bytes() == b.metrics.read_bytes()
        ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
        assert torch.equal(ka["rng"]["torch"], kb["rng"]["torch"])
        for k, v in ka["model"]["modules"].items():
            assert torch.equal(v, kb["model"]["modules"][k]), k


@pytest.mark.parametrize("schedule", [{"lr_schedule": "constant"},
                                      {"lr_schedule": "linear", "lr_decay_steps": 30, "lr_floor": 0.1}])
def test_a_finished_run_continued_to_a_longer_budget_is_the_longer_run(tmp_path, schedule):
    """The budget study extends finished runs when a baseline's budget grows (grid25 hinge-SN: 108,000-step runs
    continued to 126,000). Where the rate does not depend on the budget (constant, or a decay of fixed length)
    the steps do not enter the training, so resuming the finished run's last checkpoint with the longer budget
    must give the longer run itself, metrics and weights. (The shorter budget must be a multiple of
    ``eval_every``, as the study's are: a run also evaluates at its last step, and that line would stay in the
    continued run's metrics.jsonl.)"""
    short, long_ = _cfg("hinge-sn", steps=60, **schedule), _cfg("hinge-sn", steps=90, **schedule)
    train_seeds(long_, [0, 1], tmp_path / "full", progress=False, tracker=training_tracker)
    train_seeds(short, [0, 1], tmp_path / "cut", progress=False, tracker=training_tracker)
    results = train_seeds(long_, [0, 1], tmp_path / "cut", resume=True, progress=False, tracker=training_tracker)
    for seed in (0, 1):
        a, b = _run(tmp_path / "full", long_, seed), _run(tmp_path / "cut", long_, seed)
        assert results[seed].status == "complete" and files.read_json(b.result)["resumed_from"] == 60
        assert a.metrics.read_bytes() == b.metrics.read_bytes()
        ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
        assert ka["step"] == kb["step"] == 90
        for k, v in ka["model"]["modules"].items():
            assert torch.equal(v, kb["model"]["modules"][k]), k


def test_a_kill_between_the_seeds_checkpoint_writes_resumes_the_stack_from_their_common_step(tmp_path, monkeypatch):
    """The seeds' checkpoints at one step are written one after another; a run killed between two of them
    leaves the seeds at two steps. A seed's numbers depend on the stack it trains in (float32 rounding), so
    resuming each from its own latest step in separate stacks would not give the uninterrupted run: the
    stack resumes from the step every seed has (seed 0's checkpoint before its last)."""
    import ganbench.training_batched as tb

    cfg = _cfg("gan")
    train_seeds(cfg, [0, 1], tmp_path / "full", progress=False, tracker=training_tracker)
    save = tb.save_checkpoint

    def killed_at_seed_1(path, model, step, *a, **k):
        if step == 2 * cfg.train.checkpoint_every and "seed-1" in str(path):
            raise KeyboardInterrupt("killed between the seeds' checkpoint writes")
        return save(path, model, step, *a, **k)

    monkeypatch.setattr(tb, "save_checkpoint", killed_at_seed_1)
    with pytest.raises(KeyboardInterrupt):
        train_seeds(cfg, [0, 1], tmp_path / "cut", progress=False, tracker=training_tracker)
    monkeypatch.setattr(tb, "save_checkpoint", save)
    cut0, cut1 = _run(tmp_path / "cut", cfg, 0), _run(tmp_path / "cut", cfg, 1)
    assert load_checkpoint(cut0.checkpoint)["step"] == 2 * cfg.train.checkpoint_every
    assert load_checkpoint(cut1.previous_checkpoint)["step"] == cfg.train.checkpoint_every
    results = train_seeds(cfg, [0, 1], tmp_path / "cut", resume=True, progress=False, tracker=training_tracker)
    for seed in (0, 1):
        a, b = _run(tmp_path / "full", cfg, seed), _run(tmp_path / "cut", cfg, seed)
        assert results[seed].status == "complete" and files.read_json(b.result)["resumed_from"] == cfg.train.checkpoint_every
        assert a.metrics.read_bytes() == b.metrics.read_bytes()
        ka, kb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
        for k, v in ka["model"]["modules"].items():
            assert torch.equal(v, kb["model"]["modules"][k]), k
        assert not b.previous_checkpoint.exists()  # removed once every seed has its last checkpoint


def test_seeds_with_no_common_step_train_as_separate_stacks_each_recorded(tmp_path):
    cfg = _cfg("gan")
    with pytest.raises(RuntimeError, match="interrupted"):  # seed 1 stops at its first evaluation, step 30
        train(cfg, 1, tmp_path, progress=False, tracker=_crash_at(30))
    assert load_checkpoint(_run(tmp_path, cfg, 1).checkpoint)["step"] == 20
    results = train_seeds(cfg, [0, 1, 2], tmp_path, resume=True, progress=False, tracker=training_tracker)
    assert [r.status for r in results.values()] == ["complete"] * 3
    stacks = {s: files.read_json(_run(tmp_path, cfg, s).config)["stack"] for s in (0, 1, 2)}
    assert stacks == {0: [0, 2], 1: [1], 2: [0, 2]}
    assert files.read_json(_run(tmp_path, cfg, 1).result)["resumed_from"] == 20
    # seed 1's history: 20 steps serially (trained alone, not vectorised), then a stack of its own
    assert files.read_json(_run(tmp_path, cfg, 1).config)["stacks"] == [{"from_step": 0, "stack": None},
                                                                         {"from_step": 20, "stack": [1]}]  # fmt: skip


def test_a_stacked_run_resumed_serially_keeps_its_stack_history(tmp_path):
    """A seed's numbers depend on the stacks it was trained in; a resume in another one (here serially) must
    not erase the record of the first, or the run could not be reproduced."""
    cfg = _cfg("gan")
    with pytest.raises(RuntimeError, match="interrupted"):
        train_seeds(cfg, [0, 1], tmp_path, progress=False, tracker=_crash_at(60))
    assert train(cfg, 0, tmp_path, resume=True, progress=False, tracker=training_tracker).status == "complete"
    config = files.read_json(_run(tmp_path, cfg, 0).config)
    assert config["stacks"] == [{"from_step": 0, "stack": [0, 1]}, {"from_step": 40, "stack": None}]
    assert "stack" not in config and "vectorised" not in config  # what it finished in: serially
    assert files.read_json(_run(tmp_path, cfg, 1).config)["stacks"] == [{"from_step": 0, "stack": [0, 1]}]
    # a serial run that never was in a stack records none
    train(cfg, 3, tmp_path, progress=False, tracker=training_tracker)
    assert "stacks" not in files.read_json(_run(tmp_path, cfg, 3).config)


def test_a_diverged_seed_stops_and_the_others_go_on(tmp_path):
    cfg = _cfg("gan", params=NO_ZERO_GRADIENT)
    calls = []

    def tracker(model, dataset, step):  # called for the active seeds in order: the second at step 30 is seed 1
        calls.append(step)
        if step == 30 and calls.count(30) == 2:
            return {"non_finite_samples": True}
        return training_tracker(model, dataset, step)

    results = train_seeds(cfg, [0, 1, 2], tmp_path / "b", progress=False, tracker=tracker)
    assert results[1].status == "diverged" and results[1].diverged_at == 30
    assert results[0].status == results[2].status == "complete"
    assert calls == [30, 30, 30, 60, 60]
    res = files.read_json(_run(tmp_path / "b", cfg, 1).result)
    assert res["status"] == "diverged" and res["diverged_at"] == 30 and "non-finite samples" in res["reason"]
    assert load_checkpoint(_run(tmp_path / "b", cfg, 1).checkpoint)["step"] == 20  # as a serial run: none at 30
    for seed in (0, 2):  # the others trained on from step 30 in a stack without seed 1
        config = files.read_json(_run(tmp_path / "b", cfg, seed).config)
        assert config["stacks"] == [{"from_step": 0, "stack": [0, 1, 2]}, {"from_step": 30, "stack": [0, 2]}]
        assert config["stack"] == [0, 2] and config["vectorised"] == 2
    assert files.read_json(_run(tmp_path / "b", cfg, 1).config)["stacks"] == [{"from_step": 0, "stack": [0, 1, 2]}]
    # the seeds that go on are as if seed 1 had never been in the stack
    train_seeds(cfg, [0, 2], tmp_path / "s", progress=False, tracker=training_tracker)
    for seed in (0, 2):
        ka = load_checkpoint(_run(tmp_path / "b", cfg, seed).checkpoint)
        kb = load_checkpoint(_run(tmp_path / "s", cfg, seed).checkpoint)
        assert ka["step"] == kb["step"] == 60 and torch.equal(ka["rng"]["torch"], kb["rng"]["torch"])
        for k, v in kb["model"]["modules"].items():
            assert torch.allclose(ka["model"]["modules"][k], v, rtol=1e-5, atol=1e-5 * v.abs().max().item()), k


class _Mine(GenerativeModel):
    """A user's model: no vectorised form."""

    def __init__(self, info):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))

    def train_step(self, batch):
        return {"loss": float(batch.mean())}

    def sample(self, n, generator=None):
        return torch.randn(n, 2, generator=generator)


def test_a_model_without_a_vectorised_form_trains_serially(tmp_path):
    register_recipe(ModelRecipe("test-mine", "gan", _Mine))
    try:
        cfg = BaselineConfig("test-mine", "ring8", train=dataclasses.replace(SMALL, eval_every=0))
        results = train_seeds(cfg, [0, 1], tmp_path, progress=False)
    finally:
        MODELS.unregister("test-mine")
    assert [r.status for r in results.values()] == ["complete", "complete"]
    for seed in (0, 1):
        assert "vectorised" not in files.read_json(_run(tmp_path, cfg, seed).config)


def test_bf16_seeds_train_as_one_batch_and_channels_last_seeds_one_by_one(tmp_path):
    bf16 = _cfg("gan", "digits", steps=4, log_every=1, eval_every=0, precision="bf16")
    train_seeds(bf16, [0, 1], tmp_path / "bf16", progress=False)
    for seed in (0, 1):
        run = _run(tmp_path / "bf16", bf16, seed)
        assert files.read_json(run.config)["vectorised"] == 2 and files.read_json(run.result)["status"] == "complete"
        assert all(math.isfinite(v) for v in files.read_json(run.result)["final_losses"].values())
    # The seed-stacked convolutions have no channels-last form: those seeds train as serial runs do.
    last = _cfg("gan", "stacked-digits", steps=3, eval_every=0, channels_last=True)
    train_seeds(last, [0, 1], tmp_path / "last", progress=False)
    train(last, 1, tmp_path / "serial", progress=False)
    config = files.read_json(_run(tmp_path / "last", last, 1).config)
    assert "vectorised" not in config and config["train"]["channels_last"] is True
    assert _run(tmp_path / "last", last, 1).checkpoint.read_bytes() == _run(tmp_path / "serial", last, 1).checkpoint.read_bytes()

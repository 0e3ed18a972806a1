import dataclasses
import json
import math

import pytest
import torch

from ganbench.config import BaselineConfig, TrainConfig, find_baseline
from ganbench.data import load_dataset
from ganbench.environment import flush_denormals
from ganbench.errors import UserError
from ganbench.evaluation.tracking import training_tracker
from ganbench.models import MODELS, ModelRecipe, build_model, register_recipe
from ganbench.models.base import GenerativeModel
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.training import BatchSampler, lr_factor, train

SMALL = TrainConfig(steps=60, batch_size=32, log_every=10, checkpoint_every=20, eval_every=30, eval_samples=500)


def _cfg(model="gan", dataset="ring8", **train):
    base = find_baseline(model, dataset)
    return dataclasses.replace(base, train=dataclasses.replace(SMALL, **train))


def _files(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.mark.parametrize("model,dataset", [("gan", "ring8"), ("wgan-gp", "digits")])
def test_same_seed_gives_bit_identical_files(tmp_path, model, dataset):
    cfg = _cfg(model, dataset, steps=30, eval_every=0)
    train(cfg, 3, tmp_path / "a", progress=False)
    train(cfg, 3, tmp_path / "b", progress=False)
    a, b = (_files(RunDir.of(tmp_path / run, dataset, model, 3).path) for run in ("a", "b"))
    assert set(a) == {"checkpoint.pt", "config.json", "metrics.jsonl", "result.json", "samples.png"}
    for name in ("checkpoint.pt", "config.json", "metrics.jsonl", "samples.png"):
        assert a[name] == b[name], name
    ra, rb = json.loads(a["result.json"]), json.loads(b["result.json"])
    ra.pop("wall_time_s"), rb.pop("wall_time_s")
    assert ra == rb and ra["status"] == "complete"
    # a different seed gives a different run
    train(cfg, 4, tmp_path / "a", progress=False)
    assert _files(RunDir.of(tmp_path / "a", dataset, model, 4).path)["checkpoint.pt"] != a["checkpoint.pt"]


class _Crash(Exception):
    pass


def _crashing_tracker(at_step):
    def tracker(model, dataset, step):
        if step == at_step:
            raise _Crash(step)
        return training_tracker(model, dataset, step)

    return tracker


@pytest.mark.parametrize("model,schedule", [("pacgan", "constant"), ("ae", "constant"), ("gan", "linear")])
def test_resume_is_bit_identical_to_uninterrupted(tmp_path, model, schedule):
    cfg = _cfg(model, "ring8", lr_schedule=schedule)
    train(cfg, 0, tmp_path / "full", progress=False, tracker=training_tracker)
    # the same run dies at step 30 (last checkpoint at 20), then resumes
    with pytest.raises(_Crash):
        train(cfg, 0, tmp_path / "part", progress=False, tracker=_crashing_tracker(30))
    d = RunDir.of(tmp_path / "part", "ring8", model, 0).path
    assert not (d / "result.json").exists()
    files.append_jsonl(d / "metrics.jsonl", [{"step": 25, "loss": 1.0}])  # a line the checkpoint does not cover
    r = train(cfg, 0, tmp_path / "part", progress=False, resume=True, tracker=training_tracker)
    assert r.status == "complete" and r.steps == 60
    full = _files(RunDir.of(tmp_path / "full", "ring8", model, 0).path)
    part = _files(d)
    for name in ("checkpoint.pt", "metrics.jsonl", "samples.png"):
        assert part[name] == full[name], name
    assert json.loads(part["result.json"])["resumed_from"] == 20


def test_linear_lr_schedule_matches_torch_lambda_lr(tmp_path):
    """A linear-schedule run ends with the parameters of the same loop driven by torch's LambdaLR."""
    steps = 40
    cfg = _cfg("gan", "ring8", steps=steps, eval_every=0, lr_schedule="linear")
    train(cfg, 5, tmp_path, progress=False)
    got = torch.load(RunDir.of(tmp_path, "ring8", "gan", 5).checkpoint, weights_only=True)["model"]
    # The reference: the same model, seed and batches, the rate set by LambdaLR (Gulrajani et al.'s
    # decay = 1 - iteration / ITERS, iteration counted from 0) and stepped after each update.
    torch.manual_seed(5)
    dataset = load_dataset("ring8")
    model = build_model("gan", dataset.info, **cfg.model_params)
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: 1 - i / steps) for o in model.optimizers().values()]
    sampler = BatchSampler(len(dataset.train), cfg.train.batch_size, 5)
    with flush_denormals():  # as train() runs
        for step in range(steps):
            model.train_step(dataset.train[sampler.indices(step)])
            for sch in scheds:
                sch.step()
    want = model.training_state()
    assert got["modules"].keys() == want["modules"].keys()
    for k, v in want["modules"].items():
        assert torch.equal(got["modules"][k], v), k
    for name, opt in want["optimizers"].items():  # Adam's moments, element by element
        assert torch.equal(torch.cat([t.flatten() for t in _tensors(got["optimizers"][name]["state"])]),
                           torch.cat([t.flatten() for t in _tensors(opt["state"])])), name  # fmt: skip
    constant = _constant_run(tmp_path, cfg)["modules"]
    assert not all(torch.equal(constant[k], v) for k, v in want["modules"].items())


def _tensors(state) -> list:
    if isinstance(state, torch.Tensor):
        return [state.float()]
    if isinstance(state, dict):
        return [t for k in sorted(state, key=str) for t in _tensors(state[k])]
    if isinstance(state, (list, tuple)):
        return [t for v in state for t in _tensors(v)]
    return [torch.tensor(float(state))] if isinstance(state, (int, float)) and not isinstance(state, bool) else []


def _constant_run(tmp_path, cfg):
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr_schedule="constant"))
    train(cfg, 5, tmp_path / "constant", progress=False)
    return torch.load(RunDir.of(tmp_path / "constant", "ring8", "gan", 5).checkpoint, weights_only=True)["model"]


def test_lr_schedule_is_validated():
    with pytest.raises(ValueError, match="train.lr_schedule must be one of constant, linear; got 'cosine'"):
        TrainConfig(lr_schedule="cosine")
    with pytest.raises(ValueError, match=r"train.lr_floor must be a number in \[0, 1\]; got 1.5"):
        TrainConfig(lr_schedule="linear", lr_floor=1.5)
    with pytest.raises(ValueError, match=r"train.lr_decay_steps must be >= 0; got -1"):
        TrainConfig(lr_schedule="linear", lr_decay_steps=-1)


def test_linear_schedule_with_a_floor_hand_computed():
    tc = TrainConfig(steps=100, lr_schedule="linear", lr_floor=0.1, lr_decay_steps=60)
    # 1 - 0.9 (k - 1) / 60 until it reaches 0.1 at k = 61, then 0.1 to the end.
    assert [lr_factor(tc, k) for k in (1, 31, 61, 62, 100)] == pytest.approx([1.0, 0.55, 0.1, 0.1, 0.1])
    assert lr_factor(TrainConfig(steps=40, lr_schedule="linear"), 40) == pytest.approx(1 / 40)
    assert lr_factor(TrainConfig(steps=40), 40) == 1.0


def test_metrics_jsonl_has_losses_and_mode_coverage(tmp_path):
    train(_cfg(), 0, tmp_path, progress=False, tracker=training_tracker)
    recs = files.read_jsonl(RunDir.of(tmp_path, "ring8", "gan", 0).path / "metrics.jsonl")
    losses = [r for r in recs if "loss_d" in r]
    evals = [r for r in recs if "eval" in r]
    assert [r["step"] for r in losses] == [10, 20, 30, 40, 50, 60]
    assert [r["step"] for r in evals] == [30, 60]
    assert set(evals[0]["eval"]) == {"hq_coverage", "modes_covered", "hq_fraction", "reverse_kl"}


class _Diverging(GenerativeModel):
    def __init__(self, info, blow_up_at: int = 7):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(2))
        self.calls, self.blow_up_at = 0, blow_up_at

    def train_step(self, batch):
        self.calls += 1
        return {"loss": float("nan") if self.calls >= self.blow_up_at else 1.0}

    def sample(self, n, generator=None):
        return torch.zeros(n, 2)


def test_non_finite_loss_marks_run_diverged_with_step(tmp_path):
    register_recipe(ModelRecipe("test-diverging", "gan", _Diverging))
    try:
        cfg = BaselineConfig("test-diverging", "ring8", train=SMALL)
        r = train(cfg, 0, tmp_path, progress=False)
    finally:
        MODELS.unregister("test-diverging")
    assert r.status == "diverged" and r.diverged_at == 7
    res = files.read_json(RunDir.of(tmp_path, "ring8", "test-diverging", 0).path / "result.json")
    assert res["status"] == "diverged" and res["diverged_at"] == 7 and "non-finite loss" in res["reason"]


def test_batch_sampler_is_a_function_of_seed_and_step():
    a, b = BatchSampler(100, 30, seed=1), BatchSampler(100, 30, seed=1)
    seq_a = [a.indices(k) for k in range(7)]
    seq_b = [b.indices(k) for k in (6, 5, 4, 3, 2, 1, 0)][::-1]
    assert all(torch.equal(x, y) for x, y in zip(seq_a, seq_b))
    epoch0 = torch.cat(seq_a[:3])
    assert len(set(epoch0.tolist())) == 90  # no repeats within an epoch


# -- training settings: precision and memory layout ------------------------------------------------


def _losses(out, cfg, seed=0) -> list[dict]:
    rows = files.read_jsonl(RunDir.of(out, cfg.dataset, cfg.name, seed).metrics)
    return [{k: v for k, v in r.items() if k.startswith(("loss", "nll", "kl"))} for r in rows if "eval" not in r]


@pytest.mark.parametrize("model", ["gan", "vae"])
def test_bf16_steps_train_with_finite_losses_other_than_fp32(tmp_path, model):
    fp32 = _cfg(model, "digits", steps=8, log_every=1, eval_every=0)
    bf16 = dataclasses.replace(fp32, train=fp32.train.replace(precision="bf16"))
    assert train(bf16, 0, tmp_path / "bf16", progress=False).status == "complete"
    train(fp32, 0, tmp_path / "fp32", progress=False)
    low, full = _losses(tmp_path / "bf16", bf16), _losses(tmp_path / "fp32", fp32)
    assert len(low) == 8 and all(math.isfinite(v) for r in low for v in r.values())
    assert low[0] != full[0]  # the first step already ran in bfloat16
    assert low[-1] == pytest.approx(full[-1], rel=0.2)  # ... and still trains the same model
    recorded = files.read_json(RunDir.of(tmp_path / "bf16", "digits", model, 0).config)["train"]
    assert (recorded["precision"], recorded["channels_last"]) == ("bf16", False)


@pytest.mark.parametrize("model", ["gan", "ae"])
def test_channels_last_gives_the_contiguous_losses_within_float_rounding(tmp_path, model):
    # stacked-digits: three channels, so the two layouts really differ (one channel's strides fit both).
    ref = _cfg(model, "stacked-digits", steps=10, log_every=1, eval_every=0)
    last = dataclasses.replace(ref, train=ref.train.replace(channels_last=True))
    train(ref, 0, tmp_path / "ref", progress=False)
    train(last, 0, tmp_path / "last", progress=False)
    a, b = _losses(tmp_path / "ref", ref), _losses(tmp_path / "last", last)
    assert len(a) == len(b) == 10
    for ra, rb in zip(a, b):
        assert rb == pytest.approx(ra, rel=1e-4, abs=1e-6)
    assert files.read_json(RunDir.of(tmp_path / "last", "stacked-digits", model, 0).config)["train"]["channels_last"]


def test_bf16_with_channels_last_and_the_command_line_record_both(tmp_path):
    from ganbench.cli import main

    code = main(["train", "gan", "--dataset", "stacked-digits", "--steps", "3", "--precision", "bf16",
                 "--channels-last", "--no-eval", "--out", str(tmp_path)])  # fmt: skip
    run = RunDir.of(tmp_path, "stacked-digits", "gan", 0)
    assert code == 0 and files.read_json(run.result)["status"] == "complete"
    assert all(math.isfinite(v) for v in files.read_json(run.result)["final_losses"].values())
    recorded = files.read_json(run.config)["train"]
    assert (recorded["precision"], recorded["channels_last"], recorded["steps"]) == ("bf16", True, 3)


def test_channels_last_on_points_is_an_error(tmp_path):
    with pytest.raises(UserError, match="channels_last applies to images; ring8 holds points2d"):
        train(_cfg("gan", "ring8", channels_last=True), 0, tmp_path, progress=False)

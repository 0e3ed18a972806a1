"""Training: one (model, dataset, seed) run into ``OUT/<dataset>/<model>/seed-<N>/``.

The run directory (``ganbench.runs.layout.RunDir``) holds ``config.json`` (resolved config and environment), ``metrics.jsonl`` (losses
every ``log_every`` steps, cheap metrics every ``eval_every``), ``checkpoint.pt`` (weights, optimizer
and RNG states), ``samples.png`` and ``result.json`` (status, steps, wall time).

Reproducibility: batches are a pure function of (seed, step) and all model randomness comes from
torch's global generator, whose state is checkpointed, so a resumed run is bit-identical to an
uninterrupted one on the same machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ganbench.config import BaselineConfig, TrainConfig
from ganbench.data import Dataset, DatasetInfo, load_dataset
from ganbench.data.batches import TrainingData
from ganbench.environment import environment, flush_denormals, resolve_device
from ganbench.errors import UserError
from ganbench.models import build_model, get_recipe
from ganbench.models.base import GenerativeModel
from ganbench.runs import files
from ganbench.runs.layout import RunDir

CHECKPOINT_FORMAT = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class BatchSampler:
    """Epoch-wise shuffled batches; batch ``step`` depends only on (seed, step), so resuming needs no state.

    Each epoch's permutation is drawn on the CPU and, with ``device``, moved there once: indices on the
    device of the data they index cost no copy per step.
    """

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device | str = "cpu") -> None:
        if batch_size > n:
            raise UserError(f"batch_size {batch_size} is larger than the training set ({n}); lower --batch-size")
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, torch.device(device)
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        """Indices of the k-th batch drawn since the start of training."""
        epoch, pos = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g).to(self.device)
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


@dataclass
class RunResult:
    status: str  # "complete" or "diverged"
    steps: int
    wall_time_s: float
    diverged_at: int | None = None
    reason: str | None = None
    final_losses: dict | None = None


def _rng_state(device: torch.device) -> dict:
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _canonical(obj):
    """Copy every tensor into its own storage, so the bytes torch.save writes depend on values alone
    (a resumed run's loaded tensors and strings would otherwise pickle differently)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone(memory_format=torch.contiguous_format)
    if isinstance(obj, str):
        return sys.intern(obj)  # pickle memoises by identity: equal strings must be the same object
    if isinstance(obj, dict):
        return {_canonical(k): _canonical(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_canonical(v) for v in obj)
    return obj


def save_checkpoint(path: Path, model: GenerativeModel, step: int, device: torch.device, rng: dict | None = None) -> None:
    """Write the run's checkpoint; ``rng`` is the run's generator state (default: torch's global generators)."""
    buf = io.BytesIO()
    rng = _rng_state(device) if rng is None else rng
    state = {"format": CHECKPOINT_FORMAT, "step": step, "model": model.training_state(), "rng": rng}
    torch.save(_canonical(state), buf)
    files.atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``: tensors and plain containers, no code)."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UserError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # truncated zip, foreign pickle, ...
        raise UserError(f"checkpoint {path} is corrupt or not a ganbench checkpoint ({type(e).__name__}): "
                        "delete it and retrain, or rerun without --resume") from None  # fmt: skip
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is not a ganbench checkpoint of format {CHECKPOINT_FORMAT}")
    return ckpt


def lr_factor(tc: TrainConfig, step: int) -> float:
    """The learning-rate multiplier of ``tc.lr_schedule`` at ``step`` (1-based) of ``tc.steps``."""
    if tc.lr_schedule != "linear":
        return 1.0
    floor, decay = tc.lr_floor, tc.lr_decay_steps or tc.steps
    return max(floor, 1.0 - (1.0 - floor) * (step - 1) / decay)


def set_learning_rates(optimizers, factor: float) -> None:
    """Each optimizer's learning rate at ``factor`` times its configured value (kept as ``initial_lr``).

    Stateless: the rate depends on the step alone, so a resumed run follows the same schedule.
    """
    for opt in optimizers:
        for group in opt.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor


def step_autocast(precision: str, device: torch.device):
    """The context each training step runs in: bfloat16 autocast for ``"bf16"``, none for ``"fp32"``.

    It holds the whole ``train_step`` (a model's step runs its own backward pass and optimizer step): the
    backward ops run in the dtype autocast chose for their forward ops, and Adam's element-wise updates are
    on no autocast list, so weights and optimizer states stay float32.
    """
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(tc: TrainConfig, info: DatasetInfo) -> torch.memory_format:
    """The memory layout of the model's weights and batches under ``tc``: channels-last when set (images only)."""
    if not tc.channels_last:
        return torch.contiguous_format
    if info.kind != "image":
        raise UserError(f"train.channels_last applies to images; {info.name} holds {info.kind}: leave it off")
    return torch.channels_last


def _finite(losses: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in losses.values())


def stack_history(run: RunDir, start: int, stack: list[int] | None) -> list[dict]:
    """The seed stacks a run has been trained in, from step 0, as ``config.json``'s ``"stacks"``:
    ``[{"from_step": 0, "stack": [0, 1, 2]}, {"from_step": 1200, "stack": [0]}]``, where ``stack`` is None
    for steps trained serially (not vectorised). A seed's float32 numbers depend on the stack it is trained in
    (``ganbench.training_batched``), so a run resumed in another stack is reproduced only by the same stacks
    from the same steps. ``start`` is the step training (re)starts from and ``stack`` the stack it starts in;
    segments the earlier config records from ``start`` on are dropped (those steps are trained again)."""
    segments: list[dict] = []
    if start and run.config.exists():
        old = files.read_json(run.config)
        segments = old.get("stacks") or [{"from_step": 0, "stack": old.get("stack")}]  # older configs: one stack
        segments = [s for s in segments if s["from_step"] < start]
    if not segments or segments[-1]["stack"] != stack:
        segments.append({"from_step": start, "stack": stack})
    return segments


def train(
    config: BaselineConfig,
    seed: int,
    out: str | Path,
    device: str = "auto",
    resume: bool = False,
    data_root: str | None = None,
    progress: bool | None = None,
    tracker: Callable[[GenerativeModel, Dataset, int], dict] | None = None,
) -> RunResult:
    """Train ``config.model`` on ``config.dataset`` with ``seed``; write the run directory.

    Args:
        config: the baseline (model, dataset, hyperparameters, budget).
        seed: training seed.
        out: runs root; the run goes to ``out/<dataset>/<model>/seed-<seed>``.
        device: ``auto``, ``cpu`` or ``cuda``.
        resume: continue from the run's checkpoint if there is one.
        data_root: where real datasets' files are.
        progress: show a progress bar (default: when stderr is a terminal).
        tracker: optional ``tracker(model, dataset, step) -> dict`` of cheap metrics, called every
            ``train.eval_every`` steps; its output goes to ``metrics.jsonl``.
    """
    dev = resolve_device(device)
    with flush_denormals():
        return _train(config, seed, out, dev, resume, data_root, progress, tracker)


def _train(config, seed, out, dev, resume, data_root, progress, tracker) -> RunResult:
    dataset = load_dataset(config.dataset, data_root=data_root)
    recipe = get_recipe(config.model)
    params = recipe.resolve(dataset.info.kind, config.model_params)
    run = RunDir.of(out, config.dataset, config.name, seed)
    run.path.mkdir(parents=True, exist_ok=True)
    ckpt_path, metrics_path = run.checkpoint, run.metrics

    tc = config.train
    fmt = memory_format(tc, dataset.info)
    seed_everything(seed)
    model = build_model(config.model, dataset.info, **config.model_params).to(dev)
    if fmt != torch.contiguous_format:
        model.to(memory_format=fmt)  # 4-D weights (convolutions) only; the optimizers keep the same parameters
    start = 0
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, map_location=dev)
        model.load_training_state(ckpt["model"])
        _set_rng_state(ckpt["rng"], dev)
        start = ckpt["step"]
        # Lines written after the checkpoint would be written again: drop them.
        files.rewrite_jsonl(metrics_path, [r for r in files.read_jsonl(metrics_path) if r.get("step", 0) <= start])
    else:
        files.rewrite_jsonl(metrics_path, [])
        run.result.unlink(missing_ok=True)

    resolved = dataclasses.replace(config, model_params=params)
    stacks = stack_history(run, start, None)
    history = {"stacks": stacks} if any(s["stack"] for s in stacks) else {}  # where part of it was in a stack
    files.atomic_write_json(run.config, {
        **resolved.to_dict(), "seed": seed, "dataset_info": dataset.info.to_dict(),
        "environment": environment(dev), **history})  # fmt: skip

    train_data = TrainingData(dataset, dev, fmt)
    sampler = BatchSampler(len(train_data), tc.batch_size, seed, train_data.index_device)
    k = model.batches_per_step
    t0 = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress

    bar = tqdm(total=tc.steps, initial=start, disable=not show, desc=f"{config.name}/{config.dataset}/{seed}")
    losses: dict[str, float] = {}
    pending: list[dict] = []
    result = None
    model.train()
    for step in range(start + 1, tc.steps + 1):
        if tc.lr_schedule != "constant":
            set_learning_rates(model.optimizers().values(), lr_factor(tc, step))
        idx = torch.cat([sampler.indices((step - 1) * k + j) for j in range(k)])
        batch = train_data.batch(idx)
        with step_autocast(tc.precision, dev):
            losses = model.train_step(batch)
        bar.update(1)
        if not _finite(losses):
            bad = ", ".join(f"{n}={v}" for n, v in losses.items() if not math.isfinite(v))
            result = RunResult("diverged", step, 0.0, step, f"non-finite loss at step {step}: {bad}")
            pending.append({"step": step, **losses})
            break
        if step % tc.log_every == 0 or step == tc.steps:
            pending.append({"step": step, **losses})
        if step == tc.steps:
            model.prepare_sampling(train_data.float_chunks())
        if tracker is not None and tc.eval_every and (step % tc.eval_every == 0 or step == tc.steps):
            metrics = tracker(model, dataset, step)
            pending.append({"step": step, "eval": metrics})
            if metrics.get("non_finite_samples"):
                result = RunResult("diverged", step, 0.0, step, f"non-finite samples at step {step}")
                break
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            files.append_jsonl(metrics_path, pending)
            pending = []
            save_checkpoint(ckpt_path, model, step, dev)
    bar.close()
    files.append_jsonl(metrics_path, pending)
    wall = time.perf_counter() - t0
    if result is None:
        result = RunResult("complete", tc.steps, wall, final_losses=losses)
        write_samples_figure(model, dataset, run.samples)
    result.wall_time_s = wall
    if result.status == "diverged":
        result.final_losses = losses
    files.atomic_write_json(run.result, {**dataclasses.asdict(result), "resumed_from": start or None})
    return result


def write_samples_figure(model: GenerativeModel, dataset: Dataset, path: Path) -> None:
    # matplotlib and torchvision: 3 s of every start
    from ganbench.results.plots import samples_figure

    g = torch.Generator().manual_seed(0)
    n = 2500 if dataset.info.kind == "points2d" else 64
    samples = model.sample(n, generator=g).detach().cpu()
    files.atomic_write_bytes(path, samples_figure(samples, dataset))

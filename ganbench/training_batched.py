"""Seed-vectorised training: the seeds of one baseline trained together as one batched model.

``train_seeds(config, seeds, out)`` writes, for every seed, the run directory a serial ``training.train``
writes (``config.json``, ``metrics.jsonl``, ``checkpoint.pt``, ``samples.png``, ``result.json``; the config
records ``"vectorised": S`` and the ``"stack"``: its seeds, in order). Each seed's model is built from its own
seed as the serial run builds it; its data order comes from its own ``BatchSampler`` and every random draw
from its own generator, which starts from (and is checkpointed as) the state torch's global generator has in
the serial run. The S models train as one ``ganbench.models.vectorised`` model. A seed whose losses go
non-finite is marked diverged at that step and leaves the stack; the others go on. Checkpoints are the serial
format, so a seed resumes (batched or serially) from where it stopped. The seeds' checkpoints are written one
after another, so a run killed among those writes leaves them at two steps; each seed keeps its checkpoint
before the last (``checkpoint.previous.pt``), and a batched resume starts every seed from the latest step they
all have. A seed's numbers depend on the stack it is trained in (rounding, below), so resuming the same stack
from one step is what keeps a resumed batch bit-identical to an uninterrupted one; seeds with no common step
resume as separate batches.

What is identical to the serial runs: the initial state, the data order, every random number and the
mathematics of each step. What is not: rounding (batched kernels sum in another order), so a seed's
numbers agree with its serial run's to float32 rounding for tens of steps and then drift apart as any
two runs of chaotic training do (in float64, far longer). Models with no vectorised form (a user's own
model class), and configs with ``train.channels_last`` (the seed-stacked convolutions are NCHW only), train
serially; ``train.precision`` bf16 runs each batched step under autocast, as a serial step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ganbench.config import BaselineConfig
from ganbench.data import Dataset, load_dataset
from ganbench.data.batches import TrainingData
from ganbench.environment import environment, flush_denormals, resolve_device
from ganbench.errors import UserError
from ganbench.models import build_model, get_recipe
from ganbench.models.base import GenerativeModel
from ganbench.models.vectorised import NotVectorisable, vectorise
from ganbench.runs import files
from ganbench.runs.layout import RunDir
from ganbench.training import (
    BatchSampler,
    RunResult,
    load_checkpoint,
    lr_factor,
    save_checkpoint,
    seed_everything,
    set_learning_rates,
    stack_history,
    step_autocast,
    train,
    write_samples_figure,
)


@dataclass
class _Seed:
    """One seed's serial model (the stack's state is written into it to checkpoint, track and sample)."""

    seed: int
    run: RunDir
    model: GenerativeModel
    generator: torch.Generator
    cpu_state: torch.Tensor
    sampler: BatchSampler
    start: int
    steps: int
    pending: list = field(default_factory=list)
    losses: dict = field(default_factory=dict)
    result: RunResult | None = None

    def rng(self) -> dict:
        """The serial checkpoint's ``rng``: this seed's generator as torch's global one(s)."""
        if self.generator.device.type == "cuda":
            return {"torch": self.cpu_state, "cuda": self.generator.get_state()}
        return {"torch": self.generator.get_state()}


def train_seeds(
    config: BaselineConfig,
    seeds: list[int],
    out,
    device: str = "auto",
    resume: bool = False,
    data_root: str | None = None,
    progress: bool | None = None,
    tracker=None,
    vectorised: bool = True,
) -> dict[int, RunResult]:
    """Train ``config`` with every seed in ``seeds``, batched; the arguments are ``training.train``'s.

    Returns each seed's ``RunResult``. With ``vectorised=False``, or for a model with no vectorised form,
    the seeds train serially, one after another.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds must list distinct seeds; got {seeds}")
    serial = {"device": device, "resume": resume, "data_root": data_root, "progress": progress, "tracker": tracker}
    if not vectorised or len(seeds) == 1 or config.train.channels_last:  # stacked convolutions are NCHW only
        return {s: train(config, s, out, **serial) for s in seeds}
    dev = resolve_device(device)
    with flush_denormals():
        dataset = load_dataset(config.dataset, data_root=data_root)
        data = TrainingData(dataset, dev)
        saved = [_checkpoints(RunDir.of(out, config.dataset, config.name, s), dev) if resume else {} for s in seeds]
        # The whole stack resumes from the latest step every seed has a checkpoint at; with none in common
        # (but a fresh start), each seed resumes from its latest, in separate batches.
        common = max(set.intersection(*[set(c) | {0} for c in saved]))
        starts = [c.get(common) if common else c.get(max(c, default=0)) for c in saved]
        at = [c["step"] if c else 0 for c in starts]
        stacks = [[s for s, a in zip(seeds, at) if a == mine] for mine in at]  # each seed's batch, in order
        items = [_setup(config, dataset, s, out, dev, stack, data.index_device, ckpt)
                 for s, stack, ckpt in zip(seeds, stacks, starts)]  # fmt: skip
        try:
            vectorise([it.model for it in items[:1]], [it.generator for it in items[:1]])
        except NotVectorisable:
            return {s: train(config, s, out, **serial) for s in seeds}
        show = sys.stderr.isatty() if progress is None else progress
        for start in sorted({it.start for it in items}):
            _train_group([it for it in items if it.start == start], config, dataset, data, dev, tracker, show)
    return {it.seed: it.result for it in items}


def _checkpoints(run: RunDir, dev: torch.device) -> dict[int, dict]:
    """A seed's checkpoints (the last and the one before it), by step."""
    found = [load_checkpoint(p, map_location=dev) for p in (run.checkpoint, run.previous_checkpoint) if p.exists()]
    return {int(c["step"]): c for c in found}


def _setup(config: BaselineConfig, dataset: Dataset, seed: int, out, dev: torch.device, stack: list[int],
           index_device: torch.device, ckpt: dict | None) -> _Seed:  # fmt: skip
    """As ``training._train`` up to its loop: the run folder, the model from its seed, and the state of
    ``ckpt`` (the checkpoint to resume from; None for a fresh start). ``stack`` is the seeds trained with
    it, in their order in the stack (which its numbers depend on), recorded in its ``config.json``."""
    params = get_recipe(config.model).resolve(dataset.info.kind, config.model_params)
    run = RunDir.of(out, config.dataset, config.name, seed)
    run.path.mkdir(parents=True, exist_ok=True)
    seed_everything(seed)
    model = build_model(config.model, dataset.info, **config.model_params).to(dev)
    start = 0
    if ckpt is not None:
        model.load_training_state(ckpt["model"])
        rng, start = ckpt["rng"], ckpt["step"]
        files.rewrite_jsonl(run.metrics, [r for r in files.read_jsonl(run.metrics) if r.get("step", 0) <= start])
    else:
        rng = {"torch": torch.get_rng_state()}
        if dev.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(dev)
        files.rewrite_jsonl(run.metrics, [])
        run.result.unlink(missing_ok=True)
    resolved = dataclasses.replace(config, model_params=params)
    files.atomic_write_json(run.config, {
        **resolved.to_dict(), "seed": seed, "dataset_info": dataset.info.to_dict(),
        "environment": environment(dev), "vectorised": len(stack),
        "stack": stack, "stacks": stack_history(run, start, stack)})  # fmt: skip
    generator = torch.Generator(device=dev)
    generator.set_state(rng["cuda"] if dev.type == "cuda" else rng["torch"])
    sampler = BatchSampler(len(dataset.train), config.train.batch_size, seed, index_device)
    return _Seed(seed, run, model, generator, rng["torch"], sampler, start, config.train.steps)


def _finish(it: _Seed, wall: float, dataset: Dataset) -> None:
    """Write the seed's last metrics, samples (if complete) and ``result.json``, as a serial run does."""
    files.append_jsonl(it.run.metrics, it.pending)
    it.pending = []
    if it.result is None:
        it.result = RunResult("complete", it.steps, wall, final_losses=it.losses)
        write_samples_figure(it.model, dataset, it.run.samples)
    it.run.previous_checkpoint.unlink(missing_ok=True)  # every seed has its last checkpoint by now
    it.result.wall_time_s = wall
    if it.result.status == "diverged":
        it.result.final_losses = it.losses
    files.atomic_write_json(it.run.result, {**dataclasses.asdict(it.result), "resumed_from": it.start or None})


def _drop(vm, active: list[_Seed], t0: float, dataset: Dataset, step: int) -> list[_Seed]:
    """Finish the seeds that diverged and take them out of the stack; the others record their new stack,
    from ``step`` on."""
    keep = [i for i, it in enumerate(active) if it.result is None]
    if len(keep) == len(active):
        return active
    for it in active:
        if it.result is not None:
            _finish(it, time.perf_counter() - t0, dataset)
    if keep:
        vm.select(keep)
    survivors = [active[i] for i in keep]
    stack = [it.seed for it in survivors]
    for it in survivors:
        config = files.read_json(it.run.config)
        stacks = [*config["stacks"], {"from_step": step, "stack": stack}]
        files.atomic_write_json(it.run.config, {**config, "vectorised": len(stack), "stack": stack, "stacks": stacks})
    return survivors


def _train_group(items: list[_Seed], config: BaselineConfig, dataset: Dataset, train_data: TrainingData,
                 dev: torch.device, tracker, show: bool) -> None:  # fmt: skip
    """The serial training loop of ``training._train``, for seeds that all start at the same step."""
    tc = config.train
    start = items[0].start
    for it in items:
        it.model.train()
    vm = vectorise([it.model for it in items], [it.generator for it in items])
    vm.train()
    k = items[0].model.batches_per_step
    active = list(items)
    t0 = time.perf_counter()
    bar = tqdm(total=tc.steps, initial=start, disable=not show,
               desc=f"{config.name}/{config.dataset}/seeds {','.join(str(it.seed) for it in items)}")  # fmt: skip
    for step in range(start + 1, tc.steps + 1):
        if tc.lr_schedule != "constant":
            set_learning_rates([opt for opt, _ in vm.opts.values()], lr_factor(tc, step))
        batch = train_data.batch(torch.stack([torch.cat([it.sampler.indices((step - 1) * k + j) for j in range(k)])
                                              for it in active]))  # fmt: skip
        with step_autocast(tc.precision, dev):
            out = vm.train_step(batch)
        names = list(out)
        values = torch.stack([out[n].float() for n in names]).tolist()  # one synchronisation for every seed's losses
        bar.update(1)
        for i, it in enumerate(active):
            it.losses = {n: values[j][i] for j, n in enumerate(names)}
            if not all(math.isfinite(v) for v in it.losses.values()):
                bad = ", ".join(f"{n}={v}" for n, v in it.losses.items() if not math.isfinite(v))
                it.result = RunResult("diverged", step, 0.0, step, f"non-finite loss at step {step}: {bad}")
                it.pending.append({"step": step, **it.losses})
            elif step % tc.log_every == 0 or step == tc.steps:
                it.pending.append({"step": step, **it.losses})
        active = _drop(vm, active, t0, dataset, step)
        if not active:
            break
        synced = False
        if step == tc.steps:
            vm.unstack([it.model for it in active])
            synced = True
            for it in active:
                it.model.prepare_sampling(train_data.float_chunks())
        if tracker is not None and tc.eval_every and (step % tc.eval_every == 0 or step == tc.steps):
            if not synced:
                vm.unstack([it.model for it in active])
                synced = True
            for it in active:
                metrics = tracker(it.model, dataset, step)
                it.pending.append({"step": step, "eval": metrics})
                if metrics.get("non_finite_samples"):
                    it.result = RunResult("diverged", step, 0.0, step, f"non-finite samples at step {step}")
            active = _drop(vm, active, t0, dataset, step)
            if not active:
                break
        if step % tc.checkpoint_every == 0 or step == tc.steps:
            if not synced:
                vm.unstack([it.model for it in active])
            for it in active:
                files.append_jsonl(it.run.metrics, it.pending)
                it.pending = []
                if it.run.checkpoint.exists():  # kept until every seed has its new checkpoint (see the top)
                    os.replace(it.run.checkpoint, it.run.previous_checkpoint)
                save_checkpoint(it.run.checkpoint, it.model, step, dev, rng=it.rng())
    bar.close()
    wall = time.perf_counter() - t0
    for it in active:
        _finish(it, wall, dataset)

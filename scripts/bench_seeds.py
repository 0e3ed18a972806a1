"""Seed-steps per second: S seeds trained as one vectorised model against S serial runs (issue #14).

Both sides run the same training steps (``train_step`` on the trainer's batches, models built from their
seeds) with the same number of worker processes: serially, each worker trains its share of the seeds one
after another; vectorised, each worker trains its share as one stack. Model building and ``--warmup`` steps
are not timed. Configurations: the quick suite's 2D networks (baselines/gan_ring8.toml), PacGAN's 2D
networks (baselines/pacgan2d/pacgan3_ring8.toml) and the 8x8 conv nets (baselines/gan_digits.toml).

    python scripts/bench_seeds.py --seeds 10 --steps 200 --workers 2 [--device cuda] [--out FILE.md]

A smoke run: ``--seeds 2 --steps 3 --warmup 1``.

A second table shows what bounds the ratio: in one process with one thread, the milliseconds of one
stacked step at S = 1, 2, 5 and 10 seeds (``--scaling``, default ``1,2,5,10``; ``--scaling ""`` leaves it
out) beside one serial step. A stacked step whose time grows in proportion to S is bound by the arithmetic
and memory traffic of the seeds' own work, not by per-call overhead, and stacking cannot beat
``serial ms / (stacked ms / S)`` on that device.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganbench.config import BASELINES_DIR, find_baseline, load_baseline
from ganbench.data import load_dataset
from ganbench.data.batches import TrainingData
from ganbench.environment import resolve_device
from ganbench.errors import UserError
from ganbench.models import build_model
from ganbench.models.vectorised import vectorise
from ganbench.runs import files
from ganbench.training import BatchSampler, seed_everything

CONFIGS = {
    "2D, quick suite (gan_ring8)": lambda: find_baseline("gan", "ring8"),
    "2D, PacGAN's sizes (pacgan2d/pacgan3_ring8)": lambda: load_baseline(BASELINES_DIR / "pacgan2d" / "pacgan3_ring8.toml"),
    "8x8 conv (gan_digits)": lambda: find_baseline("gan", "digits"),
}


def _models(cfg, ds, seeds, dev):
    models, generators = [], []
    for s in seeds:
        seed_everything(s)
        models.append(build_model(cfg.model, ds.info, **cfg.model_params).to(dev))
        g = torch.Generator(device=dev)
        g.set_state(torch.cuda.get_rng_state(dev) if dev.type == "cuda" else torch.get_rng_state())
        generators.append(g)
    return models, generators


def _indices(sampler, step, k):
    return torch.cat([sampler.indices(step * k + j) for j in range(k)])


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def worker(args) -> float:
    """Seconds this worker spends on ``steps`` timed steps of its seeds (serially or as one stack)."""
    name, seeds, steps, warmup, vectorised, device, threads = args
    torch.set_num_threads(threads)
    dev = resolve_device(device)
    cfg = CONFIGS[name]()
    ds = load_dataset(cfg.dataset)
    models, generators = _models(cfg, ds, seeds, dev)
    data = TrainingData(ds, dev)  # as the trainers gather batches: on the device when the split fits there
    samplers = [BatchSampler(len(data), cfg.train.batch_size, s, data.index_device) for s in seeds]
    k = models[0].batches_per_step
    if vectorised:
        vm = vectorise(models, generators)

        def step(i):
            vm.train_step(data.batch(torch.stack([_indices(sm, i, k) for sm in samplers])))["loss_d"].tolist()

        runs = [step]
    else:
        def one(m, sm):
            return lambda i: m.train_step(data.batch(_indices(sm, i, k)))

        runs = [one(m, sm) for m, sm in zip(models, samplers)]
    return sum(_timed(run, steps, warmup, dev) for run in runs)  # serial seeds one after another, as serial jobs


def _timed(step, steps: int, warmup: int, dev) -> float:
    """Seconds of ``steps`` calls ``step(i)`` after ``warmup`` untimed ones (i counts on through both)."""
    for i in range(warmup):
        step(i)
    _sync(dev)
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(i)
    _sync(dev)
    return time.perf_counter() - t0


def scaling(name, sizes, steps, warmup, device) -> str:
    """A markdown row: ms per serial step and per stacked step at each S, in this process, one thread."""
    torch.set_num_threads(1)
    dev = resolve_device(device)
    cfg = CONFIGS[name]()
    ds = load_dataset(cfg.dataset)
    data = TrainingData(ds, dev)
    cells = []
    for s in [0, *sizes]:  # 0: one serial model
        models, generators = _models(cfg, ds, list(range(max(s, 1))), dev)
        samplers = [BatchSampler(len(data), cfg.train.batch_size, i, data.index_device) for i in range(max(s, 1))]
        k = models[0].batches_per_step
        if s == 0:
            m = models[0]

            def step(i, m=m):
                m.train_step(data.batch(_indices(samplers[0], i, k)))  # returns Python floats: synchronised
        else:
            vm = vectorise(models, generators)

            def step(i, vm=vm, samplers=samplers):
                vm.train_step(data.batch(torch.stack([_indices(sm, i, k) for sm in samplers])))["loss_d"].tolist()
        cells.append(1000 * _timed(step, steps, warmup, dev) / steps)
    serial, stacked = cells[0], cells[1:]
    per_seed = [t / s for t, s in zip(stacked, sizes)]
    return (f"| {name} | {serial:.2f} | " + " | ".join(f"{t:.2f} ({p:.2f})" for t, p in zip(stacked, per_seed))
            + f" | {serial / per_seed[-1]:.2f}x |")


def measure(name, n_seeds, steps, warmup, workers, device, vectorised) -> float:
    """Seed-steps per second of ``n_seeds`` seeds over ``workers`` processes."""
    shares = [list(range(n_seeds))[w::workers] for w in range(workers)]
    jobs = [(name, share, steps, warmup, vectorised, device, 1) for share in shares if share]
    if len(jobs) == 1:
        wall = worker(jobs[0])
    else:
        with mp.get_context("spawn").Pool(len(jobs)) as pool:
            wall = max(pool.map(worker, jobs))  # the workers run side by side: the slowest sets the pace
    return n_seeds * steps / wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200, help="timed steps per seed")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1, help="worker processes on each side (1 thread each)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--configs", help="comma-separated substrings of the configuration names (default: all)")
    ap.add_argument("--scaling", default="1,2,5,10", help="stack sizes of the bounds table ('' to leave it out)")
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args(argv)
    resolve_device(args.device)  # fails here, before any worker starts, when the device is missing
    names = [n for n in CONFIGS if not args.configs or any(c in n for c in args.configs.split(","))]
    lines = [(f"Seed-steps/s, {args.seeds} seeds, {args.steps} timed steps each, {args.workers} worker process(es), "
              f"device {args.device}, torch {torch.__version__}"), "",
             "| networks | serial | vectorised | ratio |", "|---|---:|---:|---:|"]  # fmt: skip
    for name in names:
        serial = measure(name, args.seeds, args.steps, args.warmup, args.workers, args.device, False)
        batched = measure(name, args.seeds, args.steps, args.warmup, args.workers, args.device, True)
        lines.append(f"| {name} | {serial:.1f} | {batched:.1f} | {batched / serial:.2f}x |")
        print(lines[-1], flush=True)
    sizes = [int(x) for x in args.scaling.split(",") if x.strip()]
    if sizes:
        lines += ["", (f"What bounds the ratio: ms per step in one process, one thread, {args.steps} timed steps; "
                       "a stacked step's time at S seeds, (per seed) after it; the last column is the serial step "
                       f"over the per-seed time at S = {sizes[-1]}, the most stacking gains on one core"), "",
                  "| networks | serial step | " + " | ".join(f"S = {s}" for s in sizes) + " | bound |",
                  "|---|---:|" + "---:|" * len(sizes) + "---:|"]  # fmt: skip
        for name in names:
            lines.append(scaling(name, sizes, args.steps, args.warmup, args.device))
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        files.atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as e:  # e.g. --device cuda without a GPU: one line, exit 2
        print(f"bench_seeds: {e}", file=sys.stderr)
        sys.exit(2)

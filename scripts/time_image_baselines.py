"""Time one training step of every real-image baseline (mnist, fashion-mnist, cifar10, stacked-mnist).

    python scripts/time_image_baselines.py [--device cpu|cuda] [--threads 1] [--steps 5] [--warmup 2]
                                           [--datasets ...] [--suite NAME] [--out FILE]

With ``--suite`` (e.g. ``pacgan2d``) it times each distinct baseline of that suite instead (its seeds share
one), at the suite's budget.

Each baseline's model is built from its file (baselines/<model>_<dataset>.toml) and steps on a fixed batch of
uniform noise of its dataset's shape, at its own batch size (times the batches a step consumes: WGAN-GP's five
critic batches, PacGAN's packs); a step's time does not depend on the pixels, so no dataset files are needed.
The median and interquartile range of the timed steps are reported after the warm-up steps, with CUDA
synchronised before each clock read; *ops / step* counts the operations one more step dispatches to the
backend (about one kernel each on CUDA, where small networks are bound by per-operation overhead); the
budget column multiplies the median by the baseline's steps. A failed measurement is a row with its error.
Prints a Markdown table (and writes it with --out).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganbench.config import list_baselines
from ganbench.data import get_dataset_info
from ganbench.environment import cpu_label, flush_denormals
from ganbench.models import build_model
from ganbench.runs import files
from ganbench.runs.suite import load_suite

DATASETS = ["mnist", "fashion-mnist", "cifar10", "stacked-mnist"]


class _CountOps(TorchDispatchMode):
    """Counts the operations a step dispatches to the backend (about one kernel each on CUDA): for small
    networks on a GPU, per-operation overhead rather than arithmetic sets the step time."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def time_steps(cfg, device: torch.device, steps: int, warmup: int) -> dict:
    info = get_dataset_info(cfg.dataset)
    row = {"name": cfg.name, "dataset": cfg.dataset, "batch_size": cfg.train.batch_size, "budget": cfg.train.steps}
    try:
        torch.manual_seed(0)
        model = build_model(cfg.model, info, **cfg.model_params).to(device)
        n = cfg.train.batch_size * model.batches_per_step
        batch = (torch.rand(n, *info.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
        model.train()
        times = []
        for i in range(warmup + steps):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            model.train_step(batch)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
        counter = _CountOps()
        with counter:
            model.train_step(batch)
        ms = np.array(times) * 1000
        row.update(ops=counter.n, ms=float(np.median(ms)), iqr=float(np.subtract(*np.percentile(ms, [75, 25]))), error=None)
    except Exception as e:  # noqa: BLE001  (a failed measurement is a row, not a crash)
        row.update(ms=None, iqr=None, ops=None, error=f"{type(e).__name__}: {e}")
    return row


def table(rows: list[dict]) -> str:
    lines = ["| dataset | baseline | batch | ms / step (median, IQR) | ops / step | published budget | budget at this speed |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for r in rows:
        if r["error"]:
            lines.append(f"| {r['dataset']} | {r['name']} | {r['batch_size']} | failed: {r['error']} | | | |")
            continue
        hours = r["ms"] * r["budget"] / 3.6e6
        lines.append(f"| {r['dataset']} | {r['name']} | {r['batch_size']} | {r['ms']:.1f} ({r['iqr']:.1f}) | "
                     f"{r.get('ops') or ''} | {r['budget']:,} steps | {hours:.1f} h |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (a suite's jobs run with 1)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--datasets", nargs="+", choices=DATASETS, default=DATASETS)
    ap.add_argument("--suite", help="time the distinct baselines of this suite instead (e.g. pacgan2d)")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.suite:
        configs = list({(j.config.dataset, j.config.name): j.config for j in load_suite(args.suite).jobs}.values())
        what = f"the `{args.suite}` suite's baselines"
    else:
        configs = sorted((b for b in list_baselines() if b.dataset in args.datasets),
                         key=lambda b: (DATASETS.index(b.dataset), b.name))  # fmt: skip
        what = "the real-image baselines"
    with flush_denormals():  # as training does
        rows = [time_steps(cfg, device, args.steps, args.warmup) for cfg in configs]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"{cpu_label()}, {args.threads} thread(s) of {os.cpu_count()} cores")  # fmt: skip
    text = (f"Training-step time of {what} on {where}, torch {torch.__version__}; "
            f"{args.steps} timed steps after {args.warmup} warm-up steps.\n\n{table(rows)}\n")  # fmt: skip
    print(text)
    if args.out:
        files.atomic_write_text(Path(args.out), text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Step-timing benchmarks: milliseconds per training step as data, with FLOPs and utilisation.

Per model and training setting (precision ``fp32`` or ``bf16`` autocast, contiguous or channels-last memory
layout, as ``TrainConfig`` sets them for training): the median and interquartile range of a full training step,
samples (images) per second, peak memory (CUDA max allocated, or the process's peak resident set on CPU), FLOPs
per step (torch's flop counter), achieved FLOP/s and its share of the device's matrix-multiply peak (in the
setting's precision) measured in the same run.
On CUDA steps are timed with CUDA events after warm-up and a synchronise; on CPU with ``perf_counter``.
A failed measurement (out of memory, an error in the model) is a row with its error.
"""

from __future__ import annotations

import functools
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from ganbench.config import find_baseline
from ganbench.data import get_dataset_info, load_dataset
from ganbench.environment import device_description, flush_denormals, package_versions, resolve_device
from ganbench.errors import UserError
from ganbench.models import build_model
from ganbench.runs import files
from ganbench.runs.layout import ModelDir
from ganbench.training import memory_format, step_autocast

# Every training setting ``--sweep`` times: (precision, channels_last).
SETTINGS = (("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True))


_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def setting_label(precision: str, channels_last: bool) -> str:
    return precision + (" channels-last" if channels_last else "")


def matmul_peak_flops(device: torch.device, dtype: torch.dtype = torch.float32, reps: int = 10) -> float:
    """Achieved FLOP/s of a large square matmul on ``device``: the practical peak steps are compared with.

    Measured once per (device, dtype) and process. On CUDA 8192^2 and ten products per timing, since one
    2048^2 product lasts about as long as the launch and event overheads. On the CPU the side doubles from
    256 until one product lasts ``CPU_PRODUCT_S`` (at most 2048^2), so that the timing takes about a second
    whatever the CPU's speed in ``dtype``. A CPU without bfloat16 units multiplies bfloat16 matrices in a
    slow fallback (0.3 GFLOP/s at 2048^2 on a 2-core AVX2 EPYC, against 138 in float32: 51 s a product),
    while autocast's convolutions convert to float32 and run at its rate; on the CPU the peak of a
    reduced precision is therefore the faster of its own matmul and float32's.
    """
    return _peak_flops(torch.device(device), dtype, reps)  # one cache key however the arguments are spelt


@functools.lru_cache(maxsize=None)
def _peak_flops(device: torch.device, dtype: torch.dtype, reps: int) -> float:
    if device.type == "cuda":
        return _matmul_flops(device, dtype, 8192, 10, reps)
    size = 256
    while size < 2048 and _matmul_seconds(device, dtype, size) < CPU_PRODUCT_S:
        size *= 2
    flops = _matmul_flops(device, dtype, size, 1, reps)
    return flops if dtype == torch.float32 else max(flops, _peak_flops(device, torch.float32, reps))


CPU_PRODUCT_S = 0.05  # the CPU peak's matmul grows until one product lasts this long


def _matmul_seconds(device: torch.device, dtype: torch.dtype, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    t0 = time.perf_counter()
    a @ b
    return time.perf_counter() - t0


def _matmul_flops(device: torch.device, dtype: torch.dtype, size: int, calls: int, reps: int) -> float:
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(2):
        a @ b

    def products():
        for _ in range(calls):
            a @ b

    times = _time_calls(products, reps, device)
    return 2 * size**3 * calls / float(np.median(times))


def _time_calls(fn, reps: int, device: torch.device) -> list[float]:
    """Seconds per call: CUDA events around each call on CUDA, ``perf_counter`` on CPU."""
    out = []
    if device.type == "cuda":
        with torch.cuda.device(device):  # events record on the current device's stream: make it this one
            return _time_cuda_calls(fn, reps)
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _time_cuda_calls(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        out.append(start.elapsed_time(end) / 1000.0)
    return out


def _peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)  # Linux reports KiB


def _compile_children(model: torch.nn.Module) -> None:
    for name, child in list(model.named_children()):
        setattr(model, name, torch.compile(child))


def bench_model(name: str, dataset: str, batch_size: int | None = None, steps: int = 50, warmup: int = 10,
                device: str = "auto", precision: str = "fp32", channels_last: bool = False, compile: bool = False,
                peak: float | None = None) -> dict:  # fmt: skip
    """Benchmark one model's training step in one setting; returns a row (with ``error`` set if it failed)."""
    with flush_denormals():  # as training does
        return _bench_model(name, dataset, batch_size, steps, warmup, resolve_device(device), precision,
                            channels_last, compile, peak)  # fmt: skip


def _bench_model(name, dataset, batch_size, steps, warmup, dev, precision, channels_last, compile, peak) -> dict:
    cfg = find_baseline(name, dataset)
    bs = batch_size or cfg.train.batch_size
    row = {"model": name, "dataset": dataset, "batch_size": bs, "steps": steps, "warmup": warmup,
           "device": device_description(dev), "setting": setting_label(precision, channels_last),
           "precision": precision, "channels_last": channels_last, "amp": precision == "bf16",
           "compile": compile}  # fmt: skip
    try:
        tc = cfg.train.replace(precision=precision, channels_last=channels_last)  # validated as for training
        fmt = memory_format(tc, get_dataset_info(dataset))
        data = load_dataset(dataset)
        torch.manual_seed(0)
        model = build_model(cfg.model, data.info, **cfg.model_params).to(dev, memory_format=fmt)
        batch = data.as_float(data.train[torch.randperm(len(data.train))[: bs * model.batches_per_step]].to(dev))
        if len(batch) < bs * model.batches_per_step:
            raise ValueError(f"batch size {bs} x {model.batches_per_step} exceeds the training set")
        batch = batch.contiguous(memory_format=fmt)

        def autocast():  # a fresh context per step, as training enters one
            return step_autocast(precision, dev)

        flops = _flops_per_step(model, batch, autocast)
        if compile:
            _compile_children(model)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)

        def step():
            with autocast():
                model.train_step(batch)

        t0 = time.perf_counter()
        for _ in range(warmup):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        row["warmup_s"] = time.perf_counter() - t0  # includes compile time with --compile
        secs = np.array(_time_calls(step, steps, dev))
        ms = secs * 1000
        row.update(step_ms_median=float(np.median(ms)), step_ms_iqr=float(np.subtract(*np.percentile(ms, [75, 25]))),
                   samples_per_s=bs / float(np.median(secs)), peak_memory_mb=_peak_memory_bytes(dev) / 2**20,
                   flops_per_step=flops)  # fmt: skip
        row["achieved_flops"] = flops / float(np.median(secs)) if flops is not None else None
        peak = peak or matmul_peak_flops(dev, _DTYPES[precision])
        row["matmul_peak_flops"] = peak
        row["utilisation"] = row["achieved_flops"] / peak if flops is not None else None
        row["error"] = None
    except Exception as e:  # a failed measurement is a row, not a crash
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def _flops_per_step(model, batch, autocast) -> int | None:
    """FLOPs of one train_step (forward and backward) by torch's flop counter, on a copy-free trial step.

    The step runs for real, so it also serves as the first warm-up step.
    """
    try:
        with FlopCounterMode(display=False) as counter, autocast():
            model.train_step(batch)
    except RuntimeError as e:
        # The counter cannot follow autograd.grad inside a step (WGAN-GP's gradient penalty) in every
        # torch release: count the FLOPs as unknown rather than fail the timing. Anything else (out of
        # memory included) is the measurement's error.
        if "autograd.grad" not in str(e):
            raise
        return None
    return int(counter.get_total_flops())


def bench(models: list[str], dataset: str, out: str | Path | None = None,
          settings: list[tuple[str, bool]] | None = None, **kw) -> list[dict]:  # fmt: skip
    """Benchmark several models on one dataset, a row per model and setting (``(precision, channels_last)``;
    default: fp32, contiguous); with ``out`` (one setting only), write ``out/<dataset>/<model>/bench.json``."""
    settings = list(settings or [("fp32", False)])
    if out is not None and len(settings) > 1:
        raise UserError("--out keeps one bench.json per model: time one setting with --out, several without")
    dev = resolve_device(kw.get("device", "auto"))
    rows = []
    for precision, channels_last in settings:
        peak = matmul_peak_flops(dev, _DTYPES[precision])
        for name in models:
            row = bench_model(name, dataset, precision=precision, channels_last=channels_last, peak=peak, **kw)
            if row["error"] and dev.type == "cuda":
                torch.cuda.empty_cache()  # the failed model is gone by now: give its memory back to the next
            row["environment"] = {"versions": package_versions(), "threads": torch.get_num_threads()}
            rows.append(row)
            if out is not None:
                files.atomic_write_json(ModelDir.of(out, dataset, name).bench, row)
    return rows

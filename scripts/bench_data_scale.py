"""Peak memory of loading a large image set and training a few steps on it; writes reports/data-scale.md.

    python scripts/bench_data_scale.py [--images 100000] [--before REV] [--out reports/data-scale.md]

Two data sets, both made here with random pixels (the memory a set takes does not depend on its content):

- ``folder``: ``--images`` PNG files of 3x32x32 (CIFAR's shape) in a temporary folder, read as ``folder:PATH``;
- ``stacked-mnist``: the protocol's 128,000 x 3x28x28 stacked digits, built from MNIST-format idx files of
  random digits (60,000 + 10,000) in a temporary data root.

Each (data set, code) pair runs in a fresh Python process, which records its peak resident set (``ru_maxrss``)
after importing ganbench, after loading the set and after ``--steps`` GAN training steps on the CPU (no
evaluation). ``--before REV`` measures the same with the ganbench package of git revision REV (extracted with
``git archive``) beside this checkout's, so the figures compare the storage before and after a change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# Runs in the child process, with the ganbench under test first on sys.path.
CHILD = r"""
import dataclasses, json, resource, sys, time
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
name, data_root, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import torch
from ganbench.config import BaselineConfig, TrainConfig
from ganbench.data import load_dataset
from ganbench.environment import cpu_label
from ganbench.training import train
torch.set_num_threads(1)
import ganbench
row = {"import_mb": rss_mb(), "package": ganbench.__file__}
t0 = time.perf_counter()
ds = load_dataset(name, data_root=data_root)
row["load_s"] = time.perf_counter() - t0
row["load_mb"] = rss_mb()
row["stored_mb"] = sum(t.numel() * t.element_size() for t in (ds.train, ds.test)) / 2**20
row["dtype"] = str(ds.train.dtype).replace("torch.", "")
row["n"] = len(ds.train) + len(ds.test)
tc = TrainConfig(steps=steps, batch_size=64, log_every=steps, checkpoint_every=steps, eval_every=0)
t0 = time.perf_counter()
train(BaselineConfig("gan", name, train=tc), 0, out, device="cpu", data_root=data_root, progress=False)
row["train_s"] = time.perf_counter() - t0
row["train_mb"] = rss_mb()
print(json.dumps(row))
"""


def write_png_folder(folder: Path, n: int, side: int = 32) -> None:
    """``n`` RGB PNGs of random pixels in one flat folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:06d}.png",
                                                                                   compress_level=1)  # fmt: skip


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file (LeCun's MNIST format): magic, big-endian dimensions, then the uint8 data."""
    magic = {3: 2051, 1: 2049}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path) -> None:
    """MNIST-format files of random digits at MNIST's sizes under ``root/MNIST/raw``."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60_000), ("t10k", 10_000)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))


def extract_revision(rev: str, into: Path) -> str:
    """The ganbench package of git revision ``rev`` under ``into``; returns its commit."""
    commit = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    archive = subprocess.run(["git", "archive", rev, "ganbench"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit.strip()


def _checkout_commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "ganbench"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()  # fmt: skip
    return head + ("+dirty" if dirty else "")


def measure(code: Path, name: str, data_root: str, steps: int, tmp: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    out = tempfile.mkdtemp(dir=tmp)
    # cwd: a folder without a ganbench package (python -c puts the working folder first on sys.path)
    p = subprocess.run([sys.executable, "-c", CHILD, name, data_root, out, str(steps)], env=env, cwd=out,
                       capture_output=True, text=True, check=False)  # fmt: skip
    if p.returncode:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def render(rows: list[dict], args, wall: float) -> str:
    import pandas as pd
    import torch

    cols = ["data", "code", "n", "dtype", "stored_mb", "import_mb", "load_mb", "loading_mb", "train_mb", "load_s",
            "train_s"]  # fmt: skip
    frame = pd.DataFrame(rows)
    if "load_mb" in frame.columns:
        frame["loading_mb"] = frame["load_mb"] - frame["import_mb"]
    table = frame[[c for c in [*cols, "error"] if c in frame.columns]]
    machine = (f"{cpu_label()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
               f"Python {platform.python_version()}")
    what = ("Peak resident set (MB, `ru_maxrss`) of a fresh process: after importing ganbench (`import_mb`), after "
            "loading the set (`load_mb`; `loading_mb` is the rise over `import_mb`: what loading took at peak) and after "
            f"{args.steps} GAN training steps on the CPU (`train_mb`, which "
            "includes the model, the final checkpoint and the samples figure). `stored_mb` is the size of the two "
            f"splits as the set holds them. `folder` is {args.images:,} random 3x32x32 PNGs read as `folder:PATH`; "
            "`stacked-mnist` the protocol's 128,000 + 10,000 stacked digits built from MNIST-format files of random "
            "digits.")
    change = ("Before, every image set was held as float32 in [-1, 1] (4 bytes a pixel), and a folder set held its "
              "pixels, their float copy and the float splits at once while loading. Now the splits stay uint8 (1 "
              "byte a pixel) with the float value of each level, and each training batch becomes float on the "
              "training device; a folder is read straight into split order, so its two splits are views of one "
              "array.")
    lines = ["# Image data at scale: memory", "",
             f"Produced by `python scripts/bench_data_scale.py {' '.join(sys.argv[1:])}` in {wall:.0f} s on {machine}.",
             "", what, "", table.to_markdown(index=False, floatfmt=".1f"), "", change, ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000, help="images in the folder set (default 100,000)")
    ap.add_argument("--steps", type=int, default=5, help="training steps after loading (default 5)")
    ap.add_argument("--before", help="also measure the ganbench of this git revision (e.g. main)")
    ap.add_argument("--no-stacked-mnist", action="store_true", help="only the folder set")
    ap.add_argument("--out", default=str(ROOT / "reports" / "data-scale.md"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = [(f"this checkout ({_checkout_commit()})", ROOT)]
        if args.before:
            (tmp / "before").mkdir()
            commit = extract_revision(args.before, tmp / "before")
            codes.insert(0, (f"{args.before} ({commit[:12]})", tmp / "before"))
        write_png_folder(tmp / "png", args.images)
        sets = [("folder", f"folder:{tmp / 'png'}", str(tmp))]
        if not args.no_stacked_mnist:
            write_mnist(tmp / "data")
            sets.append(("stacked-mnist", "stacked-mnist", str(tmp / "data")))
        for label, name, data_root in sets:
            for code_label, code in codes:
                row = {"data": label, "code": code_label, **measure(code, name, data_root, args.steps, tmp)}
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    # atomically, without importing ganbench here (the children run the ganbench under test)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render(rows, args, time.perf_counter() - t0), encoding="utf-8")
    os.replace(tmp, out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What every result records about where it was made: versions, device, git commit, command line."""

from __future__ import annotations

import contextlib
import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import torch

from ganbench.errors import UserError

_PACKAGES = ("ganbench", "torch", "torchvision", "torch-fidelity", "numpy", "scipy", "pandas", "scikit-learn")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the ganbench checkout, with ``+dirty`` when it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"--device must be auto, cpu or cuda; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA GPU is available here; use --device cpu or auto")
    return torch.device(device)


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_label() -> str:
    """``<model name>, <instruction set> kernels``: the CPU as reports name it (see ``device_description``)."""
    return f"{cpu_model()}, {torch.backends.cpu.get_cpu_capability()} kernels"


def device_description(device: torch.device) -> dict:
    """The device, for a result's record. On CPU also the vector instruction set torch's kernels use
    (``torch.backends.cpu.get_cpu_capability()``: AVX2, AVX512, ...): training on two CPUs of different
    sets differs in the last bits and then diverges, so a run is bit-reproducible only on the same set."""
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda}
    return {"type": "cpu", "name": cpu_model(), "machine": platform.machine(),
            "capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def environment(device: torch.device) -> dict:
    return {
        "versions": package_versions(),
        "device": device_description(device),
        "git_commit": git_commit(),
        "command": sys.argv[:],
        "platform": platform.platform(),
    }


class _FlushDenormals(contextlib.ContextDecorator):
    """Flush denormal floats to zero inside the block: they make CPU convolutions up to 50x slower (seen
    with the WGAN-GP critic and DCGAN steps on digits). Used by training, evaluation and benchmarks.

    The flag is processor state of the calling thread (numpy sees it too), so the previous state is
    restored afterwards rather than left set for the rest of the process; nested uses are fine.
    """

    def _recreate_cm(self):  # a fresh instance per decorated call, so the saved state is never shared
        return type(self)()

    def __enter__(self):
        self.was_on = _flushing()
        torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc):
        if not self.was_on:
            torch.set_flush_denormal(False)
        return False


def _flushing() -> bool:
    """Whether denormals are flushed now (with the flag on, a denormal input reads as zero)."""
    return bool((torch.tensor([1e-40], dtype=torch.float32) * 1.0 == 0).item())


def flush_denormals() -> _FlushDenormals:
    """Context manager (and decorator) flushing denormals inside; see ``_FlushDenormals``."""
    return _FlushDenormals()

"""Reading and checking samples: from models, and from files made by any framework.

A samples file is ``.npy`` or ``.npz`` (key ``samples``). For 2D sets: float ``(N, 2)``. For image
sets: uint8 in [0, 255] or float in [0, 1], laid out NCHW, NHWC or NHW (one channel). Everything is
converted to ganbench's data space: points as they are, images float32 NCHW in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.data.base import DatasetInfo
from ganbench.errors import UserError

# A samples file larger than this is refused before it is read (a header may declare any size).
MAX_SAMPLE_BYTES = 8 * 2**30


def check_samples(x: torch.Tensor, info: DatasetInfo, what: str = "samples") -> torch.Tensor:
    """Validate data-space samples for ``info``: shape, dtype, finiteness and (images) range."""
    if not isinstance(x, torch.Tensor):
        raise UserError(f"{what} must be a torch.Tensor; got {type(x).__name__}")
    if not x.is_floating_point():
        raise UserError(f"{what} must be a float tensor in data space; got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[0] == 0:
        raise UserError(f"{what} is empty; expected shape (N, {', '.join(map(str, info.shape))}) with N >= 1")
    if tuple(x.shape[1:]) != tuple(info.shape):
        want = ", ".join(map(str, info.shape))
        raise UserError(f"{what} have shape {tuple(x.shape)}; {info.name} needs (N, {want})")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).flatten(1).any(1).sum())
        raise UserError(f"{what} contain NaN or Inf ({bad} of {x.shape[0]} samples)")
    if info.kind == "image":
        lo, hi = float(x.min()), float(x.max())
        if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
            raise UserError(f"{what} must be images in [-1, 1]; got values in [{lo:.3g}, {hi:.3g}]: "
                            "rescale with x * 2 - 1 from [0, 1]")  # fmt: skip
    return x


def read_samples_file(path: str | Path, info: DatasetInfo) -> torch.Tensor:
    """Read a samples file and convert it to data space for dataset ``info`` (see module docstring)."""
    arr = _load_array(Path(path))
    if info.kind == "points2d":
        return _points(arr, info, path)
    return _images(arr, info, path)


def _load_array(path: Path) -> np.ndarray:
    if not path.exists():
        raise UserError(f"--samples {path}: no such file")
    if path.suffix not in (".npy", ".npz"):
        raise UserError(f"--samples {path}: expected a .npy or .npz file")
    try:
        if path.suffix == ".npy":
            with open(path, "rb") as f:  # the header first: it may declare any size
                major, _ = np.lib.format.read_magic(f)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape, _, dtype = read_header(f)
                payload = path.stat().st_size - f.tell()
            _check_size(path, shape, dtype, payload)
            return np.load(path, allow_pickle=False)
        with np.load(path, allow_pickle=False) as z:
            if "samples" not in z.files:
                raise UserError(f"--samples {path}: the .npz has no array 'samples' (found: {', '.join(z.files)})")
            return z["samples"]
    except UserError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"--samples {path}: not a readable numpy file ({e})") from None


def _check_size(path: Path, shape: tuple, dtype: np.dtype, payload: int) -> None:
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > MAX_SAMPLE_BYTES:
        raise UserError(f"--samples {path}: declares {declared / 2**30:.1f} GiB of samples, over the "
                        f"{MAX_SAMPLE_BYTES // 2**30} GiB limit; pass fewer samples")  # fmt: skip
    if dtype.hasobject:
        raise UserError(f"--samples {path}: holds Python objects; save plain numeric arrays")
    if declared > payload:
        raise UserError(f"--samples {path}: header declares shape {shape} but the file is truncated")


def _points(arr: np.ndarray, info: DatasetInfo, path) -> torch.Tensor:
    if arr.ndim != 2 or arr.shape[1] != info.shape[0]:
        raise UserError(f"--samples {path}: {info.name} needs float points of shape (N, 2); got {arr.shape}")
    if arr.dtype.kind != "f":
        raise UserError(f"--samples {path}: points must be float; got {arr.dtype}")
    return check_samples(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), info, f"--samples {path}")


def _images(arr: np.ndarray, info: DatasetInfo, path) -> torch.Tensor:
    c, h, w = info.shape
    if arr.ndim == 3 and c == 1:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise UserError(f"--samples {path}: {info.name} needs images NCHW, NHWC or NHW of {h}x{w}; got {arr.shape}")
    if arr.shape[1:] == (h, w, c) and arr.shape[1:] != (c, h, w):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.shape[1:] != (c, h, w):
        raise UserError(f"--samples {path}: {info.name} needs images of {c}x{h}x{w} (NCHW or NHWC); got {arr.shape}")
    if arr.shape[0] == 0:
        raise UserError(f"--samples {path}: the file holds no samples")
    if arr.dtype == np.uint8:
        x = arr.astype(np.float32) / 127.5 - 1.0
    elif arr.dtype.kind == "f":
        x = arr.astype(np.float32)
        if not np.isfinite(x).all():
            raise UserError(f"--samples {path}: contains NaN or Inf")
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise UserError(f"--samples {path}: float images must be in [0, 1]; got values in [{lo:.3g}, {hi:.3g}]")
        x = x * 2.0 - 1.0
    else:
        raise UserError(f"--samples {path}: images must be uint8 in [0, 255] or float in [0, 1]; got {arr.dtype}")
    return check_samples(torch.from_numpy(np.ascontiguousarray(x)), info, f"--samples {path}")

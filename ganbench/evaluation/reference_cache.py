"""Features and Gaussian statistics of a whole real split, cached on disk.

The published FID compares generated samples with the statistics of the whole training set (50,000
CIFAR-10 images), and torch-fidelity's KID with all of its features. Extracting them takes minutes to
hours on a CPU, so they are computed once per (extractor weights, dataset definition, split) and kept in
``$GANBENCH_CACHE/reference`` (default ``~/.cache/ganbench/reference``):

- ``<dataset>-<split>-<key[:16]>.features.npy``: the feature matrix in the split's order (float32 when
  that is lossless, as for every built-in extractor, else float64), read memory-mapped;
- ``<dataset>-<split>-<key[:16]>.stats.npz``: the key, the number of samples, the mean and the unbiased
  covariance (float64), computed from the float64 features. Written after the features, so its presence
  means both are complete.

The key is a SHA-256 over the extractor's description without machine paths (name, weights SHA-256,
preprocessing, and for the classifier its recipe), the dataset's definition (``dataset_block``: split
sizes and a SHA-256 of its arrays) and the split. Both files are written atomically (temporary file,
fsync, rename); an unreadable or mismatched file is recomputed with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ganbench.data import Dataset
from ganbench.evaluation.protocol import FILE_KEY_SUFFIXES, dataset_block
from ganbench.metrics import GaussianStats
from ganbench.runs import files

__all__ = ["CHUNK", "reference_cache_dir", "reference_key", "reference_paths", "whole_split_reference"]

FORMAT = "ganbench-reference-1"
CHUNK = 5000  # images per extractor call: the float64 features of a chunk stay small (80 MB for Inception)


def reference_cache_dir() -> Path:
    """``$GANBENCH_CACHE/reference`` (default ``~/.cache/ganbench/reference``)."""
    return Path(os.path.expanduser(os.environ.get("GANBENCH_CACHE", "~/.cache/ganbench"))) / "reference"


def reference_key(extractor_info: dict, dataset: Dataset, split: str) -> str:
    """SHA-256 (hex) of what the split's features depend on; no file path enters it."""
    extractor = {k: v for k, v in extractor_info.items() if not k.endswith(FILE_KEY_SUFFIXES)}
    body = {"format": FORMAT, "extractor": extractor, "dataset": dataset_block(dataset), "split": split}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def reference_paths(extractor_info: dict, dataset: Dataset, split: str,
                    cache_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:  # fmt: skip
    """The ``(features, stats)`` files of the split under ``cache_dir`` (default ``reference_cache_dir()``)."""
    key = reference_key(extractor_info, dataset, split)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else reference_cache_dir()
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]', '_', dataset.name)}-{split}-{key[:16]}"
    return folder / f"{stem}.features.npy", folder / f"{stem}.stats.npz"


def whole_split_reference(model, dataset: Dataset, split: str,
                          cache_dir: str | os.PathLike | None = None) -> tuple[GaussianStats, np.ndarray]:  # fmt: skip
    """Statistics and features of every image of ``dataset``'s ``split`` under evaluator ``model``, in the
    split's order: read from the cache, or extracted in chunks of ``CHUNK`` and cached."""
    info = model.info()
    key = reference_key(info, dataset, split)
    feats_path, stats_path = reference_paths(info, dataset, split, cache_dir)
    images = getattr(dataset, split)
    cached = _load(feats_path, stats_path, key, len(images), model.feature_dim)
    if cached is not None:
        return cached
    stats, parts = GaussianStats(), []
    for start in range(0, len(images), CHUNK):
        feats, _ = model.features_and_probs(dataset.as_float(images[start : start + CHUNK]))
        stats.update(feats)
        as32 = feats.astype(np.float32)
        # Built-in extractors run in float32, so their float64 features survive float32 storage exactly.
        parts.append(as32 if np.array_equal(as32, feats) else feats)
    feats = np.concatenate(parts) if parts else np.zeros((0, model.feature_dim), np.float32)
    if feats.dtype != np.float32:
        feats = feats.astype(np.float64)
    try:
        files.atomic_write_with(feats_path, lambda f: np.save(f, feats))
        files.atomic_write_with(stats_path, lambda f: np.savez(f, format=FORMAT, key=key, n=stats.n,
                                                               mean=stats.mean, cov=stats.cov))  # fmt: skip
    except OSError as e:  # a read-only or full cache folder costs the next run the extraction, not this one
        warnings.warn(f"could not cache the {dataset.name} {split} features in {stats_path.parent} ({e}); "
                      "the next evaluation extracts them again", RuntimeWarning, stacklevel=2)  # fmt: skip
        return stats, feats
    # The file, memory-mapped, rather than the array: a long process holds page cache, not 1 GB of its own.
    return stats, np.load(feats_path, mmap_mode="r", allow_pickle=False)


def _load(feats_path: Path, stats_path: Path, key: str, n: int, dim: int) -> tuple[GaussianStats, np.ndarray] | None:
    if not stats_path.exists():
        return None
    try:
        with np.load(stats_path, allow_pickle=False) as z:
            if str(z["format"]) != FORMAT or str(z["key"]) != key or int(z["n"]) != n:
                raise ValueError("written for other data")
            stats = GaussianStats.from_moments(int(z["n"]), z["mean"], z["cov"])
        feats = np.load(feats_path, mmap_mode="r", allow_pickle=False)
        if feats.shape != (n, dim) or feats.dtype not in (np.float32, np.float64):
            raise ValueError(f"features of shape {feats.shape} and dtype {feats.dtype}, expected ({n}, {dim})")
    except Exception as e:  # noqa: BLE001  any failure to read means "compute again", never a crash
        why = " ".join(str(e).split())[:120]
        warnings.warn(f"reference cache {stats_path} is unreadable ({type(e).__name__}: {why}); recomputing it",
                      RuntimeWarning, stacklevel=3)  # fmt: skip
        return None
    return stats, feats

"""Real image datasets read from torchvision's on-disk files.

- ``mnist``, ``fashion-mnist``, ``cifar10``: torchvision's train and test splits, read through
  ``torchvision.datasets`` from ``data_root`` (torchvision's layout: ``MNIST/raw/``,
  ``FashionMNIST/raw/``, ``cifar-10-batches-py/``).
- ``stacked-mnist``: the Stacked MNIST of VEEGAN and PacGAN: 128,000 training images, each three
  MNIST train digits drawn at random (fixed data seed) stacked as RGB channels, 1,000 modes (digit
  triples); the test split stacks 10,000 triples of MNIST test digits.

Images are kept as uint8 NCHW (one byte a pixel: stacked-mnist's train split is 301 MB rather than 1.2 GB)
with ``UNIT_LEVELS``, so that in data space they are float32 ``uint8 / 255 * 2 - 1`` in ``[-1, 1]``
(``Dataset.as_float``); labels are int64. Nothing is
downloaded unless ``download=True``; missing or unreadable files raise a one-line ``UserError``.
"""

from __future__ import annotations

import os
import pickle
from urllib.error import URLError

import numpy as np
import torch

from ganbench.data.base import (
    Dataset,
    DatasetInfo,
    levels_to_float,
    pixel_levels,
    register_dataset,
)
from ganbench.data.embedded import stack_channels, triple_labels
from ganbench.errors import UserError

DEFAULT_DATA_ROOT = "~/.cache/ganbench/data"
STACKED_MNIST_TRAIN_SIZE = 128_000  # VEEGAN / PacGAN protocol
STACKED_MNIST_TEST_SIZE = 10_000
# Data seeds are fixed and distinct from training and evaluation seeds: the data never changes.
_TRAIN_DATA_SEED = 1234
_TEST_DATA_SEED = 5678

# What a failed download or a failed read raises inside torchvision (urllib, file system, its checks).
_LOAD_ERRORS = (
    RuntimeError, OSError, URLError, ValueError, TypeError, KeyError, AssertionError, EOFError, pickle.UnpicklingError
)

MNIST = DatasetInfo("mnist", "image", (1, 28, 28), 10, "torchvision", "MNIST handwritten digits, 60,000 + 10,000")
FASHION_MNIST = DatasetInfo(
    "fashion-mnist", "image", (1, 28, 28), 10, "torchvision", "Fashion-MNIST clothing, 60,000 + 10,000"
)
CIFAR10 = DatasetInfo("cifar10", "image", (3, 32, 32), 10, "torchvision", "CIFAR-10 photos, 50,000 + 10,000")
STACKED_MNIST = DatasetInfo(
    "stacked-mnist",
    "image",
    (3, 28, 28),
    1000,
    "torchvision",
    "three MNIST digits stacked as RGB, 128,000 train, 1,000 modes (VEEGAN/PacGAN)",
)


def resolve_data_root(data_root: str | None) -> str:
    """The folder real datasets live in: ``data_root``, else ``$GANBENCH_DATA``, else ``~/.cache/ganbench/data``."""
    if data_root is None:
        data_root = os.environ.get("GANBENCH_DATA", DEFAULT_DATA_ROOT)
    return os.path.abspath(os.path.expanduser(str(data_root)))


# The float32 value of each uint8 level in data space: uint8 / 255 * 2 - 1, computed in float32.
UNIT_LEVELS = pixel_levels(np.arange(256, dtype=np.float32) / 255 * 2 - 1)


def uint8_to_unit(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 ``uint8 / 255 * 2 - 1`` in ``[-1, 1]`` (the values ``UNIT_LEVELS`` holds)."""
    return levels_to_float(torch.as_tensor(np.ascontiguousarray(images)), UNIT_LEVELS)


def uint8_dataset(info: DatasetInfo, train: np.ndarray, test: np.ndarray, train_labels: np.ndarray | None,
                  test_labels: np.ndarray | None, extra: dict | None = None) -> Dataset:  # fmt: skip
    """A dataset of uint8 NCHW images in data space ``uint8 / 255 * 2 - 1``, kept as uint8 (one byte a pixel)."""
    def tensor(a):
        # Through a flat view: C strides even for a size-1 dimension ((N, 1, 28, 28) from a [:, None] view).
        return None if a is None else torch.from_numpy(np.ascontiguousarray(a).reshape(-1).reshape(a.shape))

    return Dataset(info, tensor(train), tensor(test), tensor(train_labels), tensor(test_labels), extra=extra or {},
                   levels=UNIT_LEVELS)  # fmt: skip


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _raise_if_missing(name: str, folder: str, files: list[str], download: bool, e: BaseException) -> None:
    """Turn torchvision's failure into "not found" or "download failed" when files are missing."""
    if all(os.path.isfile(os.path.join(folder, f)) for f in files):
        return  # the files are there: the caller reports them as unreadable
    if download:
        raise UserError(
            f"{name}: downloading into {folder} failed ({_one_line(e)}); without network access put the files "
            f"there yourself ({', '.join(files)}) or pass --data-root DIR pointing at a copy"
        ) from None
    raise UserError(
        f"{name}: files not found under {folder} (expected {', '.join(files)}); "
        "put them there, pass --data-root DIR, or download them once with ganbench.data.load_dataset(name, download=True)"
    ) from None


# --- MNIST and Fashion-MNIST -----------------------------------------------------------------------


def _mnist_class(which: str):
    # torchvision takes 2 s to import: only its readers need it
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[which]


def read_mnist_arrays(
    which: str = "mnist", data_root: str | None = None, download: bool = False, name: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read MNIST-format idx files through torchvision, as raw arrays.

    Args:
        which: ``"mnist"`` or ``"fashion-mnist"``.
        data_root: folder holding ``MNIST/raw/`` (or ``FashionMNIST/raw/``); see ``resolve_data_root``.
        download: let torchvision download missing files.
        name: dataset name used in error messages (defaults to ``which``).

    Returns:
        ``(train_images, train_labels, test_images, test_labels)``: uint8 ``(N, 1, 28, 28)`` and int64 ``(N,)``.

    Raises:
        UserError: files missing, unreadable, or the download failed.
    """
    cls = _mnist_class(which)
    name = name or which
    root = resolve_data_root(data_root)
    folder = os.path.join(root, cls.__name__, "raw")  # torchvision's raw_folder
    files = [os.path.splitext(f)[0] for f, _ in cls.resources]  # the unpacked idx files it reads
    out = []
    for train in (True, False):
        try:
            ds = cls(root, train=train, download=download)
        except _LOAD_ERRORS as e:
            _raise_if_missing(name, folder, files, download, e)
            raise UserError(
                f"{name}: could not read the idx files under {folder} ({_one_line(e)}); "
                "replace them with the original files"
            ) from None
        images = ds.data.numpy()[:, None]
        if images.shape[1:] != (1, 28, 28):  # an idx file of some other data set
            raise UserError(
                f"{name}: the images under {folder} are {tuple(images.shape[1:])}, not (1, 28, 28); "
                "replace them with the original files"
            )
        out += [images, ds.targets.numpy().astype(np.int64)]
    return tuple(out)


def _load_mnist_like(info: DatasetInfo, data_root: str | None, download: bool) -> Dataset:
    xtr, ytr, xte, yte = read_mnist_arrays(info.name, data_root, download)
    return uint8_dataset(info, xtr, xte, ytr, yte)


@register_dataset(MNIST)
def load_mnist(data_root: str | None = None, download: bool = False) -> Dataset:
    """MNIST: 60,000 train and 10,000 test digits, ``(1, 28, 28)`` in ``[-1, 1]``, labels 0-9."""
    return _load_mnist_like(MNIST, data_root, download)


@register_dataset(FASHION_MNIST)
def load_fashion_mnist(data_root: str | None = None, download: bool = False) -> Dataset:
    """Fashion-MNIST: 60,000 train and 10,000 test images, ``(1, 28, 28)`` in ``[-1, 1]``, 10 classes."""
    return _load_mnist_like(FASHION_MNIST, data_root, download)


# --- Stacked MNIST ---------------------------------------------------------------------------------


def build_stacked_mnist(
    data_root: str | None = None,
    download: bool = False,
    train_size: int = STACKED_MNIST_TRAIN_SIZE,
    test_size: int = STACKED_MNIST_TEST_SIZE,
) -> Dataset:
    """Stack three random MNIST digits as RGB channels (VEEGAN/PacGAN's Stacked MNIST).

    Args:
        data_root: folder holding ``MNIST/raw/``.
        download: let torchvision download missing MNIST files.
        train_size: stacked training images (the protocol's 128,000; smaller only for tests).
        test_size: stacked test images, drawn from MNIST's test digits.

    Returns:
        The dataset; labels are digit triples ``100 a + 10 b + c`` and ``extra`` holds the
        per-channel digits (``train_channel_labels``, ``test_channel_labels``, ``(N, 3)``).
    """
    xtr, ytr, xte, yte = read_mnist_arrays("mnist", data_root, download, name="stacked-mnist")
    str_, ctr = stack_channels(xtr, ytr, train_size, _TRAIN_DATA_SEED)
    ste, cte = stack_channels(xte, yte, test_size, _TEST_DATA_SEED)
    return uint8_dataset(STACKED_MNIST, str_, ste, triple_labels(ctr), triple_labels(cte),
                         {"train_channel_labels": ctr, "test_channel_labels": cte, "base": "mnist",
                          "data_root": data_root})  # fmt: skip


@register_dataset(STACKED_MNIST)
def load_stacked_mnist(data_root: str | None = None, download: bool = False) -> Dataset:
    """Stacked MNIST at the protocol's sizes: 128,000 train, 10,000 test, 1,000 modes."""
    return build_stacked_mnist(data_root, download)


# --- CIFAR-10 --------------------------------------------------------------------------------------


def _cifar10_class(verify_checksums: bool):
    """torchvision's CIFAR10, or the same class with its md5 checks relaxed to "the files exist"."""
    from torchvision.datasets import CIFAR10 as TorchCIFAR10
    from torchvision.datasets.utils import check_integrity

    if verify_checksums:
        return TorchCIFAR10

    class UncheckedCIFAR10(TorchCIFAR10):
        # Same reader; only the md5 comparison is skipped (for hand-made or re-packed copies).
        meta = {**TorchCIFAR10.meta, "md5": None}  # _load_meta checks this md5 too

        def _check_integrity(self) -> bool:
            folder = os.path.join(self.root, self.base_folder)
            return all(check_integrity(os.path.join(folder, f)) for f, _ in self.train_list + self.test_list)

    return UncheckedCIFAR10


@register_dataset(CIFAR10)
def load_cifar10(data_root: str | None = None, download: bool = False, verify_checksums: bool = True) -> Dataset:
    """CIFAR-10: 50,000 train and 10,000 test photos, ``(3, 32, 32)`` in ``[-1, 1]``, 10 classes.

    torchvision reads CIFAR's "python version" batches with ``pickle``: that is the format the
    dataset is distributed in, so only point ``data_root`` at copies you trust.

    Args:
        data_root: folder holding ``cifar-10-batches-py/``; see ``resolve_data_root``.
        download: let torchvision download the archive when files are missing or corrupt.
        verify_checksums: compare each file's md5 with the originals' (turn off only for
            hand-made test files or re-packed copies).

    Raises:
        UserError: files missing, corrupt (checksum mismatch) or the download failed.
    """
    cls = _cifar10_class(verify_checksums)
    root = resolve_data_root(data_root)
    folder = os.path.join(root, cls.base_folder)
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    arrays = []
    for train in (True, False):
        try:
            ds = cls(root, train=train, download=download)
        except _LOAD_ERRORS as e:
            _raise_if_missing("cifar10", folder, files, download, e)
            raise UserError(
                f"cifar10: the files under {folder} are corrupt or not the originals ({_one_line(e)}); "
                "replace them" + ("" if download else " (or download them again with ganbench.data.load_dataset(name, download=True))")
            ) from None
        arrays += [ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets, dtype=np.int64)]  # NHWC -> NCHW
    xtr, ytr, xte, yte = arrays
    return uint8_dataset(CIFAR10, xtr, xte, ytr, yte)

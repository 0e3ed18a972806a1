"""``folder:PATH`` datasets: every image file under a folder.

Images (png, jpg, jpeg, bmp, webp; any depth; hidden files and folders skipped) are read in
sorted path order with PIL and must all share one size. They load as one channel when every file
is grayscale, else all as RGB (alpha dropped). When every image sits inside a first-level subfolder
(torchvision's ImageFolder layout), the subfolders are the classes: labels are their sorted index.
The images are split 90/10 into train and test with a fixed permutation, so a folder always gives
the same splits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganbench.data.base import Dataset, DatasetInfo
from ganbench.data.real import uint8_dataset
from ganbench.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
GRAYSCALE_MODES = ("1", "L", "LA")  # PIL modes loaded as one channel; others convert to RGB
TEST_FRACTION = 0.1
_SPLIT_SEED = 0


@dataclass(frozen=True)
class _Scan:
    """What a folder holds, from file headers only."""

    files: list[str]  # absolute paths, sorted by relative path
    classes: list[str] | None  # sorted first-level subfolder names, or None when not ImageFolder layout
    labels: np.ndarray | None  # class index per file
    size: tuple[int, int]  # (width, height)
    channels: int


def _image_files(root: str) -> list[str]:
    """Relative paths (``/``-separated) of the image files under ``root``, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .git, .ipynb_checkpoints, ...
        rel_dir = os.path.relpath(dirpath, root)
        for f in filenames:
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS):  # ._x.png: macOS metadata
                rel = f if rel_dir == "." else os.path.join(rel_dir, f)
                found.append(rel.replace(os.sep, "/"))
    return sorted(found)


def _header(name: str, path: str) -> tuple[tuple[int, int], str]:
    """Size and mode of one image; PIL's open reads the header, not the pixels."""
    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except (OSError, ValueError) as e:
        why = " ".join(str(e).split())  # one line whatever PIL says
        raise UserError(f"{name}: cannot read {path} as an image ({why}); remove or replace it") from None


def _scan(path: str) -> _Scan:
    name = f"folder:{path}"
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(root):
        raise UserError(f"{name}: {root} is not a folder; pass folder:PATH with a folder of images")
    rel = _image_files(root)
    if len(rel) < 2:
        raise UserError(
            f"{name}: found {len(rel)} image file(s) under {root}, need at least 2 "
            f"({', '.join(IMAGE_EXTENSIONS)}); pass a folder that holds the images"
        )
    files = [os.path.join(root, r) for r in rel]
    size, first_mode = _header(name, files[0])
    gray = first_mode in GRAYSCALE_MODES
    for f in files[1:]:
        s, mode = _header(name, f)
        if s != size:
            raise UserError(
                f"{name}: {f} is {s[0]}x{s[1]} but {files[0]} is {size[0]}x{size[1]}; "
                "all images must share one size: resize them first"
            )
        gray = gray and mode in GRAYSCALE_MODES
    classes = labels = None
    if all("/" in r for r in rel):  # ImageFolder layout: every image inside a first-level subfolder
        tops = [r.split("/", 1)[0] for r in rel]
        classes = sorted(set(tops))
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[t] for t in tops], dtype=np.int64)
    return _Scan(files, classes, labels, size, 1 if gray else 3)


def _info(path: str, scan: _Scan) -> DatasetInfo:
    w, h = scan.size
    layout = f", {len(scan.classes)} classes" if scan.classes else ""
    return DatasetInfo(
        name=f"folder:{path}",
        kind="image",
        shape=(scan.channels, h, w),
        num_modes=len(scan.classes) if scan.classes else None,
        source="folder",
        description=f"{len(scan.files)} images from {path}{layout}",
    )


def folder_info(path: str) -> DatasetInfo:
    """Describe ``folder:PATH`` from file headers, without decoding pixels.

    Args:
        path: a folder of images, optionally with one subfolder per class.

    Raises:
        UserError: missing folder, fewer than two images, unreadable file or mixed sizes.
    """
    return _info(path, _scan(path))


def _read_pixels(name: str, files: list[str], channels: int, size: tuple[int, int]) -> np.ndarray:
    """All images as uint8 ``(N, C, H, W)``, filled in place to keep one copy in memory."""
    w, h = size
    out = np.empty((len(files), channels, h, w), dtype=np.uint8)
    mode = "L" if channels == 1 else "RGB"
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                a = np.asarray(im.convert(mode))
        except (OSError, ValueError) as e:  # a header can be fine and the pixels truncated
            raise UserError(f"{name}: cannot decode {f} ({e}); remove or replace it") from None
        out[i] = a[None] if channels == 1 else a.transpose(2, 0, 1)
    return out


def split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices of ``n`` images: a fixed permutation, the first 10% (at least 1) for test."""
    perm = np.random.default_rng(_SPLIT_SEED).permutation(n)
    n_test = max(1, int(round(n * TEST_FRACTION)))
    return perm[n_test:], perm[:n_test]


def load_folder(path: str) -> Dataset:
    """Load ``folder:PATH``: uint8 NCHW images (``uint8 / 255 * 2 - 1`` in data space), split 90/10.

    Args:
        path: a folder of images, optionally with one subfolder per class (ImageFolder layout).

    Returns:
        The dataset; labels are class indices in ImageFolder layout, else None.
        ``extra`` holds ``classes`` (class folder names, or None) and the paths behind each split
        (``train_files``, ``test_files``).

    Raises:
        UserError: missing folder, fewer than two images, unreadable file or mixed sizes.
    """
    scan = _scan(path)
    train, test = split_indices(len(scan.files))
    # Read straight into split order, so that the two splits are views of one array: one byte a pixel at peak.
    order = np.concatenate([train, test])
    pixels = _read_pixels(f"folder:{path}", [scan.files[i] for i in order], scan.channels, scan.size)
    labels = scan.labels
    extra = {
        "classes": scan.classes,
        "train_files": [scan.files[i] for i in train.tolist()],
        "test_files": [scan.files[i] for i in test.tolist()],
    }
    return uint8_dataset(_info(path, scan), pixels[: len(train)], pixels[len(train) :],
                         labels[train] if labels is not None else None,
                         labels[test] if labels is not None else None, extra)  # fmt: skip

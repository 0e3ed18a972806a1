"""The dataset record shared by all loaders, and the dataset registry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ganbench.registry import Registry


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, without loading it.

    Attributes:
        name: registry name (``ring8``, ``digits``, ...).
        kind: ``"points2d"`` for 2D mixtures or ``"image"``.
        shape: shape of one sample: ``(2,)`` or ``(C, H, W)``.
        num_modes: number of modes (mixture components or classes), ``None`` when unknown.
        source: ``"embedded"`` (no download), ``"torchvision"`` (real files) or ``"folder"``.
        description: one line for ``ganbench list datasets``.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    num_modes: int | None
    source: str
    description: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "shape": list(self.shape),
            "num_modes": self.num_modes,
            "source": self.source,
            "description": self.description,
        }


def pixel_levels(values: np.ndarray) -> torch.Tensor:
    """The float32 value in data space of each of the 256 uint8 levels, from ``values`` (float64 or float32,
    one per level); the table a uint8 image set carries as ``Dataset.levels``."""
    values = np.asarray(values)
    if values.shape != (256,):
        raise ValueError(f"pixel levels must be 256 values, one per uint8 level; got shape {values.shape}")
    return torch.from_numpy(values.astype(np.float32))


def levels_to_float(x: torch.Tensor, levels: torch.Tensor | None) -> torch.Tensor:
    """uint8 ``x`` as float through the table ``levels`` (on ``x``'s device); any other ``x`` unchanged.

    A look-up rather than arithmetic: every level maps to exactly the float32 the table holds, on any device.
    The result has ``x``'s strides, as ``x.float()`` would: convolution kernels pick their memory layout from
    the strides (even those of a size-1 channel dimension), and with them their rounding.
    """
    if x.dtype != torch.uint8:
        return x
    if levels is None:
        raise ValueError("uint8 images need their pixel levels (Dataset.levels) to become floats")
    y = levels.to(x.device)[x.long()]
    if y.stride() != x.stride():
        y = torch.empty_like(x, dtype=y.dtype).copy_(y)
    return y


@dataclass
class Dataset:
    """A loaded dataset.

    Points are float32 ``(N, 2)``. Images are stored as uint8 NCHW pixel levels (one byte a pixel, so a large
    image set fits in memory and on a GPU) with ``levels``, the float32 value of each level in data space
    (``[-1, 1]``); ``as_float`` turns any batch of them into the float32 NCHW images models and metrics see,
    and ``train_float`` / ``test_float`` a whole split. A dataset built with float images (``levels`` None)
    works the same: ``as_float`` returns them unchanged.

    Attributes:
        info: the static description.
        train: training split (float32 points, uint8 image levels, or float images).
        test: held-out split (the real-data reference for metrics), stored as ``train``.
        train_labels, test_labels: int64 mode labels (mixture component, class, or digit triple), or None.
        centers: mixture means ``(num_modes, 2)`` for 2D mixtures, else None.
        sd: the mixtures' isotropic standard deviation, else None.
        extra: loader-specific data (stacked sets: ``(N, 3)`` per-channel digit labels of each split).
        levels: float32 ``(256,)``, the data-space value of each uint8 level, when the splits are uint8.
    """

    info: DatasetInfo
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    centers: np.ndarray | None = None
    sd: float | None = None
    extra: dict = field(default_factory=dict)
    levels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        stored = {self.train.dtype, self.test.dtype}
        if torch.uint8 in stored and len(stored) > 1:
            raise ValueError(f"dataset {self.info.name!r}: train and test must both be uint8 or both float; "
                             f"got {self.train.dtype} and {self.test.dtype}")  # fmt: skip
        if torch.uint8 in stored and (self.levels is None or self.levels.shape != (256,)
                                      or self.levels.dtype != torch.float32):  # fmt: skip
            raise ValueError(f"dataset {self.info.name!r}: uint8 images need levels, float32 (256,) "
                             "(see pixel_levels)")  # fmt: skip
        if torch.uint8 not in stored and self.levels is not None:
            raise ValueError(f"dataset {self.info.name!r}: levels apply to uint8 images; these are "
                             f"{self.train.dtype}: pass levels=None")  # fmt: skip

    @property
    def name(self) -> str:
        return self.info.name

    def as_float(self, x: torch.Tensor) -> torch.Tensor:
        """Samples of this dataset (a batch indexed from a split, on any device) in data space, as float."""
        return levels_to_float(x, self.levels)

    def train_float(self) -> torch.Tensor:
        """The whole training split as float in data space (a float copy of a uint8 split: 4 bytes a pixel)."""
        return self.as_float(self.train)

    def test_float(self) -> torch.Tensor:
        """The whole held-out split as float in data space."""
        return self.as_float(self.test)

    def float_chunks(self, split: str, rows: int = 4096) -> Iterator[torch.Tensor]:
        """``split`` (``"train"`` or ``"test"``) as float in data space, ``rows`` samples at a time, in order."""
        data = getattr(self, split)
        for start in range(0, len(data), rows):
            yield self.as_float(data[start : start + rows])

    def mode_structure(self) -> dict:
        """The mode structure metrics need, as plain data (centres and sd, or label counts)."""
        out: dict = {"num_modes": self.info.num_modes}
        if self.centers is not None:
            out["centers"] = self.centers.tolist()
            out["sd"] = self.sd
        return out


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its info and how to load it (``load(data_root, download) -> Dataset``)."""

    info: DatasetInfo
    load: Callable[..., Dataset]


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(info: DatasetInfo):
    """Decorator registering ``load(data_root=None, download=False) -> Dataset`` under ``info.name``."""

    def add(load: Callable[..., Dataset]) -> Callable[..., Dataset]:
        DATASETS.register(info.name, DatasetSpec(info, load))
        return load

    return add

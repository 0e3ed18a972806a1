"""The dataset record shared by all loaders, and the dataset registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from ganbench.errors import UserError
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


@dataclass
class Dataset:
    """A loaded dataset in data space.

    Points are float32 ``(N, 2)``; images are float32 NCHW in ``[-1, 1]``.

    Attributes:
        info: the static description.
        train: training split.
        test: held-out split (the real-data reference for metrics).
        train_labels, test_labels: int64 mode labels (mixture component, class, or digit triple), or None.
        centers: mixture means ``(num_modes, 2)`` for 2D mixtures, else None.
        sd: the mixtures' isotropic standard deviation, else None.
        channel_labels: for stacked sets, ``(N, 3)`` per-channel digit labels of each split.
    """

    info: DatasetInfo
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    centers: np.ndarray | None = None
    sd: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.info.name

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

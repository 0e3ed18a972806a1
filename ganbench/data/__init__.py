"""Datasets: embedded (no download) and real (torchvision files or a folder of images).

Built-in datasets register themselves in ``embedded`` and ``real``; ``folder:PATH`` names any folder of
images.
"""

from __future__ import annotations

from ganbench.data import embedded, folder, real  # noqa: F401  (registers the built-in datasets)
from ganbench.data.base import DATASETS, Dataset, DatasetInfo, register_dataset
from ganbench.errors import UserError

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]


_CACHE: dict[tuple, Dataset] = {}


def get_dataset_info(name: str) -> DatasetInfo:
    """The ``DatasetInfo`` for a registered name or ``folder:PATH``."""
    if name.startswith("folder:"):
        return folder.folder_info(name[len("folder:"):])
    try:
        return DATASETS.get(name).info
    except KeyError as e:
        raise UserError(str(e)) from None


def load_dataset(name: str, data_root: str | None = None, download: bool = False) -> Dataset:
    """Load a dataset by name (cached in memory per process).

    Args:
        name: a registered name (``ganbench list datasets``) or ``folder:PATH``.
        data_root: where real datasets' files live (torchvision layout).
        download: allow torchvision to download missing files.
    """
    key = (name, data_root, download)
    if key not in _CACHE:
        if name.startswith("folder:"):
                _CACHE[key] = folder.load_folder(name[len("folder:"):])
        else:
            try:
                spec = DATASETS.get(name)
            except KeyError as e:
                raise UserError(str(e)) from None
            _CACHE[key] = spec.load(data_root=data_root, download=download)
    return _CACHE[key]


def list_datasets() -> list[DatasetInfo]:
    return [DATASETS.get(n).info for n in DATASETS.names()]

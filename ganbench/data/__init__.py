"""Datasets: embedded (no download) and real (torchvision files or a folder of images).

Built-in datasets register themselves in ``embedded`` and ``real``; ``folder:PATH`` names any folder of
images.
"""

from __future__ import annotations

from ganbench.caches import BoundedCache
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


# A suite scores up to four datasets, and a stacked set loads its base too: eight keeps every dataset of
# a suite run loaded, while a process walking many folders or real sets does not hold them all.
_CACHE: BoundedCache[Dataset] = BoundedCache("datasets", maxsize=8)


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
    return _CACHE.get_or_compute((name, data_root, download), lambda: _load(name, data_root, download))


def _load(name: str, data_root: str | None, download: bool) -> Dataset:
    if name.startswith("folder:"):
        return folder.load_folder(name[len("folder:"):])
    try:
        spec = DATASETS.get(name)
    except KeyError as e:
        raise UserError(str(e)) from None
    return spec.load(data_root=data_root, download=download)


def list_datasets() -> list[DatasetInfo]:
    return [DATASETS.get(n).info for n in DATASETS.names()]

"""Datasets: embedded (no download) and real (torchvision files or a folder of images)."""

from ganbench.data import embedded, real  # noqa: F401  (registers the built-in datasets)
from ganbench.data.base import (
    DATASETS,
    Dataset,
    DatasetInfo,
    get_dataset_info,
    list_datasets,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetInfo",
    "get_dataset_info",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]

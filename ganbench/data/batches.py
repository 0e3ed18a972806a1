"""The training split where the training steps read it, and its batches in data space.

A training step reads one batch. When the stored split fits on the training device (a GPU) it moves there
once and every batch is gathered there, from indices that are on the device too: no host round trip per
step. Otherwise batches are gathered in host memory and only they cross to the device, as uint8 for image
sets (a quarter of the float bytes). Either way a uint8 batch turns into floats on the device through the
dataset's level table (``Dataset.levels``), so batch k holds the same floats wherever it was gathered.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ganbench.data.base import Dataset, levels_to_float

# The share of a GPU's free memory the training split may take; the rest is the model's and the steps'.
DEVICE_SHARE = 0.5
PREPARE_ROWS = 4096  # rows per chunk of the split handed to a model's prepare_sampling


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of data fit in ``DEVICE_SHARE`` of ``device``'s free memory (CUDA only: on the
    CPU the data are where they would move to already)."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_SHARE * free


class TrainingData:
    """The training split of ``dataset`` for steps on ``device``.

    Attributes:
        device: the training device; batches come out there, as float in data space.
        on_device: whether the stored split was moved to ``device`` (it fits there and is not host memory).
        index_device: where batch indices should be (``device`` when ``on_device``, else the CPU).
    """

    def __init__(self, dataset: Dataset, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format) -> None:  # fmt: skip
        self.device, self.memory_format = device, memory_format
        data = dataset.train
        self.on_device = fits_on_device(data.numel() * data.element_size(), device)
        self.data = data.to(device) if self.on_device else data
        self.levels = None if dataset.levels is None else dataset.levels.to(device)
        self.index_device = device if self.on_device else torch.device("cpu")

    def __len__(self) -> int:
        return len(self.data)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The samples at ``indices`` (any shape: ``(B,)``, or ``(S, B)`` for S seeds' batches) as float on
        the device; an image batch ``(B, C, H, W)`` in ``memory_format``."""
        x = self.data[indices.to(self.index_device)]
        x = levels_to_float(x.to(self.device, non_blocking=True), self.levels)
        if x.dim() == 4 and self.memory_format != torch.contiguous_format:
            x = x.contiguous(memory_format=self.memory_format)
        return x

    def float_chunks(self, rows: int = PREPARE_ROWS) -> Iterator[torch.Tensor]:
        """The whole split in order, ``rows`` samples at a time, as float on the device."""
        for start in range(0, len(self.data), rows):
            yield levels_to_float(self.data[start : start + rows].to(self.device, non_blocking=True), self.levels)

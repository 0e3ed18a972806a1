"""Training batches: gathered where the split is, float in data space on the training device."""

from __future__ import annotations

import pytest
import torch

from ganbench.data import load_dataset
from ganbench.data.batches import TrainingData, fits_on_device
from ganbench.training import BatchSampler

CPU = torch.device("cpu")


def test_cpu_batches_are_the_split_rows_as_floats():
    d = load_dataset("digits")
    data = TrainingData(d, CPU)
    assert not data.on_device and data.index_device == CPU and len(data) == len(d.train)
    idx = torch.tensor([3, 0, 1436, 3])
    x = data.batch(idx)
    reference = d.train[idx].float() / 16 * 2 - 1  # the digits' grey levels 0..16 scaled to [-1, 1]
    assert x.dtype == torch.float32 and torch.equal(x, reference)
    assert x.stride() == d.train[idx].stride()  # the layout the stored rows have (see levels_to_float)


def test_seed_stacked_indices_give_stacked_batches():
    d = load_dataset("digits")
    data = TrainingData(d, CPU)
    idx = torch.tensor([[1, 2, 3], [4, 5, 6]])
    assert torch.equal(data.batch(idx), torch.stack([data.batch(idx[0]), data.batch(idx[1])]))


def test_points_pass_through_and_chunks_cover_the_split_in_order():
    d = load_dataset("ring8")
    data = TrainingData(d, CPU)
    assert torch.equal(data.batch(torch.tensor([5, 7])), d.train[[5, 7]])
    chunks = list(data.float_chunks(rows=30_000))
    assert [len(c) for c in chunks] == [30_000, 30_000, 30_000, 10_000] and torch.equal(torch.cat(chunks), d.train)


def test_channels_last_batches_hold_the_same_values():
    d = load_dataset("stacked-digits")
    idx = torch.arange(8)
    x = TrainingData(d, CPU, torch.channels_last).batch(idx)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    assert torch.equal(x, TrainingData(d, CPU).batch(idx))


def test_the_host_is_never_a_device_to_move_to():
    assert not fits_on_device(1, CPU)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_split_and_the_indices_live_on_the_device():
    d = load_dataset("stacked-digits")
    dev = torch.device("cuda")
    data = TrainingData(d, dev)
    assert data.on_device and data.data.device.type == "cuda" and data.data.dtype == torch.uint8
    sampler = BatchSampler(len(data), 64, 3, data.index_device)
    idx = sampler.indices(5)
    assert idx.device.type == "cuda"
    assert torch.equal(data.batch(idx).cpu(), TrainingData(d, CPU).batch(idx.cpu()))
    assert torch.equal(idx.cpu(), BatchSampler(len(data), 64, 3).indices(5))  # the same batch k on either device

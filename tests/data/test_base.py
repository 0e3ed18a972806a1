"""The dataset record: uint8 images with their level table, and their floats in data space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ganbench.data import load_dataset
from ganbench.data.base import Dataset, DatasetInfo, levels_to_float, pixel_levels
from ganbench.data.real import UNIT_LEVELS

INFO = DatasetInfo("tiny", "image", (1, 2, 2), None, "embedded")


def test_unit_levels_are_uint8_over_255_in_float32():
    levels = np.arange(256, dtype=np.float32)
    assert UNIT_LEVELS.dtype == torch.float32 and UNIT_LEVELS.shape == (256,)
    np.testing.assert_array_equal(UNIT_LEVELS.numpy(), levels / np.float32(255) * np.float32(2) - np.float32(1))
    assert (UNIT_LEVELS[0].item(), UNIT_LEVELS[255].item()) == (-1.0, 1.0)


def test_levels_to_float_looks_up_each_pixel_and_keeps_strides():
    x = torch.tensor([[[[0, 255], [7, 128]]]], dtype=torch.uint8)
    y = levels_to_float(x, UNIT_LEVELS)
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert y.flatten().tolist() == [UNIT_LEVELS[v].item() for v in (0, 255, 7, 128)]
    odd = torch.empty(3, 2, 2, 1, dtype=torch.uint8).permute(0, 3, 1, 2)  # (3, 1, 2, 2), channel stride 1
    odd.copy_(torch.arange(12, dtype=torch.uint8).reshape(3, 1, 2, 2))
    assert levels_to_float(odd, UNIT_LEVELS).stride() == odd.stride() == odd.float().stride()
    points = torch.randn(4, 2)
    assert levels_to_float(points, None) is points  # floats pass through


def test_dataset_as_float_chunks_and_whole_splits_agree():
    train = torch.randint(0, 256, (10, 1, 2, 2), dtype=torch.uint8)
    d = Dataset(INFO, train, train[:3].clone(), levels=UNIT_LEVELS)
    whole = d.train_float()
    assert whole.dtype == torch.float32 and torch.equal(whole, UNIT_LEVELS[train.long()])
    assert torch.equal(torch.cat(list(d.float_chunks("train", rows=4))), whole)
    assert [len(c) for c in d.float_chunks("train", rows=4)] == [4, 4, 2]
    assert torch.equal(d.as_float(train[[2, 5]]), whole[[2, 5]])
    assert torch.equal(d.test_float(), whole[:3])


def test_dataset_validates_its_storage():
    u8 = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
    with pytest.raises(ValueError, match="uint8 images need levels"):
        Dataset(INFO, u8, u8)
    with pytest.raises(ValueError, match="both be uint8 or both float"):
        Dataset(INFO, u8, u8.float(), levels=UNIT_LEVELS)
    with pytest.raises(ValueError, match="levels apply to uint8 images"):
        Dataset(INFO, u8.float(), u8.float(), levels=UNIT_LEVELS)
    with pytest.raises(ValueError, match="256 values"):
        pixel_levels(np.arange(17))
    assert Dataset(INFO, u8.float(), u8.float()).as_float(u8.float()).dtype == torch.float32  # float images work


def test_digits_are_grey_levels_whose_floats_are_sklearns_images_scaled():
    """Independent reference: scikit-learn's digits scaled as level / 16 * 2 - 1 in float64, then float32."""
    d = load_digits()
    ref = (d.images / 16.0 * 2.0 - 1.0).astype(np.float32)[:, None]
    xtr, xte = train_test_split(ref, test_size=0.2, random_state=0, stratify=d.target)[:2]
    ds = load_dataset("digits")
    assert ds.train.dtype == torch.uint8 and int(ds.train.max()) == 16
    np.testing.assert_array_equal(ds.train_float().numpy(), xtr)
    np.testing.assert_array_equal(ds.test_float().numpy(), xte)
    stacked = load_dataset("stacked-digits")
    assert stacked.train.dtype == torch.uint8 and torch.equal(stacked.levels, ds.levels)

"""``folder:PATH`` datasets read from PNG (and other) files written with PIL."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.data import folder
from ganbench.data import get_dataset_info, load_dataset
from ganbench.errors import UserError


def write_image(path, value, size=(8, 6), mode="L") -> None:
    """A constant image of ``value`` (an int, or an RGB tuple) so the pixels identify the file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new(mode, size, value).save(path)


def value_of(path) -> int:
    return int(os.path.splitext(os.path.basename(path))[0].split("_")[-1])


def write_classes(root, per_class=10, classes=("cat", "dog", "eel"), mode="L") -> None:
    for c, name in enumerate(classes):
        for i in range(per_class):
            v = 10 * c + i
            write_image(os.path.join(root, name, f"img_{v}.png"), v if mode == "L" else (v, v, v), mode=mode)


def test_class_subfolders_give_labels(tmp_path):
    write_classes(tmp_path)
    ds = folder.load_folder(str(tmp_path))
    assert ds.info.name == f"folder:{tmp_path}"
    assert (ds.info.kind, ds.info.source, ds.info.shape, ds.info.num_modes) == ("image", "folder", (1, 6, 8), 3)
    assert ds.train.shape == (27, 1, 6, 8) and ds.test.shape == (3, 1, 6, 8)  # 90/10
    assert ds.train.dtype == ds.test.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64  # a byte a pixel
    # read straight into split order: both splits are views of one array, no copy of the pixels at any point
    assert ds.test.data_ptr() == ds.train.data_ptr() + ds.train.nbytes
    assert ds.extra["classes"] == ["cat", "dog", "eel"]
    splits = [(ds.train, ds.train_labels, ds.extra["train_files"]), (ds.test, ds.test_labels, ds.extra["test_files"])]
    for x, y, files in splits:
        for img, label, f in zip(x, y.tolist(), files):
            assert label == ["cat", "dog", "eel"].index(os.path.basename(os.path.dirname(f)))
            assert torch.all(img == value_of(f))
            as_float = ds.as_float(img)
            assert as_float.dtype == torch.float32 and torch.all(as_float == value_of(f) / 255 * 2 - 1)
            assert label == value_of(f) // 10


def test_split_is_fixed_and_covers_every_file(tmp_path):
    write_classes(tmp_path)
    a, b = folder.load_folder(str(tmp_path)), folder.load_folder(str(tmp_path))
    assert a.extra["test_files"] == b.extra["test_files"] and torch.equal(a.train, b.train)
    files = a.extra["train_files"] + a.extra["test_files"]
    assert len(files) == len(set(files)) == 30


def test_flat_folder_has_no_labels(tmp_path):
    for i in range(12):
        write_image(tmp_path / f"x_{i}.png", i)
    ds = folder.load_folder(str(tmp_path))
    assert ds.train_labels is None and ds.test_labels is None and ds.info.num_modes is None
    assert ds.extra["classes"] is None
    assert len(ds.train) + len(ds.test) == 12 and len(ds.test) == 1


def test_images_beside_subfolders_are_not_classes(tmp_path):
    write_classes(tmp_path, per_class=2)
    write_image(tmp_path / "loose_99.png", 99)
    ds = folder.load_folder(str(tmp_path))
    assert ds.info.num_modes is None and ds.train_labels is None
    assert len(ds.train) + len(ds.test) == 7


def test_mixed_gray_and_color_load_as_rgb(tmp_path):
    write_image(tmp_path / "a" / "g_0.png", 200)
    write_image(tmp_path / "b" / "c_0.png", (255, 0, 0), mode="RGB")
    write_image(tmp_path / "b" / "c_1.png", (0, 0, 255, 128), mode="RGBA")
    ds = folder.load_folder(str(tmp_path))
    assert ds.info.shape == (3, 6, 8)
    files = ds.extra["train_files"] + ds.extra["test_files"]
    images = {os.path.basename(f): x for x, f in zip(torch.cat([ds.train_float(), ds.test_float()]), files)}
    assert torch.all(images["g_0.png"] == 200 / 255 * 2 - 1)  # gray replicated in R, G and B
    assert images["c_0.png"][:, 0, 0].tolist() == [1.0, -1.0, -1.0]
    assert images["c_1.png"][:, 0, 0].tolist() == [-1.0, -1.0, 1.0]  # alpha dropped


def test_formats_and_gray_detection(tmp_path):
    write_image(tmp_path / "a_0.png", 0)
    write_image(tmp_path / "b_1.BMP", 1)
    write_image(tmp_path / "c_2.JPG", 2)
    (tmp_path / "notes.txt").write_text("not an image")
    write_image(tmp_path / ".hidden" / "e_4.png", 4, mode="RGB")  # hidden folders are skipped
    info = folder.folder_info(str(tmp_path))
    assert info.shape == (1, 6, 8) and info.description.startswith("3 images")
    write_image(tmp_path / "d_3.webp", 3)  # WebP has no grayscale mode: PIL reads it back as RGB
    info = folder.folder_info(str(tmp_path))
    assert info.shape == (3, 6, 8) and info.description.startswith("4 images")


def test_mismatched_sizes_name_file_and_sizes(tmp_path):
    write_image(tmp_path / "a.png", 0, size=(8, 6))
    write_image(tmp_path / "b.png", 0, size=(8, 6))
    write_image(tmp_path / "c.png", 0, size=(5, 4))
    for fn in (folder.folder_info, folder.load_folder):
        with pytest.raises(UserError, match=r"c\.png is 5x4 but .*a\.png is 8x6; .*resize") as e:
            fn(str(tmp_path))
        assert "\n" not in str(e.value)


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(UserError, match=r"^folder:.*found 0 image file\(s\)"):
        folder.load_folder(str(tmp_path))
    with pytest.raises(UserError, match=r"^folder:.*nope is not a folder"):
        folder.folder_info(str(tmp_path / "nope"))


def test_info_reads_headers_only(tmp_path):
    write_image(tmp_path / "a.png", 0, size=(64, 64))
    write_image(tmp_path / "b.png", 0, size=(64, 64))
    data = (tmp_path / "b.png").read_bytes()
    (tmp_path / "b.png").write_bytes(data[: len(data) // 2])  # header intact, pixels cut off
    assert folder.folder_info(str(tmp_path)).shape == (1, 64, 64)
    with pytest.raises(UserError, match=r"cannot decode .*b\.png"):
        folder.load_folder(str(tmp_path))


def test_reachable_through_the_dataset_api(tmp_path):
    write_classes(tmp_path, per_class=3, classes=("a", "b"), mode="RGB")
    name = f"folder:{tmp_path}"
    assert get_dataset_info(name).to_dict()["shape"] == [3, 6, 8]
    ds = load_dataset(name)
    assert ds.info.num_modes == 2 and ds.name == name
    assert np.unique(torch.cat([ds.train_labels, ds.test_labels]).numpy()).tolist() == [0, 1]

"""Real datasets read from tiny files written in the real on-disk formats (no network, no mocks of torchvision)."""

from __future__ import annotations

import inspect
import os
import pickle
import re
import socket
import struct

import numpy as np
import pytest
import torch

from ganbench.data import real
from ganbench.data import DATASETS, load_dataset
from ganbench.errors import UserError

MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


# --- writers for the real formats -------------------------------------------------------------------


def write_idx_images(path, images: np.ndarray) -> None:
    """idx3-ubyte: magic 0x00000803 (ubyte, 3 dims), then N, H, W as big-endian int32, then the pixels."""
    n, h, w = images.shape
    with open(path, "wb") as f:
        f.write(struct.pack(">iiii", 0x0803, n, h, w) + images.astype(np.uint8).tobytes())


def write_idx_labels(path, labels: np.ndarray) -> None:
    """idx1-ubyte: magic 0x00000801 (ubyte, 1 dim), then N, then one byte per label."""
    with open(path, "wb") as f:
        f.write(struct.pack(">ii", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist(root, folder="MNIST", n_train=20, n_test=10, seed=0) -> dict:
    """Random distinct 28x28 digits with labels 0-9 where torchvision looks: ``root/folder/raw/``."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, folder, "raw")
    os.makedirs(raw, exist_ok=True)
    arrays = {
        "xtr": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "ytr": np.arange(n_train) % 10,
        "xte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "yte": (np.arange(n_test) * 3) % 10,
    }
    arrays["xtr"][0] = 0  # pin both ends of the value range
    arrays["xtr"][1] = 255
    write_idx_images(os.path.join(raw, "train-images-idx3-ubyte"), arrays["xtr"])
    write_idx_labels(os.path.join(raw, "train-labels-idx1-ubyte"), arrays["ytr"])
    write_idx_images(os.path.join(raw, "t10k-images-idx3-ubyte"), arrays["xte"])
    write_idx_labels(os.path.join(raw, "t10k-labels-idx1-ubyte"), arrays["yte"])
    return arrays


def write_cifar10(root, per_batch=4, n_test=5, seed=0) -> dict:
    """CIFAR-10's python batches: pickled dicts with uint8 ``data`` (N, 3072; R, G, B planes) and ``labels``.

    The originals are Python 2 pickles whose str keys torchvision reads back as str (it unpickles
    with ``encoding="latin1"`` and indexes ``entry["data"]``), so the keys here are str too.
    """
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)

    def batch(name, n):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        filenames = [f"{name}_{i}.png" for i in range(n)]
        entry = {"batch_label": name, "labels": labels, "data": data, "filenames": filenames}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(entry, f, protocol=2)
        return data, labels

    train = [batch(f"data_batch_{i}", per_batch) for i in range(1, 6)]
    xte, yte = batch("test_batch", n_test)
    meta = {"num_cases_per_batch": per_batch, "label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=2)
    return {
        "xtr": np.concatenate([d for d, _ in train]),
        "ytr": np.concatenate([l for _, l in train]),
        "xte": xte,
        "yte": np.array(yte),
    }


def as_unit(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32) / 255 * 2 - 1)


@pytest.fixture
def no_network(monkeypatch):
    """Name resolution fails, as on a machine without network: nothing can leave this test."""

    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(socket, "create_connection", offline)


# --- registry -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,shape,modes",
    [
        ("mnist", (1, 28, 28), 10),
        ("fashion-mnist", (1, 28, 28), 10),
        ("cifar10", (3, 32, 32), 10),
        ("stacked-mnist", (3, 28, 28), 1000),
    ],
)
def test_registered_with_info(name, shape, modes):
    info = DATASETS.get(name).info
    assert (info.name, info.kind, info.shape, info.num_modes) == (name, "image", shape, modes)
    assert info.source == "torchvision"
    params = inspect.signature(DATASETS.get(name).load).parameters
    assert params["data_root"].default is None and params["download"].default is False


def test_cifar10_loader_has_verify_checksums_on_by_default():
    assert inspect.signature(DATASETS.get("cifar10").load).parameters["verify_checksums"].default is True


def test_stacked_mnist_protocol_sizes():
    assert real.STACKED_MNIST_TRAIN_SIZE == 128_000 and real.STACKED_MNIST_TEST_SIZE == 10_000
    params = inspect.signature(real.build_stacked_mnist).parameters
    assert params["train_size"].default == real.STACKED_MNIST_TRAIN_SIZE
    assert params["test_size"].default == real.STACKED_MNIST_TEST_SIZE


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("GANBENCH_DATA", raising=False)
    assert real.resolve_data_root(None) == os.path.expanduser("~/.cache/ganbench/data")
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path))
    assert real.resolve_data_root(None) == str(tmp_path)
    write_mnist(tmp_path)
    assert real.load_mnist().train.shape == (20, 1, 28, 28)  # found through $GANBENCH_DATA


# --- MNIST and Fashion-MNIST ----------------------------------------------------------------------------


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_loads_written_files(tmp_path, name, folder):
    a = write_mnist(tmp_path, folder)
    ds = DATASETS.get(name).load(data_root=str(tmp_path))
    assert ds.info.name == name
    assert ds.train.shape == (20, 1, 28, 28) and ds.test.shape == (10, 1, 28, 28)
    assert ds.train.dtype == ds.test.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64  # a byte a pixel
    assert torch.equal(ds.train, torch.from_numpy(a["xtr"])[:, None])
    assert ds.train.stride() == (784, 784, 28, 1)  # C strides, the channel's too
    assert ds.train_float().min() == -1.0 and ds.train_float().max() == 1.0
    assert torch.equal(ds.train_float(), as_unit(a["xtr"])[:, None])
    assert torch.equal(ds.test_float(), as_unit(a["xte"])[:, None])
    assert ds.train_labels.tolist() == a["ytr"].tolist() and ds.test_labels.tolist() == a["yte"].tolist()


def test_load_dataset_reads_data_root(tmp_path):
    write_mnist(tmp_path)
    assert load_dataset("mnist", data_root=str(tmp_path)).test.shape == (10, 1, 28, 28)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_missing_files_name_folder_and_files(tmp_path, name, folder):
    expected = re.escape(os.path.join(str(tmp_path), folder, "raw")) + r".*" + r".*".join(MNIST_FILES)
    with pytest.raises(UserError, match=rf"^{name}: files not found under {expected}.*load_dataset\(name, download=True\)") as e:
        DATASETS.get(name).load(data_root=str(tmp_path))
    assert "\n" not in str(e.value)
    assert not (tmp_path / folder).exists()  # download=False writes nothing


def test_mnist_partly_missing_files(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()  # train split reads fine, test does not
    with pytest.raises(UserError, match="files not found under .*t10k-labels-idx1-ubyte"):
        real.load_mnist(data_root=str(tmp_path))


def test_mnist_garbage_files(tmp_path, no_network):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in MNIST_FILES:
        (raw / f).write_bytes(b"not an idx file")
    for download in (False, True):  # present files are read, not downloaded again
        with pytest.raises(UserError, match="could not read the idx files"):
            real.load_mnist(data_root=str(tmp_path), download=download)


def test_mnist_download_without_network(tmp_path, no_network):
    with pytest.raises(UserError, match=r"^mnist: downloading into .*MNIST.raw failed .*--data-root") as e:
        real.load_mnist(data_root=str(tmp_path), download=True)
    assert "\n" not in str(e.value)


# --- Stacked MNIST ------------------------------------------------------------------------------------


def test_stacked_mnist_channels_are_the_labelled_digits(tmp_path):
    a = write_mnist(tmp_path)
    ds = real.build_stacked_mnist(str(tmp_path), train_size=60, test_size=15)
    assert ds.info.name == "stacked-mnist" and ds.info.num_modes == 1000
    assert ds.train.shape == (60, 3, 28, 28) and ds.test.shape == (15, 3, 28, 28)
    assert ds.train.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert ds.extra["base"] == "mnist"
    # The per-channel classifier finds the base MNIST under the same root, without --data-root again.
    from ganbench.evaluation.extractors.classifier import _base_of

    assert _base_of(ds, None).train.shape[0] == len(a["xtr"])
    for x, y, channels, digits, labels in [
        (ds.train_float(), ds.train_labels, ds.extra["train_channel_labels"], a["xtr"], a["ytr"]),
        (ds.test_float(), ds.test_labels, ds.extra["test_channel_labels"], a["xte"], a["yte"]),
    ]:
        assert channels.shape == (len(x), 3)
        assert y.tolist() == (channels[:, 0] * 100 + channels[:, 1] * 10 + channels[:, 2]).tolist()
        sources = as_unit(digits)  # the written digits are random, hence distinct: match each channel to its source
        for i in range(len(x)):
            for c in range(3):
                match = [k for k in range(len(sources)) if torch.equal(x[i, c], sources[k])]
                assert len(match) == 1
                assert labels[match[0]] == (int(y[i]) // 10 ** (2 - c)) % 10 == channels[i, c]


def test_stacked_mnist_is_deterministic(tmp_path):
    write_mnist(tmp_path)
    a = real.build_stacked_mnist(str(tmp_path), train_size=30, test_size=10)
    b = real.build_stacked_mnist(str(tmp_path), train_size=30, test_size=10)
    assert torch.equal(a.train, b.train) and torch.equal(a.test_labels, b.test_labels)


def test_stacked_mnist_missing_files(tmp_path):
    with pytest.raises(UserError, match=r"^stacked-mnist: files not found under .*MNIST.raw .*train-images-idx3-ubyte"):
        real.load_stacked_mnist(data_root=str(tmp_path))


# --- CIFAR-10 -----------------------------------------------------------------------------------------


def test_cifar10_loads_written_batches_without_checksums(tmp_path):
    a = write_cifar10(tmp_path)
    ds = real.load_cifar10(data_root=str(tmp_path), verify_checksums=False)
    assert ds.train.shape == (20, 3, 32, 32) and ds.test.shape == (5, 3, 32, 32)
    assert ds.train.dtype == torch.uint8 and ds.test_labels.dtype == torch.int64
    # A CIFAR row is the R plane, then G, then B, each 32x32 row-major: exactly NCHW.
    assert torch.equal(ds.train, torch.from_numpy(a["xtr"]).reshape(-1, 3, 32, 32))
    assert torch.equal(ds.train_float(), as_unit(a["xtr"]).reshape(-1, 3, 32, 32))
    assert torch.equal(ds.test_float(), as_unit(a["xte"]).reshape(-1, 3, 32, 32))
    assert ds.train_labels.tolist() == a["ytr"].tolist() and ds.test_labels.tolist() == a["yte"].tolist()
    assert ds.train.is_contiguous()


def test_cifar10_checksum_mismatch_says_corrupt(tmp_path):
    write_cifar10(tmp_path)
    corrupt = r"^cifar10: the files under .*cifar-10-batches-py are corrupt or not the originals"
    with pytest.raises(UserError, match=corrupt) as e:
        real.load_cifar10(data_root=str(tmp_path))
    assert "\n" not in str(e.value)


def test_cifar10_missing_files_name_folder_and_files(tmp_path):
    expected = re.escape(os.path.join(str(tmp_path), "cifar-10-batches-py")) + r".*" + r".*".join(CIFAR_FILES)
    for verify in (True, False):
        with pytest.raises(UserError, match=rf"^cifar10: files not found under {expected}.*batches.meta"):
            real.load_cifar10(data_root=str(tmp_path), verify_checksums=verify)


def test_cifar10_missing_meta_without_checksums(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(UserError, match="files not found under .*batches.meta"):
        real.load_cifar10(data_root=str(tmp_path), verify_checksums=False)


def test_cifar10_download_without_network(tmp_path, no_network):
    with pytest.raises(UserError, match=r"^cifar10: downloading into .*cifar-10-batches-py failed"):
        real.load_cifar10(data_root=str(tmp_path), download=True)


def test_cifar10_corrupt_files_with_download_and_no_network(tmp_path, no_network):
    write_cifar10(tmp_path)  # present but not the originals: torchvision tries a fresh download, which fails
    corrupt = r"^cifar10: the files under .* are corrupt or not the originals .*replace them$"
    with pytest.raises(UserError, match=corrupt):
        real.load_cifar10(data_root=str(tmp_path), download=True)

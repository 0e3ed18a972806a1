"""The offline evaluator of labelled datasets: a small CNN that ganbench trains itself.

Inception-v3 needs downloaded weights and sees 8x8 digits as blurry 299x299 photos; a classifier
trained on the dataset itself gives meaningful features and class probabilities with no network
access (the usual practice for MNIST-like data and Stacked MNIST mode counting).

The classifier is trained once under a fixed seed on the train split, its accuracy on the test
split is recorded, and the result is cached at ``<cache_dir>/<dataset>-<key[:16]>.pt`` where the
key is a SHA-256 over the recipe and the data: changing either gives a new file, and every
process reuses the same file (hence the same ``weights_sha256``).

Training is bit-reproducible on one machine but not across CPUs: torch's kernels differ with the vector
instruction set (AVX2, AVX-512, ...), and so do the trained weights, their SHA-256 and every fingerprint
that holds it. The embedded sets' classifier (digits; stacked-digits uses it per channel) therefore ships
with ganbench (``classifiers/``, made by ``scripts/make_evaluators.py``) and is used, not trained, wherever
its key matches, as Inception's published weights are for FID: the same weights, the same fingerprint on
every machine. A real set's classifier is trained on first use; copy its cache file to share it.

Stacked datasets (``dataset.extra["base"]``, e.g. stacked-digits built from digits) use the
classifier of the single-channel base dataset on each channel: predictions are digit triples
``100 a + 10 b + c``, probabilities the outer product of the three per-channel distributions and
features the three per-channel feature vectors concatenated.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ganbench.caches import BoundedCache
from ganbench.data import load_dataset
from ganbench.data.base import Dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors.base import (
    Evaluator,
    ExtractorOptions,
    ExtractorSpec,
    register_extractor,
    unlabelled_message,
)
from ganbench.evaluation.extractors.classifier_net import (
    ClassifierNet,
    build_classifier,
    classifier_recipe,
    train_classifier,
)
from ganbench.runs.files import atomic_write_bytes

__all__ = [
    "ClassifierEvaluator",
    "ClassifierNet",
    "get_classifier",
    "classifier_recipe",
    "SHIPPED_DIR",
    "SHIPPED_SETS",
    "cache_key",
    "default_cache_dir",
    "state_dict_sha256",
]

_FILE_FORMAT = "ganbench-classifier"

SHIPPED_DIR = Path(__file__).resolve().parent / "classifiers"
"""The classifier weights that ship with ganbench, one file per dataset in ``SHIPPED_SETS``, named as in a cache."""
SHIPPED_SETS = ("digits",)

# In-process memo: (cache file, device, dataset, stacked-test digest) -> evaluator. A suite run uses one
# classifier per labelled dataset (two to four); eight keeps them all, each a few MB of weights.
_MEMO: BoundedCache[ClassifierEvaluator] = BoundedCache("classifier evaluators", maxsize=8)


def default_cache_dir() -> Path:
    """``$GANBENCH_CACHE/evaluators`` (default ``~/.cache/ganbench/evaluators``)."""
    return Path(os.path.expanduser(os.environ.get("GANBENCH_CACHE", "~/.cache/ganbench"))) / "evaluators"


# --- architecture ----------------------------------------------------------------------------------


# --- cache key, save, load -------------------------------------------------------------------------


def _hash_array(h, name: str, t: torch.Tensor) -> None:
    a = np.ascontiguousarray(t.detach().cpu().numpy())
    # Name, dtype and shape first: the same bytes under another shape are other data.
    h.update(f"{name}:{a.dtype.str}:{a.shape}\n".encode())
    h.update(memoryview(a).cast("B"))


def _hash_split(h, dataset: Dataset, split: str) -> None:
    """``_hash_array`` of the split in data space (float), converted a chunk at a time."""
    chunks = (np.ascontiguousarray(c.numpy()) for c in dataset.float_chunks(split))
    first = next(chunks)
    h.update(f"{split}:{first.dtype.str}:{(len(getattr(dataset, split)), *first.shape[1:])}\n".encode())
    for a in itertools.chain([first], chunks):
        h.update(memoryview(a).cast("B"))


def cache_key(recipe: dict, dataset: Dataset) -> str:
    """SHA-256 (hex) over the recipe and the train/test images (in data space) and labels of ``dataset``."""
    h = hashlib.sha256()
    h.update(json.dumps(recipe, sort_keys=True).encode())
    for name in ("train", "train_labels", "test", "test_labels"):
        if name in ("train", "test"):
            _hash_split(h, dataset, name)
        else:
            _hash_array(h, name, getattr(dataset, name))
    return h.hexdigest()


def state_dict_sha256(state_dict: dict) -> str:
    """SHA-256 over the weights alone (names, dtypes, shapes, values), in name order.

    Unlike the hash of the cache file it ignores the metadata (training time) and torch.save's
    container format, so identical weights have the same hash in every process and after retraining.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        _hash_array(h, name, state_dict[name])
    return h.hexdigest()


def _serialize(net: nn.Module, meta: dict) -> bytes:
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"format": _FILE_FORMAT, "state_dict": state, "meta": meta}, buf)
    return buf.getvalue()


def _load_cached(path: Path, key: str, recipe: dict, then: str) -> tuple[ClassifierNet, dict, str] | None:
    """The cached network, its metadata and its weights' SHA-256, or None if absent or unusable (warned, with
    ``then``: what is done instead)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if obj["format"] != _FILE_FORMAT or obj["meta"]["key"] != key:
            raise ValueError("written for another key")
        net = build_classifier(recipe)
        net.load_state_dict(obj["state_dict"])
        meta = dict(obj["meta"])
    except Exception as e:  # noqa: BLE001  any failure to read means "train again", never a crash
        why = " ".join(str(e).split())[:120]
        warnings.warn(f"evaluator file {path} is unreadable ({type(e).__name__}: {why}); not used, {then}",
                      RuntimeWarning, stacklevel=3)
        return None
    return net, meta, state_dict_sha256(net.state_dict())


# --- the evaluator ---------------------------------------------------------------------------------


class ClassifierEvaluator(Evaluator):
    """A trained ``ClassifierNet``, applied to whole images or, for stacked sets, to each channel.

    Build it with ``get_classifier``. Attributes beyond ``Evaluator``'s:

    Attributes:
        base_dataset: the dataset the network was trained on.
        stacked: whether each channel is classified separately.
        test_accuracy: the network's held-out accuracy on the base dataset's test split.
        stacked_test_accuracy: for stacked sets, triple accuracy on the stacked test split.
        cache_file: where the weights live (None if they could not be written).
        recipe: the training recipe.
    """

    def __init__(self, net: ClassifierNet, meta: dict, weights_sha256: str, dataset_name: str,
                 stacked: bool, device: torch.device, cache_file: Path | None):
        self.net = net.to(device).eval().requires_grad_(False)
        self.device = device
        self.recipe = meta["recipe"]
        self.base_dataset = meta["base_dataset"]
        self.test_accuracy = float(meta["test_accuracy"])
        self.train_seconds = meta.get("train_seconds")
        self.weights_sha256 = weights_sha256
        self.cache_file = cache_file
        self.stacked = stacked
        self.stacked_test_accuracy: float | None = None
        self.name = f"classifier-{dataset_name}"
        k, c = self.recipe["num_classes"], self.recipe["in_channels"]
        self._base_classes = k
        self.num_classes = k**3 if stacked else k
        self.feature_dim = ClassifierNet.FEATURE_DIM * (3 if stacked else 1)
        self.in_channels = (3 * c,) if stacked else (c,)
        self.preprocessing = {
            "input": "float32 NCHW in [-1, 1]",
            "resize": None,
            "channels": f"each channel classified by the {self.base_dataset} classifier" if stacked else None,
        }

    def info(self) -> dict:
        out = super().info()
        out.update(
            base_dataset=self.base_dataset,
            test_accuracy=self.test_accuracy,
            recipe=self.recipe,
            cache_file=str(self.cache_file) if self.cache_file else None,
        )
        if self.stacked:
            out["stacked_test_accuracy"] = self.stacked_test_accuracy
        return out

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.net.eval()
        if not self.stacked:
            f, logits = self.net.features_and_logits(x)
            return f, logits.double().softmax(1)
        n, c = x.shape[0], self.recipe["in_channels"]
        f, logits = self.net.features_and_logits(x.reshape(n * 3, c, *x.shape[2:]))
        p = logits.double().softmax(1).reshape(n, 3, self._base_classes)
        # p(a, b, c) = p0(a) p1(b) p2(c), flattened row-major so that index = a K^2 + b K + c.
        joint = p[:, 0, :, None, None] * p[:, 1, None, :, None] * p[:, 2, None, None, :]
        return f.reshape(n, -1), joint.reshape(n, -1)


# --- public entry point ----------------------------------------------------------------------------


def _check_supported(dataset: Dataset) -> None:
    if dataset.info.kind == "points2d":
        raise UserError(
            f"dataset {dataset.name!r}: no classifier evaluator exists for 2D point sets; "
            "the points are their own features, use the 2D mode-coverage metrics"
        )
    if dataset.train_labels is None or dataset.test_labels is None:
        raise UserError(unlabelled_message(dataset, "classifier"))


def _base_of(dataset: Dataset, data_root: str | None) -> Dataset:
    base_name = dataset.extra.get("base")
    if not base_name:
        return dataset

    base = load_dataset(base_name, data_root=data_root or dataset.extra.get("data_root"))
    _check_supported(base)
    if base.train.shape[1] * 3 != dataset.train.shape[1]:
        raise UserError(
            f"dataset {dataset.name!r}: {dataset.train.shape[1]} channels are not three stacked "
            f"{base_name} images of {base.train.shape[1]} channel(s); set extra['base'] correctly"
        )
    return base


def _num_classes(dataset: Dataset) -> int:
    top = int(max(dataset.train_labels.max(), dataset.test_labels.max())) + 1
    return max(top, dataset.info.num_modes or 0)


def _train_and_save(base: Dataset, recipe: dict, key: str, path: Path, device: torch.device):
    start = time.perf_counter()
    net, acc = train_classifier(base, recipe, device)
    meta = {
        "key": key,
        "recipe": recipe,
        "base_dataset": base.name,
        "test_accuracy": acc,
        "train_size": len(base.train),
        "test_size": len(base.test),
        "train_seconds": round(time.perf_counter() - start, 3),
        "torch_version": str(torch.__version__),  # plain str: weights_only loading rejects TorchVersion
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels' instruction set: see above
    }
    data = _serialize(net, meta)
    try:
        atomic_write_bytes(path, data)
    except OSError as e:  # a read-only cache must not stop an evaluation
        warnings.warn(f"could not cache the evaluator at {path} ({e}); it will be retrained next time",
                      RuntimeWarning, stacklevel=3)
        path = None
    return net, meta, state_dict_sha256(net.state_dict()), path


def get_classifier(dataset: Dataset, cache_dir: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                   *, data_root: str | None = None, shipped: bool = True) -> ClassifierEvaluator:
    """The trained classifier evaluator of a labelled image dataset: the shipped weights where they exist
    for its recipe and data, else trained on first use and cached.

    Args:
        dataset: a labelled image dataset; for a stacked set (``extra["base"]``) the base set's
            classifier is used per channel.
        cache_dir: where trained classifiers are kept (default ``$GANBENCH_CACHE/evaluators``,
            ``~/.cache/ganbench/evaluators``).
        device: torch device for training and inference.
        data_root: where the base dataset of a stacked set lives (e.g. MNIST for stacked-mnist).
        shipped: use the weights shipped with ganbench (``SHIPPED_DIR``) when they are of this recipe and
            data; False looks in ``cache_dir`` only (training there if absent), as for any other set.

    Returns:
        The evaluator; ``info()`` records its weights' SHA-256 and held-out accuracy.

    Raises:
        UserError: the dataset has no labels, is a 2D point set, or its base cannot be loaded.
    """
    _check_supported(dataset)
    device = torch.device(device)
    base = _base_of(dataset, data_root)
    recipe = classifier_recipe(tuple(base.train.shape[1:]), _num_classes(base), len(base.train))
    key = cache_key(recipe, base)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", base.name)  # e.g. folder:PATH must not make subfolders
    path = cache_dir.expanduser().resolve() / f"{safe_name}-{key[:16]}.pt"
    stacked = base is not dataset
    ship = SHIPPED_DIR / path.name
    sources = ([ship] if shipped and ship.is_file() else []) + [path]
    memo_key = (str(sources[0]), str(device), dataset.name, _stacked_digest(dataset) if stacked else None)
    return _MEMO.get_or_compute(memo_key,
                                lambda: _load_or_train_classifier(dataset, base, recipe, key, sources, device))


def _load_or_train_classifier(dataset: Dataset, base: Dataset, recipe: dict, key: str, sources: list[Path],
                              device: torch.device) -> ClassifierEvaluator:  # fmt: skip
    """The first of ``sources`` that loads (the shipped file, then the cache file), else trained into the last."""
    for i, cache_file in enumerate(sources):
        then = f"trying {sources[i + 1]}" if i + 1 < len(sources) else "trained again"
        loaded = _load_cached(cache_file, key, recipe, then)
        if loaded is not None:
            net, meta, sha = loaded
            break
    else:
        net, meta, sha, cache_file = _train_and_save(base, recipe, key, sources[-1], device)
    stacked = base is not dataset
    ev = ClassifierEvaluator(net, meta, sha, dataset.name, stacked, device, cache_file)
    if stacked:
        ev.stacked_test_accuracy = float((ev.predict(dataset.test_float()) == dataset.test_labels.numpy()).mean())
    return ev


def _stacked_digest(dataset: Dataset) -> str:
    h = hashlib.sha256()
    _hash_split(h, dataset, "test")
    _hash_array(h, "test_labels", dataset.test_labels)
    return h.hexdigest()


def _from_spec(dataset: Dataset, device: str, options: ExtractorOptions) -> ClassifierEvaluator:
    return get_classifier(dataset, device=device)


register_extractor(
    ExtractorSpec(
        name="classifier",
        kinds=("image",),
        needs_labels=True,
        factory=_from_spec,
        description="a small CNN ganbench trains on the labelled dataset itself (offline, cached)",
        default_for=("image",),
        fit_to_train_split=True,
    )
)

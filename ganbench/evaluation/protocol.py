"""The evaluation protocol and its fingerprint.

The protocol (``EvalProtocol``) fixes the extractor, sample counts, reference split, evaluation seed
and metric parameters. Its fingerprint adds the metric versions, the extractor's weights hash and
preprocessing, the dataset's definition (a hash of its splits) and library versions; two scores are
comparable only when their fingerprint ids match. It holds nothing specific to a machine (no file paths),
so the same protocol gives the same id everywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

from ganbench.caches import BoundedCache
from ganbench.data import Dataset
from ganbench.environment import package_versions
from ganbench.errors import UserError
from ganbench.evaluation.extractors import resolve_extractor
from ganbench.metrics import METRICS, metric_names, metric_specs

# The built-in 2D mode metrics (the training tracker reports them); protocols read the registry itself.
POINT_METRICS = tuple(s.name for s in metric_specs("points2d") if s.inputs <= {"modes"})
# VEEGAN/PacGAN count modes of 2D mixtures on 2,500 samples and of stacked sets on 26,000.
POINTS_N = 2500
STACKED_MODE_N = 26000
MAX_FEATURE_N = 10000

# Extractor info keys ending so name files on this machine: shown beside a score, never fingerprinted.
FILE_KEY_SUFFIXES = ("_file", "_path")

# id(dataset) -> (dataset, its block). The dataset is held so that its id cannot be reused while the
# entry lives; a suite scores a few datasets, so eight entries keep them all without rehashing.
_DATASET_BLOCKS: BoundedCache[tuple[Dataset, dict]] = BoundedCache("dataset fingerprints", maxsize=8)


@dataclass(frozen=True)
class EvalProtocol:
    """What an evaluation does; everything here is part of the fingerprint.

    Attributes:
        dataset: dataset name.
        extractor: a name in ``EXTRACTORS``: ``points`` (2D sets), ``classifier`` (ganbench's offline
            evaluator) or ``inception``.
        metrics: metric names to report.
        n_fake: generated samples for feature metrics (and 2D mode metrics).
        n_real: real reference samples (from ``reference_split``) for the Gaussian statistics and KID.
        n_modes: generated samples classified for the mode histogram (image sets).
        eval_seed: seed of the evaluation's sampling, kept apart from training seeds.
        reference_split: which real split the samples are compared with.
    """

    dataset: str
    extractor: str
    metrics: tuple[str, ...]
    n_fake: int
    n_real: int
    n_modes: int
    eval_seed: int = 0
    reference_split: str = "train"
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prdc_k: int = 5
    is_splits: int = 10
    threshold_sd: float = 3.0


def default_protocol(dataset: Dataset, extractor: str | None = None, n: int | None = None, eval_seed: int = 0,
                     metrics: list[str] | None = None) -> EvalProtocol:  # fmt: skip
    """The standard protocol for ``dataset``; ``n`` overrides the generated-sample count."""
    info = dataset.info
    allowed = metric_names(info.kind)
    extractor = resolve_extractor(dataset, extractor)  # the kind's default, or the name checked against it
    if info.kind == "points2d":
        n_fake = n or POINTS_N
        n_real, n_modes = len(dataset.test), n_fake
    else:
        # The real-data reference row scores the test split, so default to its size: the floor then
        # holds at the same n as the models' scores.
        n_fake = n or min(len(dataset.test), MAX_FEATURE_N)
        n_real = min(len(dataset.train), MAX_FEATURE_N)
        n_modes = max(n_fake, STACKED_MODE_N if (info.num_modes or 0) >= 1000 else 0)
    chosen = tuple(metrics) if metrics else metric_names(info.kind, default_only=True)
    for m in chosen:
        if m not in allowed:
            raise UserError(f"--metrics: {m!r} is not available for {info.name}; choose from {', '.join(allowed)}")
    if n_fake < 2:
        raise UserError(f"--n must be at least 2; got {n_fake}")
    return EvalProtocol(info.name, extractor, chosen, n_fake, n_real, n_modes, eval_seed,
                        kid_subset_size=min(1000, n_fake, n_real), is_splits=is_splits(n_fake))  # fmt: skip


def is_splits(n: int) -> int:
    """Inception-score splits for n samples: 10 from 10,000, 1 below 2,000. Splits of under ~1,000
    samples underestimate the score (p(y) is estimated per split), so small sets use fewer."""
    return max(1, min(10, n // 1000))


def fingerprint(protocol: EvalProtocol, extractor_info: dict | None, dataset: Dataset) -> dict:
    """The protocol plus what it depends on: metric versions, extractor weights, the dataset's definition
    and library versions. Extractor file paths are left out (see ``extractor_files``)."""
    versions = package_versions()
    extractor = extractor_info or {"name": "points", "weights_sha256": None, "preprocessing": None}
    fp = {
        "protocol": dataclasses.asdict(protocol),
        "metric_versions": {m: METRICS[m].version for m in protocol.metrics},
        "extractor": {k: v for k, v in extractor.items() if not k.endswith(FILE_KEY_SUFFIXES)},
        "dataset": dataset_block(dataset),
        "versions": {k: versions.get(k) for k in ("ganbench", "torch", "torch-fidelity", "numpy", "scipy")},
    }
    fp["id"] = fingerprint_id(fp)
    return fp


def extractor_files(extractor_info: dict | None) -> dict:
    """The files the extractor used on this machine (weights, cache file): stored beside the score."""
    return {k: v for k, v in (extractor_info or {}).items() if k.endswith(FILE_KEY_SUFFIXES)}


def dataset_block(dataset: Dataset) -> dict:
    """What defines ``dataset`` for scoring: its description, split sizes and a SHA-256 of its arrays.

    The hash covers both splits, their labels and the mixture centres and sd, so a change of centres,
    sd, data seed or split changes it. Memoised per loaded dataset object.
    """
    entry = _DATASET_BLOCKS.get_or_compute(id(dataset), lambda: (dataset, _dataset_block(dataset)))
    if entry[0] is not dataset:  # an id reused by a new object after the old one was collected
        _DATASET_BLOCKS.clear()
        entry = _DATASET_BLOCKS.get_or_compute(id(dataset), lambda: (dataset, _dataset_block(dataset)))
    return dict(entry[1])


def _dataset_block(dataset: Dataset) -> dict:
    info = dataset.info
    h = hashlib.sha256()
    parts = {"train": dataset.train, "test": dataset.test, "train_labels": dataset.train_labels,
             "test_labels": dataset.test_labels, "centers": dataset.centers,
             "sd": None if dataset.sd is None else np.float64(dataset.sd)}  # fmt: skip
    for key, value in parts.items():
        if value is None:
            continue
        arr = np.ascontiguousarray(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value)
        # The name, dtype and shape go in too, so equal bytes under another layout hash differently.
        h.update(f"{key}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return {
        "name": info.name,
        "kind": info.kind,
        "shape": list(info.shape),
        "num_modes": info.num_modes,
        "source": info.source,
        "n_train": len(dataset.train),
        "n_test": len(dataset.test),
        "sha256": h.hexdigest(),
    }


def fingerprint_id(fp: dict) -> str:
    body = {k: v for k, v in fp.items() if k != "id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def comparable(fp_a: dict, fp_b: dict) -> bool:
    """Whether two scores were made under the same protocol (their fingerprints match)."""
    return fingerprint_id(fp_a) == fingerprint_id(fp_b)

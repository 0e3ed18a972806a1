"""The evaluation protocol and its fingerprint.

The protocol (``EvalProtocol``) fixes the extractor, sample counts, reference split, evaluation seed
and metric parameters. Its fingerprint adds the extractor's weights hash, preprocessing and library
versions; two scores are comparable only when their fingerprint ids match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from ganbench.data import Dataset
from ganbench.environment import package_versions
from ganbench.errors import UserError
from ganbench.evaluation.extractors import resolve_extractor
from ganbench.metrics import METRICS, metric_names

# The built-in 2D metrics (the training tracker reports them); protocols read the registry itself.
POINT_METRICS = metric_names("points2d")
# VEEGAN/PacGAN count modes of 2D mixtures on 2,500 samples and of stacked sets on 26,000.
POINTS_N = 2500
STACKED_MODE_N = 26000
MAX_FEATURE_N = 10000


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
    chosen = tuple(metrics) if metrics else allowed
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


def fingerprint(protocol: EvalProtocol, extractor_info: dict | None) -> dict:
    """The protocol plus what it depends on: metric versions, extractor weights, library versions."""
    versions = package_versions()
    fp = {
        "protocol": dataclasses.asdict(protocol),
        "metric_versions": {m: METRICS[m].version for m in protocol.metrics},
        "extractor": extractor_info or {"name": "points", "weights_sha256": None, "preprocessing": None},
        "versions": {k: versions.get(k) for k in ("ganbench", "torch", "torch-fidelity", "numpy", "scipy")},
    }
    fp["id"] = fingerprint_id(fp)
    return fp


def fingerprint_id(fp: dict) -> str:
    body = {k: v for k, v in fp.items() if k != "id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def comparable(fp_a: dict, fp_b: dict) -> bool:
    """Whether two scores were made under the same protocol (their fingerprints match)."""
    return fingerprint_id(fp_a) == fingerprint_id(fp_b)

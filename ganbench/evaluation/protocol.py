"""The evaluation protocol and its fingerprint.

The protocol (``EvalProtocol``) fixes the extractor, sample counts, reference split, evaluation seed
and metric parameters. Its fingerprint adds the metric versions, the extractor's weights hash and
preprocessing, the space ``fd_heldout`` and ``fd_gap`` compare in (``generalisation_space``), the dataset's
definition (a hash of its splits) and library versions; two scores are comparable only when their
fingerprint ids match. It holds nothing specific to a machine (no file paths),
so the same protocol gives the same id everywhere.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import itertools
import json
from dataclasses import dataclass

import numpy as np
import torch

from ganbench.caches import BoundedCache
from ganbench.data import Dataset
from ganbench.environment import package_versions
from ganbench.errors import UserError
from ganbench.evaluation.extractors import EXTRACTORS, resolve_extractor
from ganbench.metrics import METRICS, metric_names, metric_specs
from ganbench.metrics.generalisation import GAP_METRICS

# The built-in 2D mode metrics (the training tracker reports them); protocols read the registry itself.
POINT_METRICS = tuple(s.name for s in metric_specs("points2d") if s.inputs <= {"modes"})
# VEEGAN/PacGAN count modes of 2D mixtures on 2,500 samples and of stacked sets on 26,000.
POINTS_N = 2500
STACKED_MODE_N = 26000
# Small image sets (embedded, folders) score at most this many samples: their test split's size.
MAX_FEATURE_N = 10000

# The published protocol of standard image sets: IS (Salimans et al. 2016, openai/improved-gan) on 50,000
# generated samples in 10 splits of 5,000; FID (Heusel et al. 2017, pytorch-fid) on 50,000 generated
# samples against the whole training split; KID (Binkowski et al. 2018) as torch-fidelity computes it;
# PRDC (Naeem et al. 2020) on 10,000 generated and 10,000 real samples with k = 5.
PUBLISHED_SOURCES = ("torchvision",)
PUBLISHED_N = 50_000
PUBLISHED_IS_SPLITS = 10
PRDC_N = 10_000
# torch-fidelity's defaults (torch_fidelity.defaults): KID over 100 subsets of 1,000, subsets drawn and IS
# samples shuffled by numpy.random.RandomState(2020), so ganbench gives its numbers on the same features.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
TORCH_FIDELITY_SEED = 2020

# Metric inputs that only an extractor with a classifier head gives on image sets (class probabilities and
# the mode labels taken from them).
CLASS_INPUTS = frozenset({"probs", "modes"})

# The inputs of the memorisation and generalisation metrics, and the spaces ``GAP_METRICS`` may compare in
# (``generalisation_space``).
MEMORISATION_INPUTS = frozenset({"train", "heldout"})
PIXELS, FEATURES = "pixels", "features"

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
            evaluator), ``inception``, ``dinov2-vit-*`` or ``clip-vit-*`` (features only: no IS or mode counts).
        metrics: metric names to report.
        n_fake: generated samples for feature metrics (IS, FD, KID; 2D mode metrics).
        n_real: real reference samples (from ``reference_split``) for the Gaussian statistics, KID and PRDC:
            the whole split, in its order, when it equals the split's size (its features and statistics are
            then cached on disk), else the first ``n_real`` of a permutation seeded by ``eval_seed``.
        n_modes: generated samples classified for the mode histogram (image sets).
        eval_seed: seed of the evaluation's sampling, kept apart from training seeds.
        reference_split: which real split the samples are compared with.
        kid_subsets, kid_subset_size: KID's random subsets and their size.
        kid_seed: seed of the ``numpy.random.RandomState`` drawing KID's subsets (generated first, then real,
            as torch-fidelity's ``input1``/``input2``).
        prdc_k: PRDC's nearest neighbour.
        prdc_n: generated and real samples PRDC compares (the first generated ones, real ones drawn by
            ``eval_seed``); ``None``: as many as the smaller set holds.
        is_splits: Inception-score splits.
        is_shuffle_seed: seed of the permutation applied before splitting (torch-fidelity's), ``None``:
            contiguous splits in sample order (openai/improved-gan's).
        threshold_sd: 2D high-quality radius in mixture standard deviations.
        real_row_rule: how the real-data row under this protocol draws its samples (see
            ``ganbench.evaluation.scoring.REAL_ROW_RULES``), so that its fingerprint states it.
    """

    dataset: str
    extractor: str
    metrics: tuple[str, ...]
    n_fake: int
    n_real: int
    n_modes: int
    eval_seed: int = 0
    reference_split: str = "train"
    kid_subsets: int = KID_SUBSETS
    kid_subset_size: int = KID_SUBSET_SIZE
    kid_seed: int = TORCH_FIDELITY_SEED
    prdc_k: int = 5
    prdc_n: int | None = None
    is_splits: int = PUBLISHED_IS_SPLITS
    is_shuffle_seed: int | None = TORCH_FIDELITY_SEED
    threshold_sd: float = 3.0
    real_row_rule: str = "test-then-train"


# Protocol fields a user may set (``--protocol KEY=VALUE,...``); the others have their own options.
OPTION_FIELDS = ("n_real", "n_modes", "reference_split", "kid_subsets", "kid_subset_size", "kid_seed", "prdc_k",
                 "prdc_n", "is_splits", "is_shuffle_seed", "threshold_sd")  # fmt: skip
_OWN_OPTIONS = {"n_fake": "--n", "eval_seed": "--eval-seed", "extractor": "--extractor", "metrics": "--metrics",
                "dataset": "--dataset"}  # fmt: skip
_SPLITS = ("train", "test")


def is_published(dataset: Dataset) -> bool:
    """Whether ``dataset`` is a standard image set scored under the published protocol (cifar10, mnist, ...)."""
    return dataset.info.kind == "image" and dataset.info.source in PUBLISHED_SOURCES


def default_protocol(dataset: Dataset, extractor: str | None = None, n: int | None = None, eval_seed: int = 0,
                     metrics: list[str] | None = None, options: dict | None = None) -> EvalProtocol:  # fmt: skip
    """The standard protocol for ``dataset``; ``n`` overrides the generated-sample count and ``options``
    (see ``parse_protocol_options``) any of ``OPTION_FIELDS``.

    - standard image sets (``is_published``): 50,000 generated samples, IS in 10 splits (of 5,000), the
      whole train split as reference (FID statistics, KID), KID over 100 subsets of 1,000, PRDC on
      10,000 + 10,000, mode counts on 26,000 samples for 1,000-mode sets;
    - small image sets (embedded, folders): ``min(test size, 10,000)`` generated samples (the real-data
      row scores the test split, so the floor holds at the same n), ``min(train size, 10,000)`` real ones,
      IS splits from ``is_splits``, KID subsets of ``min(1,000, n)``, mode counts on 26,000 for stacked sets;
    - 2D mixtures: 2,500 samples (VEEGAN/PacGAN), against the test split.
    """
    info = dataset.info
    allowed = metric_names(info.kind)
    extractor = resolve_extractor(dataset, extractor)  # the kind's default, or the name checked against it
    chosen = tuple(metrics) if metrics else metric_names(info.kind, default_only=True)
    for m in chosen:
        if m not in allowed:
            raise UserError(f"--metrics: {m!r} is not available for {info.name}; choose from {', '.join(allowed)}")
    if not EXTRACTORS.get(extractor).has_classes:
        chosen = _features_only(chosen, info.kind, extractor, named=bool(metrics))
    if n is not None and n < 2:
        raise UserError(f"--n must be at least 2; got {n}")
    if info.kind == "points2d":
        n_fake = n or POINTS_N
        protocol = EvalProtocol(info.name, extractor, chosen, n_fake, len(dataset.test), n_fake, eval_seed)
    else:
        published = is_published(dataset)
        n_fake = n or (PUBLISHED_N if published else min(len(dataset.test), MAX_FEATURE_N))
        n_real = len(dataset.train) if published else min(len(dataset.train), MAX_FEATURE_N)
        n_modes = STACKED_MODE_N if (info.num_modes or 0) >= 1000 else n_fake
        protocol = EvalProtocol(info.name, extractor, chosen, n_fake, n_real, n_modes, eval_seed)
    if n_fake < 2:
        raise UserError(f"--n must be at least 2; got {n_fake}")
    # The user's options are applied before the counts bounded by n (an n_real of theirs bounds KID's subset
    # size) and again after, so that a value they set wins over the derived one.
    chosen_options = _checked_options(options or {})
    protocol = at_n_fake(dataclasses.replace(protocol, **chosen_options), dataset, n_fake)
    if chosen_options:
        protocol = dataclasses.replace(protocol, **chosen_options)
        check_protocol(protocol, dataset)
    return protocol


def _features_only(chosen: tuple[str, ...], kind: str, extractor: str, named: bool) -> tuple[str, ...]:
    """``chosen`` without the metrics that need class probabilities, which ``extractor`` does not give; an
    error when the user named one (``named``)."""
    need_classes = {s.name for s in metric_specs(kind) if s.inputs & CLASS_INPUTS}
    asked = [m for m in chosen if m in need_classes]
    if asked and named:
        raise UserError(f"--metrics: {asked[0]} needs class probabilities, which --extractor {extractor} does not "
                        f"give (features only); drop it, or use --extractor inception")  # fmt: skip
    return tuple(m for m in chosen if m not in need_classes)


def at_n_fake(protocol: EvalProtocol, dataset: Dataset, n: int) -> EvalProtocol:
    """``protocol`` for ``n`` generated samples, the parameters bounded by n following ``dataset``'s rule:
    KID subsets of ``min(1,000, n, n_real)``; on standard sets 10 IS splits and PRDC on ``min(10,000, n,
    n_real)``, on small sets ``is_splits(n)`` and PRDC on all of the smaller set."""
    published = is_published(dataset)
    return dataclasses.replace(
        protocol, n_fake=n, kid_subset_size=min(KID_SUBSET_SIZE, n, protocol.n_real),
        prdc_n=min(PRDC_N, n, protocol.n_real) if published else None,
        is_splits=min(PUBLISHED_IS_SPLITS, n) if published else is_splits(n))  # fmt: skip


def is_splits(n: int) -> int:
    """Inception-score splits for n samples of a small set: 10 from 10,000, 1 below 2,000. Splits of under
    ~1,000 samples underestimate the score (p(y) is estimated per split), so small sets use fewer. Standard
    sets use the published 10 whatever n (``default_protocol``)."""
    return max(1, min(10, n // 1000))


def parse_protocol_options(text: str | None) -> dict:
    """``"is_splits=5,kid_seed=0"`` -> ``{"is_splits": 5, "kid_seed": 0}`` (``--protocol``), values typed
    after the field (``none`` for the optional ones). Raises ``UserError`` for unknown or malformed keys."""
    out: dict = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip().replace("-", "_"), value.strip()
        if not sep or not value:
            raise UserError(f"--protocol: {item.strip()!r} is not KEY=VALUE; e.g. --protocol is_splits=10,kid_seed=0")
        out[key] = value
    return _checked_options(out)


def _checked_options(options: dict) -> dict:
    fields = {f.name: f for f in dataclasses.fields(EvalProtocol)}
    out = {}
    for key, value in options.items():
        if key in _OWN_OPTIONS:
            raise UserError(f"--protocol: set {key} with {_OWN_OPTIONS[key]}, not --protocol")
        if key not in OPTION_FIELDS:
            close = difflib.get_close_matches(key, OPTION_FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise UserError(f"--protocol: unknown key {key!r}; {hint}choose from {', '.join(OPTION_FIELDS)}")
        out[key] = _typed(key, value, fields[key].type)
    return out


def _typed(key: str, value, annotation: str):
    optional = "None" in str(annotation)
    if optional and (value is None or str(value).strip().lower() == "none"):
        return None
    kind = str(annotation).split("|")[0].strip()
    if kind == "str":
        return str(value)
    error = UserError(f"--protocol: {key} must be {'an integer' if kind == 'int' else 'a number'}"
                      f"{' or none' if optional else ''}; got {value!r}")  # fmt: skip
    try:
        typed = int(value) if kind == "int" else float(value)
    except (TypeError, ValueError):
        raise error from None
    if isinstance(value, bool) or (kind == "int" and isinstance(value, float) and value != typed):
        raise error
    return typed


def check_protocol(p: EvalProtocol, dataset: Dataset) -> None:
    """Raise a one-line ``UserError`` when ``p``'s counts do not fit each other or ``dataset``."""
    if p.reference_split not in _SPLITS:
        raise UserError(f"--protocol: reference_split must be train or test; got {p.reference_split!r}")
    split = len(getattr(dataset, p.reference_split))
    bound = min(p.n_fake, p.n_real)
    checks = [
        ("n_real", 2 <= p.n_real <= split, f"in [2, {split}] (the {p.reference_split} split's size)"),
        ("n_modes", p.n_modes >= 1, "at least 1"),
        ("kid_subsets", p.kid_subsets >= 1, "at least 1"),
        ("kid_subset_size", 2 <= p.kid_subset_size <= bound, f"in [2, {bound}] (at most n_fake and n_real)"),
        ("prdc_k", p.prdc_k >= 1, "at least 1"),
        ("prdc_n", p.prdc_n is None or p.prdc_k < p.prdc_n <= bound,
         f"none or in ({p.prdc_k}, {bound}] (above prdc_k, at most n_fake and n_real)"),
        ("is_splits", 1 <= p.is_splits <= p.n_fake, f"in [1, {p.n_fake}] (at most n_fake)"),
        ("threshold_sd", p.threshold_sd > 0, "positive"),
    ]
    for name, ok, rule in checks:
        if not ok:
            raise UserError(f"--protocol: {name} must be {rule}; got {getattr(p, name)!r}")


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
    if dataset.info.kind != "points2d" and any(METRICS[m].inputs & MEMORISATION_INPUTS for m in protocol.metrics):
        # The memorisation and generalisation metrics compare at most this many samples of each input on
        # image sets (scoring.at_most): part of their protocol, so a change of it changes the id.
        fp["memorisation_n"] = MAX_FEATURE_N
        if gap_in_pixels(protocol):
            # Only when not the extractor's features, so that protocols in those keep the ids they had.
            fp["generalisation_features"] = PIXELS
    fp["id"] = fingerprint_id(fp)
    return fp


def generalisation_space(protocol: EvalProtocol) -> str:
    """Where ``fd_heldout`` and ``fd_gap`` (``GAP_METRICS``) compare samples on image sets: ``"pixels"`` (the
    flattened data-space samples) when the protocol's extractor was trained on the dataset's own training
    split (``ExtractorSpec.fit_to_train_split``: ganbench's classifier), else ``"features"`` (the extractor's).

    They ask whether the generated samples sit nearer the training images than unseen ones, which needs a space
    where the two splits are exchangeable; a network fit to the training split does not give one: on digits,
    ``fd_gap`` in the classifier's features is negative for every trained model and falls as the samples get
    worse (Spearman's rho with FD -0.93), and degraded unseen images read as "closer to unseen data"; in
    pixels neither happens (``reports/fd-gap-features.md``). The nearest-neighbour metrics (``authenticity``,
    ``ct``, ``nn_ratio``) stay in the extractor's features: they compare the generated samples' nearness to the
    training data with real images' nearness, and in pixels blurry samples are nearer every image than real
    ones are (stacked-digits' VAE and autoencoder would read as copying), while the classifier's features read
    fresh and copied images as pixels do. Inception, DINOv2 and CLIP never saw the scored set: their features
    are used for all."""
    return PIXELS if EXTRACTORS.get(protocol.extractor).fit_to_train_split else FEATURES


def gap_in_pixels(protocol: EvalProtocol) -> bool:
    """Whether ``protocol`` asks for a ``GAP_METRICS`` metric and computes it on pixels (``generalisation_space``)."""
    return bool(set(GAP_METRICS) & set(protocol.metrics)) and generalisation_space(protocol) == PIXELS


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
        # The splits in data space (float), a chunk at a time: uint8 images hash as the floats they stand for.
        split = key in ("train", "test")
        chunks = dataset.float_chunks(key) if split else iter([value])
        arrays = (np.ascontiguousarray(c.detach().cpu().numpy() if isinstance(c, torch.Tensor) else c) for c in chunks)
        first = next(arrays)
        shape = (len(value), *first.shape[1:]) if split else first.shape
        # The name, dtype and shape go in too, so equal bytes under another layout hash differently.
        h.update(f"{key}:{first.dtype.str}:{shape}".encode())
        for arr in itertools.chain([first], arrays):
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

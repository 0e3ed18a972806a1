"""Metric specs and the input conversion every metric shares.

A metric is one ``MetricSpec``: its reported name, direction, version, the data kinds and evaluation
inputs it needs, its compute function and its role in ranking. Each metric module registers its specs
beside its pure function (``frechet``, ``kid``, ...); scoring, the protocol, the leaderboard and the
report read them from here, so adding a metric is one ``register_metric`` call.

The pure functions take numpy arrays or torch tensors and compute in float64; ``as_float64`` and
``as_features`` are the single place where that conversion and its validation happen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np
import torch

from ganbench.errors import UserError
from ganbench.registry import Registry

__all__ = ["MetricSpec", "MetricInfo", "MetricContext", "METRICS", "METRIC_REGISTRY", "KIND_INPUTS",
           "register_metric", "metric_info", "metric_specs", "metric_names", "ranking_keys", "compute_metrics",
           "direction_mark", "is_better", "as_float64", "as_features"]  # fmt: skip

# The evaluation inputs scoring can hand a metric, per data kind (see MetricContext for their fields).
KIND_INPUTS: Mapping[str, frozenset[str]] = MappingProxyType({
    "points2d": frozenset({"modes", "train", "heldout"}),
    "image": frozenset({"features", "stats", "probs", "modes", "train", "heldout"}),
})  # fmt: skip


class MeanCov(Protocol):
    """Gaussian statistics of a feature set (``frechet.GaussianStats`` is one)."""

    mean: np.ndarray
    cov: np.ndarray


class MetricParams(Protocol):
    """The protocol fields metrics read (``evaluation.protocol.EvalProtocol`` is one)."""

    eval_seed: int
    kid_subsets: int
    kid_subset_size: int
    kid_seed: int
    prdc_k: int
    prdc_n: int | None
    is_splits: int
    is_shuffle_seed: int | None
    threshold_sd: float


@dataclass(frozen=True)
class MetricContext:
    """What scoring hands a compute function. Only the inputs some requested metric needs are filled.

    Attributes:
        params: the protocol's metric parameters.
        real_feats, fake_feats: input ``features``: reference and generated feature matrices.
        real_stats, fake_stats: input ``stats``: their Gaussian statistics.
        probs: input ``probs``: class probabilities of the generated samples.
        points, centers, sd: input ``modes`` on 2D sets: the generated points and the mixture's modes.
        mode_labels, num_modes: input ``modes`` on labelled image sets: predicted mode labels.
        gen_feats, train_feats: input ``train``: generated features (the points on 2D sets) and features
            of the training split, what memorisation is measured against.
        heldout_feats: input ``heldout``: features of real samples the model never saw (the test split).
        gap_feats: ``(generated, training, held-out)`` arrays of the same samples for ``fd_heldout`` and
            ``fd_gap`` when they are compared in another space than the features above (the pixels, where the
            extractor was trained on the training split: ``ganbench.evaluation.protocol.generalisation_space``);
            ``None``: those metrics use ``gen_feats``, ``train_feats`` and ``heldout_feats``.
    """

    params: MetricParams
    real_feats: np.ndarray | None = None
    fake_feats: np.ndarray | None = None
    real_stats: MeanCov | None = None
    fake_stats: MeanCov | None = None
    probs: np.ndarray | None = None
    points: torch.Tensor | np.ndarray | None = None
    centers: torch.Tensor | np.ndarray | None = None
    sd: float | None = None
    mode_labels: np.ndarray | None = None
    num_modes: int | None = None
    gen_feats: np.ndarray | None = None
    train_feats: np.ndarray | None = None
    heldout_feats: np.ndarray | None = None
    gap_feats: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def has(self, name: str) -> bool:
        """Whether input ``name`` is available (an unlabelled image set has no ``modes``)."""
        return {
            "features": self.real_feats is not None and self.fake_feats is not None,
            "stats": self.real_stats is not None and self.fake_stats is not None,
            "probs": self.probs is not None,
            "modes": self.points is not None or self.mode_labels is not None,
            "train": self.gen_feats is not None and self.train_feats is not None,
            "heldout": self.gen_feats is not None and self.train_feats is not None and self.heldout_feats is not None,
        }[name]


@dataclass(frozen=True)
class MetricSpec:
    """One reported number: what it is, how it is computed and how it ranks models.

    Attributes:
        name: the key under which the value is reported (``fd``, ``kid``, ...).
        higher_is_better: direction used when ranking and comparing models.
        description: one line for listings and reports.
        compute: ``compute(ctx) -> dict`` with at least ``name`` and the ``extras``. Specs of one family
            share the function (PRDC's four numbers), which scoring then calls once.
        kinds: the data kinds it applies to (``points2d``, ``image``).
        inputs: the evaluation inputs it needs (keys of ``KIND_INPUTS``); a metric whose inputs a dataset
            lacks is left out of the scores.
        version: bumped whenever the definition or implementation changes the value,
            so stored results from different versions are never compared silently.
        extras: further values reported beside it (``is_std``, ``mode_histogram``); not ranked.
        rank: per data kind, its position among the ranking keys (0: the primary metric, 1: the first
            tie-break, ...); kinds it does not rank are absent.
        default: whether default protocols compute it; an expensive metric is ``False`` and computed only
            when a protocol names it (``--metrics``).
        target: for a metric with an ideal value in the middle of its range, that value (the value of a
            model that generalises: 0 for ``ct`` and ``fd_gap``, 1 for ``nn_ratio``); the nearer a model is to
            it, the better, so tables show ``→0`` instead of an arrow and comparisons judge the distance
            from it. ``higher_is_better`` then names only the side of the failure the metric is built to
            catch (copying, for all three). None for a metric read in one direction.
        bounds: ``(low, high)``, the range every value lies in by the metric's definition (None: open on
            that side), e.g. ``(0, 1)`` for a fraction; the leaderboard's confidence interval of a mean over
            seeds is cut to it (``ganbench.results.ranking.mean_ci``). Not part of the definition: no version.
    """

    name: str
    higher_is_better: bool
    description: str
    compute: Callable[[MetricContext], dict] = field(repr=False)
    kinds: tuple[str, ...] = ("image",)
    inputs: frozenset[str] = frozenset()
    version: str = "1"
    extras: tuple[str, ...] = ()
    rank: Mapping[str, int] = field(default_factory=dict)
    default: bool = True
    target: float | None = None
    bounds: tuple[float | None, float | None] = (None, None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", tuple(self.kinds))
        object.__setattr__(self, "inputs", frozenset(self.inputs))
        object.__setattr__(self, "rank", MappingProxyType(dict(self.rank)))
        where = f"metric {self.name!r}"
        if not self.name or not isinstance(self.name, str):
            raise UserError(f"metric name must be a non-empty string, got {self.name!r}")
        if not callable(self.compute):
            raise UserError(f"{where}: compute must be a function of a MetricContext, got {self.compute!r}")
        if not self.kinds or not set(self.kinds) <= set(KIND_INPUTS):
            raise UserError(f"{where}: kinds {self.kinds} must be a non-empty subset of {tuple(KIND_INPUTS)}")
        for kind in self.kinds:
            if not self.inputs <= KIND_INPUTS[kind]:
                raise UserError(f"{where}: inputs {sorted(self.inputs)} are not all available on {kind} sets; "
                                f"choose from {sorted(KIND_INPUTS[kind])}")  # fmt: skip
        if not self.version or not isinstance(self.version, str):
            raise UserError(f"{where}: version must be a non-empty string, got {self.version!r}")
        if self.target is not None and (self.rank or not math.isfinite(self.target)):
            raise UserError(f"{where}: target {self.target!r} must be a finite number, and a metric with a "
                            "target cannot rank models (ranking keys are read in one direction)")  # fmt: skip
        bounds = tuple(self.bounds) if isinstance(self.bounds, (tuple, list)) else ()
        if len(bounds) != 2 or (None not in bounds and not bounds[0] < bounds[1]):
            raise UserError(f"{where}: bounds {self.bounds!r} must be (low, high) with low < high, None for an "
                            "open side")  # fmt: skip
        object.__setattr__(self, "bounds", bounds)
        for kind, pos in self.rank.items():
            if kind not in self.kinds or isinstance(pos, bool) or not isinstance(pos, int) or pos < 0:
                raise UserError(f"{where}: rank {dict(self.rank)} must map some of its kinds {self.kinds} "
                                "to positions 0, 1, ...")  # fmt: skip


def direction_mark(spec: MetricSpec) -> str:
    """How tables mark a metric's reading: ``↑`` (higher is better), ``↓`` (lower is better), or ``→0`` (the
    nearer to its ``target``, the better)."""
    if spec.target is not None:
        return f"→{spec.target:g}"
    return "↑" if spec.higher_is_better else "↓"


def is_better(spec: MetricSpec, a: float, b: float) -> bool:
    """Whether value ``a`` is better than ``b`` by the metric's reading (its direction, or the distance from its
    target)."""
    if spec.target is not None:
        return abs(a - spec.target) < abs(b - spec.target)
    return a > b if spec.higher_is_better else a < b


# Earlier name of the spec; stored code and scripts read ``.higher_is_better``, ``.version``, ``.description``.
MetricInfo = MetricSpec


class MetricRegistry(Registry[MetricSpec]):
    """The metric registry, iterated in registration order: the order of the leaderboard's columns."""

    def specs(self, kind: str | None = None) -> list[MetricSpec]:
        """Registered specs in registration order, only those for ``kind`` when given."""
        return [s for s in self._entries.values() if kind is None or kind in s.kinds]


METRIC_REGISTRY: MetricRegistry = MetricRegistry("metric")


def register_metric(spec: MetricSpec) -> MetricSpec:
    """Register ``spec`` under its name (``ValueError`` if taken); unregister with
    ``METRIC_REGISTRY.unregister(name)``."""
    return METRIC_REGISTRY.register(spec.name, spec)


class _MetricsView(Mapping):
    """``METRICS``: a read-only ``{name: MetricSpec}`` view of the registry, in registration order."""

    def __getitem__(self, name: str) -> MetricSpec:
        return METRIC_REGISTRY.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter([s.name for s in METRIC_REGISTRY.specs()])

    def __len__(self) -> int:
        return len(METRIC_REGISTRY)

    def __contains__(self, name: object) -> bool:
        return name in METRIC_REGISTRY


METRICS: Mapping[str, MetricSpec] = _MetricsView()


def metric_info(name: str) -> MetricSpec:
    """Return the spec of a metric.

    Args:
        name: a registered metric name.

    Returns:
        The ``MetricSpec`` registered under ``name``.

    Raises:
        UnknownNameError: (a ``KeyError`` and ``ValueError``) for an unknown name; the message
            suggests the closest known names.
    """
    return METRIC_REGISTRY.get(name)


def metric_specs(kind: str, names=None) -> list[MetricSpec]:
    """The specs for data kind ``kind`` in registration order, only those in ``names`` when given."""
    return [s for s in METRIC_REGISTRY.specs(kind) if names is None or s.name in names]


def metric_names(kind: str, default_only: bool = False) -> tuple[str, ...]:
    """The names of the metrics available on ``kind`` sets, in registration order (only those default
    protocols compute when ``default_only``)."""
    return tuple(s.name for s in metric_specs(kind) if s.default or not default_only)


def ranking_keys() -> dict[str, tuple[str, ...]]:
    """``{primary metric: ranking keys, most important first}``, one entry per data kind that ranks,
    in registration order of the primary metrics (a row is ranked by the first primary it reports)."""
    keys: dict[str, tuple[str, ...]] = {}
    for kind in KIND_INPUTS:
        ranked = sorted((s.rank[kind], s.name) for s in METRIC_REGISTRY.specs(kind) if kind in s.rank)
        if ranked:
            keys.setdefault(ranked[0][1], tuple(name for _, name in ranked))
    order = list(METRICS)
    return dict(sorted(keys.items(), key=lambda kv: order.index(kv[0])))


def compute_metrics(specs: list[MetricSpec], ctx: MetricContext) -> dict:
    """Compute ``specs`` on ``ctx``: each family's function once, metrics whose inputs are missing left out.

    Returns:
        The reported values: families in the order of their first spec, each family's metric names in
        ``specs`` order followed by its extras.
    """
    families: dict[Callable, list[MetricSpec]] = {}
    for s in specs:
        if all(ctx.has(i) for i in s.inputs):
            families.setdefault(s.compute, []).append(s)
    out: dict = {}
    for compute, members in families.items():
        values = compute(ctx)
        out.update({s.name: values[s.name] for s in members})
        out.update({e: values[e] for s in members for e in s.extras})
    return out


def as_float64(x, name: str) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a float64 numpy array.

    Args:
        x: the input.
        name: argument name, used in error messages.

    Raises:
        UserError: if ``x`` cannot be converted to a numeric array.
    """
    if isinstance(x, torch.Tensor):
        # detach/cpu so that GPU tensors and tensors that require grad are accepted as-is.
        return x.detach().cpu().to(torch.float64).numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise UserError(f"{name} must be a numeric array or tensor, got {type(x).__name__} ({e}).") from None


def as_features(x, name: str, min_rows: int = 1, keep_float32: bool = False) -> np.ndarray:
    """Convert ``x`` to a finite float64 ``(N, D)`` feature matrix with ``N >= min_rows``.

    Args:
        x: features as a numpy array or torch tensor.
        name: argument name, used in error messages.
        min_rows: the smallest acceptable number of samples.
        keep_float32: return float32 input as it is (a numpy view, or a memory-mapped file unread), for
            callers that convert the rows they use; the finiteness check then reads it in blocks.

    Raises:
        UserError: for a wrong number of dimensions, too few rows, or NaN/Inf values.
    """
    if keep_float32 and isinstance(x, torch.Tensor) and x.dtype == torch.float32:
        x = x.detach().cpu().numpy()
    keep = keep_float32 and isinstance(x, np.ndarray) and x.dtype == np.float32
    a = x if keep else as_float64(x, name)
    if a.ndim != 2:
        raise UserError(f"{name} must be 2D (samples, features), got shape {a.shape}; reshape to (N, D).")
    if a.shape[0] < min_rows or a.shape[1] < 1:
        raise UserError(
            f"{name} needs at least {min_rows} samples and 1 feature, got shape {a.shape}; pass more samples."
        )
    block = max(1, (1 << 24) // max(a.shape[1], 1)) if keep else max(a.shape[0], 1)  # 64 MB of float32 at a time
    bad = sum(int((~np.isfinite(a[s : s + block])).sum()) for s in range(0, a.shape[0], block))
    if bad:
        raise UserError(f"{name} contains NaN or Inf ({bad} values); fix the model or features.")
    return a

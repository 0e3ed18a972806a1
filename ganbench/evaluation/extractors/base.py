"""The interface every feature extractor / classifier used by the metrics follows.

An evaluator maps data-space images (float32 NCHW in ``[-1, 1]``) to features (for Frechet
distance, KID, PRDC) and class probabilities (for the Inception score and mode counts). It runs
in eval mode under ``torch.no_grad`` and is deterministic: the same input gives the same output.
Subclasses implement ``_forward`` on one batch; batching, input checks and conversion to float64
numpy live here once.

``EXTRACTORS`` is the registry of the names ``--extractor`` accepts: each ``ExtractorSpec`` says which
data kinds it applies to, whether it needs labels, and how to build its evaluator. Adding one is one
module that defines the evaluator and registers its spec, plus its import in ``extractors/__init__``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch

from ganbench.data import Dataset
from ganbench.errors import UserError
from ganbench.evaluation.extractors.weights import WeightsFile, checked_weights
from ganbench.registry import Registry

__all__ = [
    "Evaluator",
    "WeightsFileEvaluator",
    "DEFAULT_BATCH_SIZE",
    "EXTRACTORS",
    "ExtractorOptions",
    "ExtractorSpec",
    "build_extractor",
    "register_extractor",
    "resolve_extractor",
    "unlabelled_message",
]

DEFAULT_BATCH_SIZE = 512


class Evaluator(abc.ABC):
    """Base class of ganbench's evaluators.

    Attributes:
        name: short identifier recorded with every result (``classifier-digits``, ``inception-v3-compat``).
        num_classes: columns of ``probs`` (``None`` if the evaluator has no classifier head).
        feature_dim: columns of ``features``.
        weights_sha256: full SHA-256 of the weights used, so results name the exact network.
        preprocessing: how inputs are turned into network inputs, recorded in ``info()``.
        in_channels: accepted channel counts of the input.
        device: torch device the network runs on.
    """

    name: str
    num_classes: int | None
    feature_dim: int
    weights_sha256: str
    preprocessing: dict
    in_channels: tuple[int, ...]
    device: torch.device

    def info(self) -> dict:
        """What identifies this evaluator in a results file (subclasses add e.g. held-out accuracy).

        Keys ending in ``_file`` or ``_path`` name files on this machine: the fingerprint leaves them
        out and the score stores them as ``extractor_files``.
        """
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "preprocessing": dict(self.preprocessing),
            "num_classes": self.num_classes,
            "feature_dim": self.feature_dim,
        }

    def features(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Feature vectors ``(N, feature_dim)`` float64 of data-space images ``x``."""
        return self.features_and_probs(x, batch_size)[0]

    def probs(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Class probabilities ``(N, num_classes)`` float64; each row sums to 1."""
        return self.features_and_probs(x, batch_size)[1]

    def features_and_probs(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
        """Features and probabilities from one pass over ``x`` (half the cost of two calls).

        Args:
            x: float NCHW images in ``[-1, 1]`` (torch tensor or numpy array), any device.
            batch_size: images per forward pass.

        Returns:
            ``(features (N, feature_dim), probs (N, num_classes))``, float64 numpy arrays.

        Raises:
            UserError: wrong shape, channel count, dtype, NaN/Inf values or batch size.
        """
        x = self._check_input(x, batch_size)
        feats, probs = [], []
        for start in range(0, x.shape[0], batch_size):
            f, p = self._run(x[start : start + batch_size])
            feats.append(f)
            probs.append(p)
        if not feats:
            return np.zeros((0, self.feature_dim)), np.zeros((0, self.num_classes or 0))
        return np.concatenate(feats), np.concatenate(probs)

    def predict(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Most probable class of each image, int64 ``(N,)``.

        Done batch by batch so that large inputs never hold all ``(N, num_classes)`` probabilities.
        """
        x = self._check_input(x, batch_size)
        out = [self._run(x[s : s + batch_size])[1].argmax(axis=1) for s in range(0, x.shape[0], batch_size)]
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    @abc.abstractmethod
    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch on ``self.device`` -> ``(features, probabilities)`` as float tensors."""

    def _run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        # Checked per batch: a whole-input mask would double the memory of a large sample set.
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise UserError(
                f"images contain NaN or Inf ({bad} values in one batch); the generator diverged, fix the model."
            )
        with torch.no_grad():
            f, p = self._forward(x.to(self.device, torch.float32))
        return f.detach().cpu().to(torch.float64).numpy(), p.detach().cpu().to(torch.float64).numpy()

    def _check_input(self, x, batch_size: int) -> torch.Tensor:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise UserError(f"batch_size must be a positive integer, got {batch_size!r}; pass e.g. 512.")
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if not isinstance(x, torch.Tensor):
            raise UserError(f"images must be a torch tensor or numpy array, got {type(x).__name__}.")
        if not x.is_floating_point():
            raise UserError(
                f"images must be floating point in [-1, 1], got dtype {x.dtype}; convert with x / 127.5 - 1."
            )
        if x.dim() != 4 or x.shape[1] not in self.in_channels:
            raise UserError(
                f"{self.name} expects images NCHW with {' or '.join(map(str, self.in_channels))} channels, "
                f"got shape {tuple(x.shape)}; pass a batch of images of the evaluated dataset."
            )
        return x.detach()


# --- the registry of extractors ----------------------------------------------------------------------


@dataclass(frozen=True)
class ExtractorOptions:
    """What the user chose about extractors beyond the name.

    Attributes:
        weights: the chosen extractor's weights file (``--extractor-weights``, alias ``--inception-weights``).
        offline: never download (``--offline``).
    """

    weights: str | None = None
    offline: bool = False


@dataclass(frozen=True)
class ExtractorSpec:
    """One name ``--extractor`` accepts.

    Attributes:
        name: the ``--extractor`` value, also ``EvalProtocol.extractor``.
        kinds: dataset kinds (``DatasetInfo.kind``) it applies to.
        needs_labels: it only works on labelled datasets.
        factory: ``(dataset, device, options) -> Evaluator``, or ``None`` when the samples are their own
            features (2D points).
        description: one line for ``--help``; when it is the only extractor of a kind, the error for
            another name quotes it.
        default_for: kinds whose default extractor this is.
        has_classes: it gives class probabilities (Inception score, mode counts); ``False``: features only,
            and the protocol leaves out the metrics that need them.
        takes_weights: it reads a weights file the user may name (``ExtractorOptions.weights``).
        fit_to_train_split: its network is trained on the scored dataset's own training split (ganbench's
            classifier), so in its features training and held-out images are not alike: ``fd_heldout`` and
            ``fd_gap`` are then computed on the pixels (``ganbench.evaluation.protocol.generalisation_space``).
    """

    name: str
    kinds: tuple[str, ...]
    needs_labels: bool
    factory: Callable[[Dataset, str, ExtractorOptions], Optional[Evaluator]]
    description: str
    default_for: tuple[str, ...] = field(default=())
    has_classes: bool = True
    takes_weights: bool = False
    fit_to_train_split: bool = False

    def __post_init__(self) -> None:
        if not set(self.default_for) <= set(self.kinds):
            raise ValueError(f"extractor {self.name!r}: default_for {self.default_for} not within kinds {self.kinds}")


EXTRACTORS: Registry[ExtractorSpec] = Registry("extractor")


class WeightsFileEvaluator(Evaluator):
    """An evaluator whose network comes from a published weights file (Inception, DINOv2, CLIP): its
    results also record the file used here (``weights_path``, kept out of the fingerprint) and whether it
    is the published file (``standard_weights``, the SHA-256 against the published one)."""

    weights_path: object
    standard_weights: bool

    def _use_weights(self, spec: WeightsFile, weights_path=None, offline: bool = False) -> None:
        """Set ``weights_path``, ``weights_sha256`` and ``standard_weights`` from the file ``spec``
        resolves to (``checked_weights``: the cached file must be the published one)."""
        self.weights_path, self.weights_sha256 = checked_weights(spec, weights_path, offline)
        self.standard_weights = self.weights_sha256 == spec.sha256

    def info(self) -> dict:
        out = super().info()
        out.update(weights_path=str(self.weights_path), standard_weights=self.standard_weights)
        return out


def register_extractor(spec: ExtractorSpec) -> ExtractorSpec:
    """Add ``spec`` to ``EXTRACTORS``; a kind has at most one default extractor."""
    for kind in spec.default_for:
        taken = [n for n in EXTRACTORS if kind in EXTRACTORS.get(n).default_for]
        if taken:
            raise ValueError(f"extractor {spec.name!r}: {taken[0]!r} is already the default for {kind!r} data")
    return EXTRACTORS.register(spec.name, spec)


def _applicable(kind: str) -> list[ExtractorSpec]:
    return [s for s in map(EXTRACTORS.get, EXTRACTORS) if kind in s.kinds]


def _one_of(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def resolve_extractor(dataset: Dataset, name: str | None) -> str:
    """The extractor name for ``dataset``: ``name`` checked against its kind, or the kind's default.

    Raises:
        UserError: ``name`` is unknown or does not apply to the dataset's kind, or the kind has no default.
    """
    kind = dataset.info.kind
    specs = _applicable(kind)
    if name is None:
        default = [s.name for s in specs if kind in s.default_for]
        if not default:
            raise UserError(f"dataset {dataset.info.name!r}: no default extractor for {kind} data; pass --extractor")
        return default[0]
    if name in (s.name for s in specs):
        return name
    if len(specs) == 1:
        raise UserError(f"--extractor {name}: {specs[0].description}; omit it")
    raise UserError(f"--extractor must be {_one_of([s.name for s in specs])}; got {name!r}")


def unlabelled_message(dataset: Dataset, name: str) -> str:
    """The error for extractor ``name`` on a dataset without labels, naming the extractors that work."""
    others = [s.name for s in _applicable(dataset.info.kind) if not s.needs_labels]
    fix = f"--extractor {_one_of(others)}" if others else "a labelled dataset"
    return f"dataset {dataset.name!r}: no {name} evaluator exists for unlabelled data; use {fix}"


def build_extractor(name: str, dataset: Dataset, device: str = "cpu",
                    options: ExtractorOptions = ExtractorOptions()) -> Evaluator | None:  # fmt: skip
    """The evaluator registered under ``name`` for ``dataset`` (``None`` for 2D points).

    Raises:
        UserError: the name is unknown, or it needs labels and the dataset has none.
    """
    try:
        spec = EXTRACTORS.get(name)
    except KeyError as e:
        raise UserError(str(e)) from None
    if spec.needs_labels and (dataset.train_labels is None or dataset.test_labels is None):
        raise UserError(unlabelled_message(dataset, name))
    if options.weights is not None and not spec.takes_weights:
        takers = _one_of([n for n in EXTRACTORS if EXTRACTORS.get(n).takes_weights])
        raise UserError(f"--extractor-weights: the {name} extractor takes no weights file; it is for --extractor "
                        f"{takers}")  # fmt: skip
    return spec.factory(dataset, device, options)

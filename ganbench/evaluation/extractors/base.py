"""The interface every feature extractor / classifier used by the metrics follows.

An evaluator maps data-space images (float32 NCHW in ``[-1, 1]``) to features (for Frechet
distance, KID, PRDC) and class probabilities (for the Inception score and mode counts). It runs
in eval mode under ``torch.no_grad`` and is deterministic: the same input gives the same output.
Subclasses implement ``_forward`` on one batch; batching, input checks and conversion to float64
numpy live here once.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from ganbench.errors import UserError

__all__ = ["Evaluator", "DEFAULT_BATCH_SIZE"]

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
        """What identifies this evaluator in a results file (subclasses add e.g. held-out accuracy)."""
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

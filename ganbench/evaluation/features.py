"""An extractor bound to a dataset and protocol, with the real reference features memoised (and, for a
whole split, cached on disk by ``reference_cache``)."""

from __future__ import annotations

import numpy as np
import torch

from ganbench.caches import BoundedCache
from ganbench.data import Dataset
from ganbench.evaluation.extractors import ExtractorOptions, build_extractor
from ganbench.evaluation.protocol import EvalProtocol
from ganbench.evaluation.reference_cache import whole_split_reference
from ganbench.metrics import GaussianStats

# (dataset, extractor, weights, n_real, eval_seed or None for a whole split, split) -> (statistics, features).
# A suite run scores each dataset against its train split (models) and test split (the reference row), four
# datasets at most: sixteen keeps them all. A subset's entry is up to n_real x feature_dim float64 (10,000 x
# 2,048: 160 MB for Inception), so the bound matters in long processes; a whole split's features are a
# memory-mapped file.
_REAL_FEATURES: BoundedCache[tuple[GaussianStats, np.ndarray]] = BoundedCache("real features", maxsize=16)


class ProtocolExtractor:
    """Loads the protocol's extractor (from ``EXTRACTORS``) once and memoises the real reference features."""

    def __init__(self, dataset: Dataset, protocol: EvalProtocol, device: str = "cpu",
                 extractor_weights: str | None = None, offline: bool = False) -> None:  # fmt: skip
        self.dataset, self.protocol = dataset, protocol
        options = ExtractorOptions(weights=extractor_weights, offline=offline)
        self.model = build_extractor(protocol.extractor, dataset, device, options)

    def info(self) -> dict | None:
        return None if self.model is None else self.model.info()

    def features_and_probs(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return self.model.features_and_probs(x)

    def real(self, protocol: EvalProtocol | None = None) -> tuple[GaussianStats, np.ndarray]:
        """Gaussian statistics and a feature matrix of the reference split under ``protocol`` (default:
        the extractor's), memoised."""
        p = protocol or self.protocol
        whole = p.n_real == len(self._split(p))  # the whole split, in order: independent of the seed
        key = (p.dataset, p.extractor, (self.info() or {}).get("weights_sha256"), p.n_real,
               None if whole else p.eval_seed, p.reference_split)  # fmt: skip
        if whole:
            return _REAL_FEATURES.get_or_compute(key, lambda: whole_split_reference(self.model, self.dataset,
                                                                                    p.reference_split))  # fmt: skip
        return _REAL_FEATURES.get_or_compute(key, lambda: self._compute_real(p))

    def _split(self, p: EvalProtocol) -> torch.Tensor:
        return self.dataset.train if p.reference_split == "train" else self.dataset.test

    def real_indices(self, protocol: EvalProtocol | None = None) -> torch.Tensor:
        """Which samples of the reference split ``real`` scores, in the order of its feature rows: the whole
        split in order when ``n_real`` is its size, else the first ``n_real`` of a permutation seeded by
        ``eval_seed``."""
        p = protocol or self.protocol
        n = len(self._split(p))
        if p.n_real == n:
            return torch.arange(n)
        return torch.randperm(n, generator=torch.Generator().manual_seed(p.eval_seed))[: p.n_real]

    def real_pixels(self, protocol: EvalProtocol, rows: np.ndarray | None = None) -> np.ndarray:
        """The samples behind ``real(protocol)``'s feature rows (or those of its rows listed in ``rows``) as
        flattened data-space float64 pixels."""
        idx = self.real_indices(protocol)
        if rows is not None:
            idx = idx[torch.as_tensor(rows)]
        return pixels(self.dataset.as_float(self._split(protocol)[idx]))

    def _compute_real(self, p: EvalProtocol) -> tuple[GaussianStats, np.ndarray]:
        feats, _ = self.features_and_probs(self.dataset.as_float(self._split(p)[self.real_indices(p)]))
        return GaussianStats().update(feats), feats


def pixels(x: torch.Tensor) -> np.ndarray:
    """Data-space samples ``(N, ...)`` as a float64 ``(N, prod(...))`` matrix: the space of ``fd_heldout`` and
    ``fd_gap`` where the extractor was fit to the training split (``protocol.generalisation_space``)."""
    return x.detach().cpu().reshape(len(x), -1).double().numpy()

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
                 inception_weights: str | None = None, offline: bool = False) -> None:  # fmt: skip
        self.dataset, self.protocol = dataset, protocol
        options = ExtractorOptions(inception_weights=inception_weights, offline=offline)
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

    def _compute_real(self, p: EvalProtocol) -> tuple[GaussianStats, np.ndarray]:
        split = self._split(p)
        idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(p.eval_seed))[: p.n_real]
        feats, _ = self.features_and_probs(self.dataset.as_float(split[idx]))
        return GaussianStats().update(feats), feats

"""An extractor bound to a dataset and protocol, with the real reference features memoised."""

from __future__ import annotations

import numpy as np
import torch

from ganbench.data import Dataset
from ganbench.evaluation.extractors import InceptionEvaluator, get_classifier
from ganbench.evaluation.protocol import EvalProtocol
from ganbench.metrics import GaussianStats


class ProtocolExtractor:
    """Loads the protocol's extractor once and memoises the real reference features."""

    _memo: dict = {}

    def __init__(self, dataset: Dataset, protocol: EvalProtocol, device: str = "cpu",
                 inception_weights: str | None = None, offline: bool = False) -> None:  # fmt: skip
        self.dataset, self.protocol = dataset, protocol
        if protocol.extractor == "points":
            self.model = None
        elif protocol.extractor == "classifier":
            from ganbench.evaluation.extractors import get_classifier

            self.model = get_classifier(dataset, device=device)
        else:
            from ganbench.evaluation.extractors import InceptionEvaluator

            self.model = InceptionEvaluator(weights_path=inception_weights, offline=offline, device=device)

    def info(self) -> dict | None:
        return None if self.model is None else self.model.info()

    def features_and_probs(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        return self.model.features_and_probs(x)

    def real(self, protocol: EvalProtocol | None = None) -> tuple[GaussianStats, np.ndarray]:
        """Gaussian statistics and a feature matrix of the reference split under ``protocol`` (default:
        the extractor's), memoised."""
        p = protocol or self.protocol
        key = (p.dataset, p.extractor, (self.info() or {}).get("weights_sha256"), p.n_real, p.eval_seed,
               p.reference_split)  # fmt: skip
        if key not in self._memo:
            split = self.dataset.train if p.reference_split == "train" else self.dataset.test
            idx = torch.randperm(len(split), generator=torch.Generator().manual_seed(p.eval_seed))[: p.n_real]
            feats, _ = self.features_and_probs(split[idx])
            self._memo[key] = (GaussianStats().update(feats), feats)
        return self._memo[key]

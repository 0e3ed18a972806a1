"""Scoring: samples -> metrics, each score stored with the protocol fingerprint that made it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganbench.data import Dataset
from ganbench.environment import flush_denormals
from ganbench.errors import UserError
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import EvalProtocol, at_n_fake, extractor_files, fingerprint
from ganbench.evaluation.samples import check_samples
from ganbench.metrics import GaussianStats, MetricContext, compute_metrics, metric_specs
from ganbench.runs import files


def image_metrics(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None, p: EvalProtocol) -> dict:
    """The registered image metrics that ``p`` asks for, each input computed once and only when needed."""
    specs = metric_specs("image", p.metrics)
    needs = set().union(*(s.inputs for s in specs))
    feats, probs = ext.features_and_probs(fake)
    real_stats, real_feats = ext.real(p) if needs & {"features", "stats"} else (None, None)
    num_modes = ext.dataset.info.num_modes
    ctx = MetricContext(
        p, real_feats=real_feats, fake_feats=feats, real_stats=real_stats,
        fake_stats=GaussianStats().update(feats) if "stats" in needs else None, probs=probs,
        mode_labels=_mode_labels(fake, ext, fake_modes, probs) if "modes" in needs and num_modes else None,
        num_modes=num_modes)  # fmt: skip
    return compute_metrics(specs, ctx)


def _mode_labels(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None,
                 probs: np.ndarray) -> np.ndarray:  # fmt: skip
    # When fake_modes starts with fake (as every caller here passes them), its first labels are the
    # argmax of the probabilities already computed, which is what predict returns; only the extra
    # samples need another pass. Any other fake_modes are classified on their own.
    labels = probs.argmax(axis=1)
    if fake_modes is not None:
        head = min(len(fake), len(fake_modes))
        if not torch.equal(torch.as_tensor(fake_modes[:head]), torch.as_tensor(fake[:head])):
            labels = ext.model.predict(fake_modes)
        elif len(fake_modes) > head:
            labels = np.concatenate([labels, ext.model.predict(fake_modes[head:])])
        else:
            labels = labels[:head]
    return labels


def _point_metrics(fake: torch.Tensor, dataset: Dataset, p: EvalProtocol) -> dict:
    ctx = MetricContext(p, points=fake, centers=dataset.centers, sd=dataset.sd)
    return compute_metrics(metric_specs("points2d", p.metrics), ctx)


@flush_denormals()
def score(fake: torch.Tensor, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None,
          fake_modes: torch.Tensor | None = None) -> dict:  # fmt: skip
    """Score data-space samples. Returns ``{"metrics": {...}, "fingerprint": {...}, "extractor_files": {...}}``
    (the last names the extractor's files on this machine, which the fingerprint leaves out).

    Args:
        fake: ``protocol.n_fake`` samples (more are cut, fewer are an error).
        dataset: the dataset with its mode structure.
        protocol: the evaluation protocol.
        extractor: a loaded extractor (made from the protocol when omitted).
        fake_modes: ``protocol.n_modes`` samples for the mode histogram (defaults to ``fake``).
    """
    fake = check_samples(fake, dataset.info)
    if len(fake) < protocol.n_fake:
        raise UserError(f"need {protocol.n_fake} samples for this protocol, got {len(fake)}: pass more or lower --n")
    fake = fake[: protocol.n_fake]
    ext = extractor or ProtocolExtractor(dataset, protocol)
    if dataset.info.kind == "points2d":
        metrics = _point_metrics(fake, dataset, protocol)
    else:
        metrics = image_metrics(fake, ext, fake_modes, protocol)
    info = ext.info()
    fp = fingerprint(protocol, info, dataset)
    return {"metrics": metrics, "fingerprint": fp, "extractor_files": extractor_files(info)}


@flush_denormals()
@torch.no_grad()
def sample_model(model, n: int, eval_seed: int, chunk: int = 5000) -> torch.Tensor:
    """``n`` samples from ``model`` with a generator seeded by ``eval_seed`` (the global RNG is untouched)."""
    g = torch.Generator().manual_seed(eval_seed)
    parts = [model.sample(min(chunk, n - i), generator=g).detach().float().cpu() for i in range(0, n, chunk)]
    return torch.cat(parts)


def score_model(model, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None) -> dict:
    """Sample a model under the protocol's evaluation seed and score it."""
    n = max(protocol.n_fake, protocol.n_modes)
    try:
        samples = sample_model(model, n, protocol.eval_seed)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"the model's sample() raised {type(e).__name__}: {e}") from None
    samples = check_samples(samples, dataset.info, "the model's samples")
    return score(samples[: protocol.n_fake], dataset, protocol, extractor, fake_modes=samples[: protocol.n_modes])


def score_reference(dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None) -> dict:
    """The real-data row: the test split scored like a model against the reference split.

    It is the floor (or ceiling) a perfect model reaches at this sample size.
    """
    test = dataset.test
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(protocol.eval_seed + 1))
    n = min(protocol.n_fake, len(test))
    if n < protocol.n_fake:
        protocol = at_n_fake(protocol, dataset, n)
    test = test[idx]
    return score(test[:n], dataset, protocol, extractor, fake_modes=test[: min(protocol.n_modes, len(test))])


def save_score(path: Path, result: dict) -> None:
    """Add ``result`` to a scores file keyed by fingerprint id (atomic rewrite)."""
    scores = files.read_json(path) if path.exists() else {}
    scores[result["fingerprint"]["id"]] = result
    files.atomic_write_json(path, scores)

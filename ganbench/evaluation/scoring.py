"""Scoring: samples -> metrics, each score stored with the protocol fingerprint that made it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ganbench.data import Dataset
from ganbench.environment import flush_denormals
from ganbench.errors import UserError
from ganbench.evaluation.bootstrap import bootstrap_intervals
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import MAX_FEATURE_N, EvalProtocol, extractor_files, fingerprint, is_splits
from ganbench.evaluation.samples import check_samples
from ganbench.metrics import GaussianStats, MetricContext, compute_metrics, metric_specs
from ganbench.metrics.base import MetricSpec, as_float64
from ganbench.runs import files


# The held-out real samples of the memorisation and generalisation metrics: the dataset's test split.
HELDOUT_TEST = "test"


def image_metrics(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None, p: EvalProtocol,
                  heldout: str | torch.Tensor | None = HELDOUT_TEST) -> dict:  # fmt: skip
    """The registered image metrics that ``p`` asks for, each input computed once and only when needed.

    ``heldout``: the held-out real samples (``"test"``: the test split; a tensor: these data-space samples;
    ``None``: none, and the metrics that need them are left out)."""
    return compute_metrics(*image_context(fake, ext, fake_modes, p, heldout))


def image_context(fake: torch.Tensor, ext: ProtocolExtractor, fake_modes: torch.Tensor | None, p: EvalProtocol,
                  heldout: str | torch.Tensor | None = HELDOUT_TEST) -> tuple[list[MetricSpec], MetricContext]:  # fmt: skip
    """The specs ``p`` asks for on an image set and the context that computes them (see ``image_metrics``)."""
    specs = metric_specs("image", p.metrics)
    needs = set().union(*(s.inputs for s in specs))
    feats, probs = ext.features_and_probs(fake)
    real_stats, real_feats = ext.real(p) if needs & {"features", "stats"} else (None, None)
    train_feats = None
    if needs & {"train", "heldout"}:
        train_feats = at_most(ext.real(dataclasses.replace(p, reference_split="train"))[1], MAX_FEATURE_N, p.eval_seed)
    num_modes = ext.dataset.info.num_modes
    ctx = MetricContext(
        p, real_feats=real_feats, fake_feats=feats, real_stats=real_stats,
        fake_stats=GaussianStats().update(feats) if "stats" in needs else None, probs=probs,
        mode_labels=_mode_labels(fake, ext, fake_modes, probs) if "modes" in needs and num_modes else None,
        num_modes=num_modes, gen_feats=feats[:MAX_FEATURE_N], train_feats=train_feats,
        heldout_feats=_heldout_features(ext, p, heldout) if "heldout" in needs else None)  # fmt: skip
    return specs, ctx


def at_most(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``x``, or ``n`` of its rows drawn without replacement by ``seed`` (in random order) when it has more.

    The memorisation metrics compare at most ``MAX_FEATURE_N`` generated, training and held-out samples: their
    nearest-neighbour searches cost generated x training x feature dimension."""
    if len(x) <= n:
        return x
    return x[np.random.default_rng(seed).permutation(len(x))[:n]]


def _heldout_features(ext: ProtocolExtractor, p: EvalProtocol, heldout: str | torch.Tensor | None) -> np.ndarray | None:
    if heldout is None:
        return None
    if isinstance(heldout, str):
        if heldout != HELDOUT_TEST:
            raise UserError(f"held-out samples: {heldout!r} is not a split; use {HELDOUT_TEST!r} or pass samples")
        n = min(len(ext.dataset.test), MAX_FEATURE_N)
        return ext.real(dataclasses.replace(p, reference_split="test", n_real=n))[1]
    return ext.features_and_probs(check_samples(heldout, ext.dataset.info, "the held-out samples"))[0]


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


def _point_context(fake: torch.Tensor, dataset: Dataset, p: EvalProtocol,
                   heldout: str | torch.Tensor | None = HELDOUT_TEST) -> tuple[list[MetricSpec], MetricContext]:  # fmt: skip
    # On 2D sets the points are their own features and the whole training split is compared (no
    # extractor cost), so a sampler copying any training point is caught.
    specs = metric_specs("points2d", p.metrics)
    needs = set().union(*(s.inputs for s in specs))
    if isinstance(heldout, str) and heldout != HELDOUT_TEST:
        raise UserError(f"held-out samples: {heldout!r} is not a split; use {HELDOUT_TEST!r} or pass samples")
    held = dataset.test if isinstance(heldout, str) else heldout
    ctx = MetricContext(p, points=fake, centers=dataset.centers, sd=dataset.sd, gen_feats=as_float64(fake, "fake"),
                        train_feats=as_float64(dataset.train, "train") if needs & {"train", "heldout"} else None,
                        heldout_feats=as_float64(held, "heldout") if "heldout" in needs and held is not None else None)  # fmt: skip
    return specs, ctx


@flush_denormals()
def score(fake: torch.Tensor, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None,
          fake_modes: torch.Tensor | None = None, heldout: str | torch.Tensor | None = HELDOUT_TEST,
          bootstrap: int = 0) -> dict:  # fmt: skip
    """Score data-space samples. Returns ``{"metrics": {...}, "fingerprint": {...}, "extractor_files": {...}}``
    (the last names the extractor's files on this machine, which the fingerprint leaves out).

    Args:
        fake: ``protocol.n_fake`` samples (more are cut, fewer are an error).
        dataset: the dataset with its mode structure.
        protocol: the evaluation protocol.
        extractor: a loaded extractor (made from the protocol when omitted).
        fake_modes: ``protocol.n_modes`` samples for the mode histogram (defaults to ``fake``).
        heldout: real samples the model never saw, for the memorisation and generalisation metrics:
            ``"test"`` (the test split), data-space samples, or ``None`` (those metrics are left out).
        bootstrap: when 2 or more, also ``eval_ci95``: each metric's 95% interval from that many bootstrap
            resamples of the generated samples (``ganbench.evaluation.bootstrap``): the evaluation noise.
    """
    fake = check_samples(fake, dataset.info)
    if len(fake) < protocol.n_fake:
        raise UserError(f"need {protocol.n_fake} samples for this protocol, got {len(fake)}: pass more or lower --n")
    fake = fake[: protocol.n_fake]
    ext = extractor or ProtocolExtractor(dataset, protocol)
    if dataset.info.kind == "points2d":
        specs, ctx = _point_context(fake, dataset, protocol, heldout)
    else:
        specs, ctx = image_context(fake, ext, fake_modes, protocol, heldout)
    info = ext.info()
    fp = fingerprint(protocol, info, dataset)
    out = {"metrics": compute_metrics(specs, ctx), "fingerprint": fp, "extractor_files": extractor_files(info)}
    if bootstrap:
        out["eval_ci95"] = bootstrap_intervals(specs, ctx, bootstrap, seed=protocol.eval_seed, values=out["metrics"])
        out["bootstrap_resamples"] = bootstrap
    return out


@flush_denormals()
@torch.no_grad()
def sample_model(model, n: int, eval_seed: int, chunk: int = 5000) -> torch.Tensor:
    """``n`` samples from ``model`` with a generator seeded by ``eval_seed`` (the global RNG is untouched)."""
    g = torch.Generator().manual_seed(eval_seed)
    parts = [model.sample(min(chunk, n - i), generator=g).detach().float().cpu() for i in range(0, n, chunk)]
    return torch.cat(parts)


def score_model(model, dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None,
                bootstrap: int = 0) -> dict:  # fmt: skip
    """Sample a model under the protocol's evaluation seed and score it."""
    n = max(protocol.n_fake, protocol.n_modes)
    try:
        samples = sample_model(model, n, protocol.eval_seed)
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"the model's sample() raised {type(e).__name__}: {e}") from None
    samples = check_samples(samples, dataset.info, "the model's samples")
    return score(samples[: protocol.n_fake], dataset, protocol, extractor, fake_modes=samples[: protocol.n_modes],
                 bootstrap=bootstrap)


def score_reference(dataset: Dataset, protocol: EvalProtocol, extractor: ProtocolExtractor | None = None) -> dict:
    """The real-data row: the test split scored like a model against the reference split.

    It is the floor (or ceiling) a perfect model reaches at this sample size. Its samples are the held-out
    split itself, so the metrics comparing samples with held-out data (``ct``, ``nn_ratio``, ``fd_heldout``,
    ``fd_gap``) are left out of it.
    """
    test = dataset.test
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(protocol.eval_seed + 1))
    n = min(protocol.n_fake, len(test))
    if n < protocol.n_fake:
        protocol = dataclasses.replace(protocol, n_fake=n, kid_subset_size=min(protocol.kid_subset_size, n),
                                       is_splits=is_splits(n))  # fmt: skip
    test = test[idx]
    return score(test[:n], dataset, protocol, extractor, fake_modes=test[: min(protocol.n_modes, len(test))],
                 heldout=None)


def save_score(path: Path, result: dict) -> None:
    """Add ``result`` to a scores file keyed by fingerprint id (atomic rewrite)."""
    scores = files.read_json(path) if path.exists() else {}
    scores[result["fingerprint"]["id"]] = result
    files.atomic_write_json(path, scores)

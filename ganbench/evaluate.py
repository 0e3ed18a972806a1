"""Scoring: samples -> metrics, each score stored with the protocol fingerprint that made it.

The protocol (``EvalProtocol``) fixes the extractor, sample counts, reference split, evaluation seed
and metric parameters. Its fingerprint adds the extractor's weights hash, preprocessing and library
versions; two scores are comparable only when their fingerprint ids match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganbench import io as gio
from ganbench.data import Dataset
from ganbench.environment import flush_denormals, package_versions
from ganbench.errors import UserError
from ganbench.metrics import (
    METRICS,
    GaussianStats,
    frechet_distance_from_stats,
    inception_score,
    kernel_inception_distance,
    mode_coverage_2d,
    mode_histogram_metrics,
    prdc,
)
from ganbench.samples import check_samples

POINT_METRICS = ("modes_covered", "hq_fraction", "reverse_kl")
IMAGE_METRICS = ("fd", "is", "kid", "precision", "recall", "density", "coverage", "modes_covered", "mode_kl")
# VEEGAN/PacGAN count modes of 2D mixtures on 2,500 samples and of stacked sets on 26,000.
POINTS_N = 2500
STACKED_MODE_N = 26000
MAX_FEATURE_N = 10000


@dataclass(frozen=True)
class EvalProtocol:
    """What an evaluation does; everything here is part of the fingerprint.

    Attributes:
        dataset: dataset name.
        extractor: ``points`` (2D sets), ``classifier`` (ganbench's offline evaluator) or ``inception``.
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
    if info.kind == "points2d":
        if extractor not in (None, "points"):
            raise UserError(f"--extractor {extractor}: 2D sets are scored on the points themselves; omit it")
        allowed, extractor = POINT_METRICS, "points"
        n_fake = n or POINTS_N
        n_real, n_modes = len(dataset.test), n_fake
    else:
        extractor = extractor or "classifier"
        if extractor not in ("classifier", "inception"):
            raise UserError(f"--extractor must be classifier or inception; got {extractor!r}")
        allowed = IMAGE_METRICS
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


class _Extractor:
    """Loads the protocol's extractor once and memoises the real reference features."""

    _memo: dict = {}

    def __init__(self, dataset: Dataset, protocol: EvalProtocol, device: str = "cpu",
                 inception_weights: str | None = None, offline: bool = False) -> None:  # fmt: skip
        self.dataset, self.protocol = dataset, protocol
        if protocol.extractor == "points":
            self.model = None
        elif protocol.extractor == "classifier":
            from ganbench.evaluators import get_classifier

            self.model = get_classifier(dataset, device=device)
        else:
            from ganbench.evaluators import InceptionEvaluator

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


def _image_metrics(fake: torch.Tensor, ext: _Extractor, fake_modes: torch.Tensor | None, p: EvalProtocol) -> dict:
    feats, probs = ext.features_and_probs(fake)
    real_stats, real_feats = ext.real(p)
    fake_stats = GaussianStats().update(feats)
    out: dict = {}
    want = set(p.metrics)
    if "fd" in want:
        out["fd"] = frechet_distance_from_stats(real_stats.mean, real_stats.cov, fake_stats.mean, fake_stats.cov)
    if "is" in want:
        out["is"], out["is_std"] = inception_score(probs, splits=min(p.is_splits, len(probs)))
    if "kid" in want:
        out["kid"], out["kid_std"] = kernel_inception_distance(
            real_feats, feats, subsets=p.kid_subsets, subset_size=p.kid_subset_size, seed=p.eval_seed)
    if want & {"precision", "recall", "density", "coverage"}:
        k_real = real_feats[: len(feats)]  # equal sizes, as the PRDC papers do
        out.update({k: v for k, v in prdc(k_real, feats, k=p.prdc_k).items() if k in want})
    if want & {"modes_covered", "mode_kl"} and ext.dataset.info.num_modes:
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
        hist = mode_histogram_metrics(labels, ext.dataset.info.num_modes)
        out.update({k: hist[k] for k in ("modes_covered", "mode_kl") if k in want})
        out["mode_histogram"] = hist["mode_histogram"]
    return out


def _point_metrics(fake: torch.Tensor, dataset: Dataset, p: EvalProtocol) -> dict:
    res = mode_coverage_2d(fake, dataset.centers, dataset.sd, threshold_sd=p.threshold_sd)
    out = {k: res[k] for k in p.metrics}
    out["mode_histogram"] = res["mode_histogram"]
    return out


@flush_denormals()
def score(fake: torch.Tensor, dataset: Dataset, protocol: EvalProtocol, extractor: _Extractor | None = None,
          fake_modes: torch.Tensor | None = None) -> dict:  # fmt: skip
    """Score data-space samples. Returns ``{"metrics": {...}, "fingerprint": {...}}``.

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
    ext = extractor or _Extractor(dataset, protocol)
    if dataset.info.kind == "points2d":
        metrics = _point_metrics(fake, dataset, protocol)
    else:
        metrics = _image_metrics(fake, ext, fake_modes, protocol)
    return {"metrics": metrics, "fingerprint": fingerprint(protocol, ext.info())}


@flush_denormals()
@torch.no_grad()
def sample_model(model, n: int, eval_seed: int, chunk: int = 5000) -> torch.Tensor:
    """``n`` samples from ``model`` with a generator seeded by ``eval_seed`` (the global RNG is untouched)."""
    g = torch.Generator().manual_seed(eval_seed)
    parts = [model.sample(min(chunk, n - i), generator=g).detach().float().cpu() for i in range(0, n, chunk)]
    return torch.cat(parts)


def score_model(model, dataset: Dataset, protocol: EvalProtocol, extractor: _Extractor | None = None) -> dict:
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


def score_reference(dataset: Dataset, protocol: EvalProtocol, extractor: _Extractor | None = None) -> dict:
    """The real-data row: the test split scored like a model against the reference split.

    It is the floor (or ceiling) a perfect model reaches at this sample size.
    """
    test = dataset.test
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(protocol.eval_seed + 1))
    n = min(protocol.n_fake, len(test))
    if n < protocol.n_fake:
        protocol = dataclasses.replace(protocol, n_fake=n, kid_subset_size=min(protocol.kid_subset_size, n),
                                       is_splits=is_splits(n))  # fmt: skip
    test = test[idx]
    return score(test[:n], dataset, protocol, extractor, fake_modes=test[: min(protocol.n_modes, len(test))])


def save_score(path: Path, result: dict) -> None:
    """Add ``result`` to a scores file keyed by fingerprint id (atomic rewrite)."""
    scores = gio.read_json(path) if path.exists() else {}
    scores[result["fingerprint"]["id"]] = result
    gio.atomic_write_json(path, scores)


# -- metrics during training -------------------------------------------------------------------

_TRACK_EXTRACTORS: dict = {}


def training_tracker(model, dataset: Dataset, step: int, n: int | None = None, eval_seed: int = 0) -> dict:
    """Cheap metrics for ``metrics.jsonl``: mode coverage (2D), or the classifier's Frechet distance and
    mode counts (labelled image sets). Non-finite samples are reported, not raised."""
    info = dataset.info
    n = n or (POINTS_N if info.kind == "points2d" else min(2000, len(dataset.test)))
    samples = sample_model(model, n, eval_seed)
    if not torch.isfinite(samples).all():
        return {"non_finite_samples": True}
    if info.kind == "points2d":
        res = mode_coverage_2d(samples, dataset.centers, dataset.sd)
        return {k: res[k] for k in POINT_METRICS}
    if dataset.train_labels is None:
        return {}
    samples = samples.clamp(-1, 1)
    key = info.name
    if key not in _TRACK_EXTRACTORS:
        proto = EvalProtocol(info.name, "classifier", ("fd", "modes_covered", "mode_kl"), n, min(len(dataset.train),
                             MAX_FEATURE_N), n, eval_seed)  # fmt: skip
        _TRACK_EXTRACTORS[key] = _Extractor(dataset, proto)
    ext = _TRACK_EXTRACTORS[key]
    out = _image_metrics(samples, ext, None, dataclasses.replace(ext.protocol, n_fake=n, n_modes=n))
    out.pop("mode_histogram", None)
    return out


# -- runs and reference rows -------------------------------------------------------------------

REFERENCE_DIR = "_reference"


def load_run_model(directory: str | Path, device: str = "cpu"):
    """Rebuild a trained model from its run directory (config.json + checkpoint.pt)."""
    from ganbench.data import get_dataset_info
    from ganbench.models import build_model
    from ganbench.training import load_checkpoint

    directory = Path(directory)
    try:
        cfg = gio.read_json(directory / "config.json")
    except FileNotFoundError:
        raise UserError(f"{directory} is not a run directory (no config.json)") from None
    except ValueError:
        raise UserError(f"{directory}/config.json is corrupt") from None
    info = get_dataset_info(cfg["dataset"])
    model = build_model(cfg["model"], info, **cfg["model_params"]).to(device)
    ckpt = load_checkpoint(directory / "checkpoint.pt", map_location=device)
    model.load_training_state(ckpt["model"])
    model.eval()
    return model, cfg


def evaluate_run(directory: str | Path, eval_seed: int = 0, device: str = "auto", data_root: str | None = None,
                 extractor: str | None = None, n: int | None = None, metrics: list[str] | None = None,
                 inception_weights: str | None = None, offline: bool = False) -> dict:  # fmt: skip
    """Score a trained run and add the score to its ``scores.json`` (keyed by fingerprint id)."""
    from ganbench.data import load_dataset
    from ganbench.environment import resolve_device

    dev = str(resolve_device(device))
    model, cfg = load_run_model(directory, dev)
    dataset = load_dataset(cfg["dataset"], data_root=data_root)
    protocol = default_protocol(dataset, extractor, n, eval_seed, metrics)
    ext = _Extractor(dataset, protocol, dev, inception_weights, offline)
    result = score_model(model, dataset, protocol, ext)
    result["train_seed"] = cfg["seed"]
    save_score(Path(directory) / "scores.json", result)
    return result


def reference_scores(dataset_name: str, out: str | Path, eval_seed: int = 0, device: str = "auto",
                     data_root: str | None = None, extractor: str | None = None, n: int | None = None,
                     inception_weights: str | None = None, offline: bool = False) -> dict:  # fmt: skip
    """The real-data row for ``dataset_name`` under the standard protocol, cached in ``out``."""
    from ganbench.data import load_dataset
    from ganbench.environment import resolve_device
    from ganbench.training import run_dir

    dataset = load_dataset(dataset_name, data_root=data_root)
    protocol = default_protocol(dataset, extractor, n, eval_seed)
    path = run_dir(out, dataset_name, REFERENCE_DIR, 0).parent / "scores.json"
    ext = _Extractor(dataset, protocol, str(resolve_device(device)), inception_weights, offline)
    fp = fingerprint(protocol, ext.info())
    if path.exists():
        cached = gio.read_json(path).get(fp["id"])
        if cached:
            return cached
    result = score_reference(dataset, protocol, ext)
    save_score(path, result)
    return result


def evaluate_samples_file(path: str | Path, dataset_name: str, eval_seed: int = 0, device: str = "auto",
                          data_root: str | None = None, extractor: str | None = None, n: int | None = None,
                          metrics: list[str] | None = None, inception_weights: str | None = None,
                          offline: bool = False) -> dict:  # fmt: skip
    """Score a samples file made by any framework (see ``ganbench.samples``)."""
    from ganbench.data import get_dataset_info, load_dataset
    from ganbench.environment import resolve_device
    from ganbench.samples import read_samples_file

    info = get_dataset_info(dataset_name)
    samples = read_samples_file(path, info)
    dataset = load_dataset(dataset_name, data_root=data_root)
    if n is None:  # the standard count, or all the file holds when it holds fewer
        n = min(len(samples), max(default_protocol(dataset, extractor, None, eval_seed, metrics).n_fake, 2))
    protocol = default_protocol(dataset, extractor, n, eval_seed, metrics)
    if len(samples) < protocol.n_modes:
        protocol = dataclasses.replace(protocol, n_modes=len(samples))
    ext = _Extractor(dataset, protocol, str(resolve_device(device)), inception_weights, offline)
    return score(samples[: protocol.n_fake], dataset, protocol, ext, fake_modes=samples[: protocol.n_modes])

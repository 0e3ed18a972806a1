"""Evaluation entry points: a trained run, a samples file, and a dataset's real-data reference row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ganbench.data import get_dataset_info, load_dataset
from ganbench.environment import resolve_device
from ganbench.errors import UserError
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import default_protocol, fingerprint
from ganbench.evaluation.samples import read_samples_file
from ganbench.evaluation.scoring import (
    reference_protocol,
    save_score,
    score,
    score_model,
    score_reference,
)
from ganbench.models import build_model
from ganbench.runs import files
from ganbench.runs.layout import ReferenceDir, RunDir
from ganbench.training import load_checkpoint

# -- runs and reference rows -------------------------------------------------------------------


def load_run_model(directory: str | Path, device: str = "cpu"):
    """Rebuild a trained model from its run directory (config.json + checkpoint.pt)."""
    run = RunDir(directory)
    try:
        cfg = files.read_json(run.config)
    except FileNotFoundError:
        raise UserError(f"{run.path} is not a run directory (no {run.config.name})") from None
    except ValueError:
        raise UserError(f"{run.config} is corrupt") from None
    info = get_dataset_info(cfg["dataset"])
    model = build_model(cfg["model"], info, **cfg["model_params"]).to(device)
    ckpt = load_checkpoint(run.checkpoint, map_location=device)
    model.load_training_state(ckpt["model"])
    model.eval()
    return model, cfg


def evaluate_run(directory: str | Path, eval_seed: int = 0, device: str = "auto", data_root: str | None = None,
                 extractor: str | None = None, n: int | None = None, metrics: list[str] | None = None,
                 extractor_weights: str | None = None, offline: bool = False, bootstrap: int = 0,
                 options: dict | None = None) -> dict:  # fmt: skip
    """Score a trained run and add the score to its ``scores.json`` (keyed by fingerprint id). ``options``
    override protocol fields (``--protocol``, see ``default_protocol``); ``bootstrap`` resamples of the
    generated samples add ``eval_ci95`` (see ``score``)."""
    dev = str(resolve_device(device))
    model, cfg = load_run_model(directory, dev)
    dataset = load_dataset(cfg["dataset"], data_root=data_root)
    protocol = default_protocol(dataset, extractor, n, eval_seed, metrics, options)
    ext = ProtocolExtractor(dataset, protocol, dev, extractor_weights, offline)
    result = score_model(model, dataset, protocol, ext, bootstrap=bootstrap)
    result["train_seed"] = cfg["seed"]
    save_score(RunDir(directory).scores, result)
    return result


def reference_scores(dataset_name: str, out: str | Path, eval_seed: int = 0, device: str = "auto",
                     data_root: str | None = None, extractor: str | None = None, n: int | None = None,
                     extractor_weights: str | None = None, offline: bool = False,
                     options: dict | None = None) -> dict:  # fmt: skip
    """The real-data row for ``dataset_name`` under the standard protocol, cached in ``out``.

    It holds exactly the counts its fingerprint states: the protocol's, or fewer where the dataset's
    splits cannot supply them without drawing a sample twice (then the fingerprint states the fewer, and
    the row is not comparable with the models' scores); see ``scoring.REAL_ROW_RULES`` for where each
    input's samples come from, and ``sample_counts`` / ``sample_sources`` in the result for what was used.
    ``options`` override protocol fields as in ``evaluate_run``.
    """
    dataset = load_dataset(dataset_name, data_root=data_root)
    protocol = reference_protocol(dataset, default_protocol(dataset, extractor, n, eval_seed, options=options))
    path = ReferenceDir.of(out, dataset_name).scores
    ext = ProtocolExtractor(dataset, protocol, str(resolve_device(device)), extractor_weights, offline)
    fp = fingerprint(protocol, ext.info(), dataset)
    if path.exists():
        cached = files.read_json(path).get(fp["id"])
        if cached:
            return cached
    result = score_reference(dataset, protocol, ext)
    save_score(path, result)
    return result


def evaluate_samples_file(path: str | Path, dataset_name: str, eval_seed: int = 0, device: str = "auto",
                          data_root: str | None = None, extractor: str | None = None, n: int | None = None,
                          metrics: list[str] | None = None, extractor_weights: str | None = None,
                          offline: bool = False, bootstrap: int = 0, options: dict | None = None) -> dict:  # fmt: skip
    """Score a samples file made by any framework (see ``ganbench.evaluation.samples``); ``options`` and
    ``bootstrap`` as in ``evaluate_run``."""
    info = get_dataset_info(dataset_name)
    samples = read_samples_file(path, info)
    dataset = load_dataset(dataset_name, data_root=data_root)
    if n is None:  # the standard count, or all the file holds when it holds fewer
        n = min(len(samples), max(default_protocol(dataset, extractor, None, eval_seed, metrics).n_fake, 2))
    protocol = default_protocol(dataset, extractor, n, eval_seed, metrics, options)
    if len(samples) < protocol.n_modes:
        protocol = dataclasses.replace(protocol, n_modes=len(samples))
    ext = ProtocolExtractor(dataset, protocol, str(resolve_device(device)), extractor_weights, offline)
    return score(samples[: protocol.n_fake], dataset, protocol, ext, fake_modes=samples[: protocol.n_modes],
                 bootstrap=bootstrap)

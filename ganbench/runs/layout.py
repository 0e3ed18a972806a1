"""The runs folder's layout: the one place that knows where every file of a runs folder lives.

::

    <out>/<dataset>/<model>/seed-<N>/    a run (``RunDir``): config.json, metrics.jsonl, checkpoint.pt,
                                         samples.png, result.json, scores.json, job.json, job.lock
    <out>/<dataset>/<model>/bench.json   timings from ``ganbench bench --out`` (``ModelDir``)
    <out>/<dataset>/_reference/          the real-data row, scores.json (``ReferenceDir``)
    <out>/_slurm/                        submitit's pickles and logs (``slurm_dir``)
    <out>/_human/<dataset>/              a human study (``StudyDir``): study.json, judgments.jsonl,
                                         scores.json, study-images/<item>.png

``<dataset>`` is the dataset name with ``/`` and ``:`` replaced by ``_`` (``folder:/data/x`` is one
folder); ``<model>`` is the baseline's name. Readers find runs with ``iter_runs`` only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ganbench.runs import files

# A run's files.
CONFIG = "config.json"  # resolved config, seed, dataset info and environment (written first)
METRICS = "metrics.jsonl"  # losses and cheap metrics over training
CHECKPOINT = "checkpoint.pt"  # weights, optimizer and RNG states
PREVIOUS_CHECKPOINT = "checkpoint.previous.pt"  # a seed-batched run's checkpoint before the last one
SAMPLES = "samples.png"  # a figure of samples of the finished model
RESULT = "result.json"  # status, steps, wall time (written last by training)
SCORES = "scores.json"  # scores keyed by protocol fingerprint id
JOB = "job.json"  # a suite job's record (its id and status)
LOCK = "job.lock"  # held while a runner works on the job
SEED_PREFIX = "seed-"

# Beside the runs.
BENCH = "bench.json"  # in a model's folder
REFERENCE = "_reference"  # a dataset's real-data row, in place of a model's folder
SLURM = "_slurm"  # in the runs folder
HUMAN = "_human"  # in the runs folder: one human study per dataset

# A human study's files.
STUDY = "study.json"  # the items (ids, kinds, sources, hashes), order seed and rules; written once
JUDGMENTS = "judgments.jsonl"  # one line per judgment, appended as each is made
STUDY_IMAGES = "study-images"  # the items' upscaled PNGs, named <item id>.png

RUN_FILES = (CONFIG, METRICS, CHECKPOINT, PREVIOUS_CHECKPOINT, SAMPLES, RESULT, SCORES, JOB, LOCK)
STUDY_FILES = (STUDY, JUDGMENTS, STUDY_IMAGES)
NAMES = (*RUN_FILES, BENCH, REFERENCE, SLURM, HUMAN, *STUDY_FILES)  # every file and folder name of the layout


def read_optional(path: str | os.PathLike) -> Any:
    """The JSON in ``path``, or None when it is missing, unreadable or corrupt."""
    try:
        return files.read_json(path)
    except (OSError, ValueError):
        return None


def dataset_dir(out: str | os.PathLike, dataset: str) -> Path:
    """``<out>/<dataset>``: one folder per dataset name, even for names that hold a path."""
    return Path(out) / dataset.replace("/", "_").replace(":", "_")


def slurm_dir(out: str | os.PathLike) -> Path:
    """``<out>/_slurm``: where the Slurm executor's jobs keep their pickles and logs."""
    return Path(out) / SLURM


class _Folder:
    """A layout folder is path-like: ``Path(run)``, ``open``-style APIs and f-strings see its path."""

    path: Path

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class RunDir(_Folder):
    """One run's folder, ``<out>/<dataset>/<model>/seed-<N>``, and the paths of its files.

    Attributes:
        path: the folder (it need not exist yet).
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, out: str | os.PathLike, dataset: str, model: str, seed: int) -> RunDir:
        """The run of ``model`` (a baseline's name) on ``dataset`` with training seed ``seed`` in ``out``."""
        return ModelDir.of(out, dataset, model).run(seed)

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def previous_checkpoint(self) -> Path:
        return self.path / PREVIOUS_CHECKPOINT

    @property
    def samples(self) -> Path:
        return self.path / SAMPLES

    @property
    def result(self) -> Path:
        return self.path / RESULT

    @property
    def scores(self) -> Path:
        return self.path / SCORES

    @property
    def job(self) -> Path:
        return self.path / JOB

    @property
    def lock(self) -> Path:
        return self.path / LOCK

    def read_config(self) -> dict | None:
        """The run's config, or None when it is missing, corrupt or not a JSON object."""
        cfg = read_optional(self.config)
        return cfg if isinstance(cfg, dict) else None

    def read_result(self) -> Any:
        """The run's result record, or None when there is none yet (running, interrupted) or it is corrupt."""
        return read_optional(self.result)

    def read_scores(self) -> dict:
        """The run's scores by fingerprint id; empty when it has none (or they are unreadable)."""
        return read_optional(self.scores) or {}

    def read_job(self) -> Any:
        """The suite's job record, or None when there is none (or it is corrupt)."""
        return read_optional(self.job)

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete what writers killed mid-write left of the run's files; call it only while holding the
        run's lock (the lock's own temporary files belong to runners trying to take it, and stay)."""
        stale = [t for name in RUN_FILES if name != LOCK for t in files.temp_files(self.path / name)]
        for t in stale:
            t.unlink(missing_ok=True)
        return stale


@dataclass(frozen=True)
class ModelDir(_Folder):
    """One model's folder, ``<out>/<dataset>/<model>``: its runs (one per seed) and ``bench.json``."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, out: str | os.PathLike, dataset: str, model: str) -> ModelDir:
        return cls(dataset_dir(out, dataset) / model)

    @property
    def bench(self) -> Path:
        return self.path / BENCH

    def run(self, seed: int) -> RunDir:
        return RunDir(self.path / f"{SEED_PREFIX}{seed}")


@dataclass(frozen=True)
class ReferenceDir(_Folder):
    """A dataset's real-data row, ``<out>/<dataset>/_reference``: its ``scores.json``."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, out: str | os.PathLike, dataset: str) -> ReferenceDir:
        return cls(dataset_dir(out, dataset) / REFERENCE)

    @property
    def scores(self) -> Path:
        return self.path / SCORES

    def read_scores(self) -> dict:
        """The reference scores by fingerprint id; empty when there are none (or they are unreadable)."""
        return read_optional(self.scores) or {}


@dataclass(frozen=True)
class StudyDir(_Folder):
    """A human study of one dataset's models, ``<out>/_human/<dataset>``, and the paths of its files."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @classmethod
    def of(cls, out: str | os.PathLike, dataset: str) -> StudyDir:
        return cls(dataset_dir(Path(out) / HUMAN, dataset))

    @property
    def study(self) -> Path:
        return self.path / STUDY

    @property
    def judgments(self) -> Path:
        return self.path / JUDGMENTS

    @property
    def scores(self) -> Path:
        return self.path / SCORES

    @property
    def images(self) -> Path:
        return self.path / STUDY_IMAGES

    def image(self, item_id: str) -> Path:
        """The PNG of one item (``item_id`` must come from the study, never from a request)."""
        return self.images / f"{item_id}.png"

    def read_study(self) -> dict | None:
        """The study's definition, or None when there is none (or it is corrupt)."""
        study = read_optional(self.study)
        return study if isinstance(study, dict) else None


def iter_studies(runs_dir: str | os.PathLike) -> Iterator[StudyDir]:
    """Every human study in a runs folder (a folder ``_human/<dataset>`` with a study), in path order."""
    for study in sorted(Path(runs_dir).glob(f"{HUMAN}/*/{STUDY}")):
        yield StudyDir(study.parent)


def iter_runs(runs_dir: str | os.PathLike) -> Iterator[RunDir]:
    """Every run in a runs folder (a folder ``<dataset>/<model>/seed-*`` with a config), in path order.

    Other folders (the reference rows, ``_slurm``, stray folders without a config) are not runs.
    """
    pattern = f"*/*/{SEED_PREFIX}*/{CONFIG}"
    for config in sorted(Path(runs_dir).glob(pattern)):
        yield RunDir(config.parent)


def iter_reference_scores(runs_dir: str | os.PathLike) -> Iterator[Path]:
    """The ``scores.json`` of every dataset's real-data row in a runs folder, in path order."""
    yield from sorted(Path(runs_dir).glob(f"*/{REFERENCE}/{SCORES}"))


def iter_bench_files(runs_dir: str | os.PathLike) -> Iterator[Path]:
    """Every model's ``bench.json`` in a runs folder, in path order."""
    yield from sorted(Path(runs_dir).glob(f"*/*/{BENCH}"))

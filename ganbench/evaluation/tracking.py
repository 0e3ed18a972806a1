"""Mode-collapse tracking: find collapse events in a mode-coverage series, during or after training.

Drop it into your own training loop in three lines::

    from ganbench.evaluation.tracking import ModeTracker

    tracker = ModeTracker("ring8", every=500)          # or a loaded Dataset; log_path="modes.jsonl"
    for step in range(1, steps + 1):
        ...                                            # your optimisation step
        tracker.update(step, generator_model)          # measures every 500 steps, warns on collapse

``update`` accepts anything with ``sample(n, generator=None)``, a callable returning samples
(``fn(n)`` or ``fn()``), or a tensor of samples. It measures with
``training_tracker`` (below): mode coverage, high-quality fraction and reverse KL of
2,500 samples for 2D mixtures; the offline classifier's Frechet distance, modes covered and mode KL
for labelled image sets. When a collapse starts, a ``CollapseWarning`` is emitted once;
``tracker.history`` holds every measurement and ``tracker.events`` the collapse events so far.

For finished runs, ``run_collapse_events(run_dir)`` reads the eval lines of ``metrics.jsonl``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganbench.caches import BoundedCache
from ganbench.data import Dataset, load_dataset
from ganbench.errors import UserError
from ganbench.evaluation.features import ProtocolExtractor
from ganbench.evaluation.protocol import (
    MAX_FEATURE_N,
    POINT_METRICS,
    POINTS_N,
    EvalProtocol,
)
from ganbench.evaluation.scoring import image_metrics, sample_model
from ganbench.metrics import mode_coverage_2d
from ganbench.runs import files
from ganbench.runs.layout import RunDir

__all__ = ["CollapseWarning", "ModeTracker", "collapse_events", "coverage_series", "run_collapse_events",
           "tracker_for", "training_tracker"]


# -- metrics during training -------------------------------------------------------------------

# One classifier-backed extractor per tracked labelled dataset (a training process tracks one, a
# notebook a few): eight keeps every one a session uses without holding each for good.
_TRACK_EXTRACTORS: BoundedCache[ProtocolExtractor] = BoundedCache("training-tracker extractors", maxsize=8)


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
    proto = EvalProtocol(info.name, "classifier", ("fd", "modes_covered", "mode_kl"), n, min(len(dataset.train),
                         MAX_FEATURE_N), n, eval_seed)  # fmt: skip
    ext = _TRACK_EXTRACTORS.get_or_compute(info.name, lambda: ProtocolExtractor(dataset, proto))
    out = image_metrics(samples, ext, None, dataclasses.replace(ext.protocol, n_fake=n, n_modes=n))
    out.pop("mode_histogram", None)
    return out


def tracker_for(config) -> Callable:
    """``training_tracker`` on ``config.train.eval_samples`` samples: what ``ganbench train`` and ``run`` track."""
    return functools.partial(training_tracker, n=config.train.eval_samples)


class CollapseWarning(UserWarning):
    """Emitted by ``ModeTracker`` when the tracked model starts to lose modes."""


def collapse_events(steps, coverage, drop_fraction: float = 0.5, stuck_threshold: float | None = None,
                    min_peak: float | None = None) -> list[dict]:  # fmt: skip
    """Collapse events of a mode-coverage series (modes covered at each evaluated step).

    The series is sorted by step (stably); points whose coverage is not finite are ignored.
    With ``peak_i = max(coverage[0..i])`` (the running peak, including point ``i``) and
    ``level_i = (1 - drop_fraction) * peak_i``:

    - **drop**: a drop episode starts at the first point ``i`` with ``coverage[i] < level_i``
      (and ``peak_i >= min_peak`` when ``min_peak`` is given) while no episode is open. It stays
      open until the first later point ``j`` with ``coverage[j] >= level_j`` (``recovered_step``);
      then a new episode may start. Event keys: ``kind="drop"``, ``step`` (``steps[i]``), ``value``
      (``coverage[i]``), ``peak`` (``peak_i``), ``peak_step`` (first step where the peak was
      reached), ``recovered_step`` (``None`` while it lasts to the end of the series).
    - **stuck** (only when ``stuck_threshold`` is given): coverage is ``< stuck_threshold`` at
      every point from some point ``j`` to the last one; ``j`` is the earliest such point (the
      start of the final run of points under the threshold, a run of one point included). At
      most one such event. Keys: ``kind="stuck"``, ``step`` (``steps[j]``), ``value``
      (``coverage[j]``), ``threshold``, ``last_value`` (the final coverage), ``last_step``.

    Events are sorted by step, drops before stuck at equal steps.

    Args:
        steps: evaluated steps, shape ``(N,)``.
        coverage: modes covered at those steps, shape ``(N,)``.
        drop_fraction: a drop is a fall below ``(1 - drop_fraction)`` times the running peak;
            in ``(0, 1]``.
        stuck_threshold: coverage (in modes, e.g. ``0.5 * num_modes``) under which a series that
            stays there to its end is "stuck"; ``None`` turns stuck events off.
        min_peak: drops are only reported once the running peak has reached this many modes.

    Returns:
        A list of event dicts (plain Python numbers).

    Raises:
        UserError: for mismatched lengths or ``drop_fraction`` outside ``(0, 1]``.
    """
    s = np.asarray(steps, dtype=np.float64).reshape(-1)
    c = np.asarray(coverage, dtype=np.float64).reshape(-1)
    if s.shape != c.shape:
        raise UserError(f"steps and coverage must have the same length; got {s.size} and {c.size}")
    if not 0 < drop_fraction <= 1:
        raise UserError(f"drop_fraction must be in (0, 1]; got {drop_fraction!r}")
    keep = np.isfinite(c) & np.isfinite(s)
    s, c = s[keep], c[keep]
    order = np.argsort(s, kind="stable")
    s, c = s[order], c[order]
    events: list[dict] = []
    peak, peak_step, open_event = -math.inf, None, None
    for step, value in zip(s, c):
        if value > peak:
            peak, peak_step = value, step
        level = (1.0 - drop_fraction) * peak
        if open_event is not None:
            if value >= level:
                open_event["recovered_step"] = _num(step)
                open_event = None
        elif value < level and (min_peak is None or peak >= min_peak):
            open_event = {"kind": "drop", "step": _num(step), "value": _num(value), "peak": _num(peak),
                          "peak_step": _num(peak_step), "recovered_step": None}  # fmt: skip
            events.append(open_event)
    if stuck_threshold is not None and len(c) and c[-1] < stuck_threshold:
        j = len(c) - 1
        while j > 0 and c[j - 1] < stuck_threshold:
            j -= 1
        events.append({"kind": "stuck", "step": _num(s[j]), "value": _num(c[j]), "threshold": float(stuck_threshold),
                       "last_value": _num(c[-1]), "last_step": _num(s[-1])})  # fmt: skip
    events.sort(key=lambda e: (e["step"], e["kind"] != "drop"))
    return events


def _num(x) -> int | float:
    """An integral float as int (steps and mode counts), any other as float."""
    x = float(x)
    return int(x) if x.is_integer() else x


def coverage_series(path: str | Path, key: str = "modes_covered") -> tuple[np.ndarray, np.ndarray]:
    """``(steps, values)`` of ``key`` from the eval lines of a run's ``metrics.jsonl``.

    Args:
        path: a run directory (its ``metrics.jsonl`` is read) or a JSON-lines file of
            ``{"step": k, "eval": {...}}`` lines (as ``ModeTracker(log_path=...)`` writes).
        key: the eval metric to read.
    """
    path = Path(path)
    if path.is_dir():
        path = RunDir(path).metrics
    pts = [(r["step"], r["eval"][key]) for r in files.read_jsonl(path)
           if isinstance(r.get("eval"), dict) and isinstance(r["eval"].get(key), (int, float))]  # fmt: skip
    pts.sort(key=lambda p: p[0])
    return np.array([p[0] for p in pts], dtype=np.int64), np.array([p[1] for p in pts], dtype=np.float64)


def run_collapse_events(run_dir: str | Path, **kw) -> list[dict]:
    """``collapse_events`` of a run's ``modes_covered`` eval series.

    Args:
        run_dir: a run directory or a JSON-lines file of eval lines (see ``coverage_series``).
        **kw: ``drop_fraction``, ``stuck_threshold``, ``min_peak`` for ``collapse_events``.
    """
    steps, cov = coverage_series(run_dir)
    return collapse_events(steps, cov, **kw)


class _Sampler:
    """Adapts a model, a callable or a tensor to ``sample(n, generator=None)``."""

    def __init__(self, source) -> None:
        self.source = source
        self.fixed = None
        if isinstance(source, (torch.Tensor, np.ndarray)):
            self.fixed = torch.as_tensor(source).detach().float().cpu()
        elif not (callable(getattr(source, "sample", None)) or callable(source)):
            raise UserError(f"ModeTracker.update needs a model with sample(n, generator=None), a callable or a "
                            f"tensor of samples; got {type(source).__name__}")  # fmt: skip
        self.pos = 0

    def sample(self, n: int, generator=None) -> torch.Tensor:
        if self.fixed is not None:
            out, self.pos = self.fixed[self.pos : self.pos + n], self.pos + n
            return out
        if callable(getattr(self.source, "sample", None)):
            return self.source.sample(n, generator=generator)
        return torch.as_tensor(self.source(n) if _takes_argument(self.source) else self.source()).float()


def _takes_argument(fn) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


class ModeTracker:
    """Measures mode coverage every ``every`` steps of a training loop and warns when modes collapse.

    Collapse events follow ``collapse_events`` on the ``modes_covered`` history. The tracker is
    *collapsed* at a measurement while a drop episode is open or coverage is under the stuck
    threshold; a ``CollapseWarning`` is emitted once each time it enters that state.

    Args:
        dataset: a dataset name (``ring8``) or a loaded ``Dataset`` with known modes (a 2D mixture
            or a labelled image set).
        every: measure at steps that are multiples of ``every``.
        n: samples per measurement (default: 2,500 for 2D sets, up to 2,000 for image sets).
        eval_seed: seed of the sampling generator, the same at every measurement.
        drop_fraction: see ``collapse_events``.
        stuck_fraction: flag coverage under ``stuck_fraction * num_modes`` as stuck (off by default).
        min_peak: see ``collapse_events``.
        log_path: a JSON-lines file getting one ``{"step": k, "eval": {...}}`` line per measurement.
        warn: emit ``CollapseWarning`` (default ``True``).

    Attributes:
        history: one ``{"step": k, **metrics}`` dict per measurement.
        events: the collapse events of the history so far.
    """

    def __init__(self, dataset, every: int = 500, *, n: int | None = None, eval_seed: int = 0,
                 drop_fraction: float = 0.5, stuck_fraction: float | None = None, min_peak: float | None = None,
                 log_path: str | Path | None = None, warn: bool = True) -> None:  # fmt: skip

        self.dataset = dataset if isinstance(dataset, Dataset) else load_dataset(str(dataset))
        info = self.dataset.info
        points = info.kind == "points2d"
        has_modes = self.dataset.centers is not None if points else self.dataset.train_labels is not None
        if not has_modes or not info.num_modes:
            raise UserError(f"ModeTracker: {info.name} has no known modes (a 2D mixture or a labelled image set "
                            "is needed)")  # fmt: skip
        if not isinstance(every, int) or every < 1:
            raise UserError(f"ModeTracker: every must be a positive integer; got {every!r}")
        self.every, self.n, self.eval_seed = every, n, eval_seed
        self.num_modes = int(info.num_modes)
        self.stuck_threshold = None if stuck_fraction is None else stuck_fraction * self.num_modes
        self._kw = {"drop_fraction": drop_fraction, "stuck_threshold": self.stuck_threshold, "min_peak": min_peak}
        collapse_events([], [], **self._kw)  # validates the arguments now
        self.log_path = Path(log_path) if log_path is not None else None
        self.warn = warn
        self.history: list[dict] = []
        self._collapsed = False

    def due(self, step: int) -> bool:
        """Whether ``update(step, ...)`` will measure."""
        return step % self.every == 0

    def update(self, step: int, model_or_sampler, force: bool = False) -> dict | None:
        """Measure at ``step`` if it is due (or ``force``); returns the metrics, else ``None``.

        Args:
            step: the training step.
            model_or_sampler: a model with ``sample(n, generator=None)``, a callable returning
                samples, or a tensor of samples (all of them are scored).
            force: measure even when ``step`` is not a multiple of ``every`` (e.g. the last step).
        """
        if not (force or self.due(step)):
            return None
        sampler = _Sampler(model_or_sampler)
        n = len(sampler.fixed) if sampler.fixed is not None else self.n
        metrics = training_tracker(sampler, self.dataset, step, n=n, eval_seed=self.eval_seed)
        self.history.append({"step": step, **metrics})
        if self.log_path is not None:
            files.append_jsonl(self.log_path, [{"step": step, "eval": metrics}])
        self._check(step, metrics)
        return metrics

    @property
    def events(self) -> list[dict]:
        steps, cov = self._series()
        return collapse_events(steps, cov, **self._kw)

    def _series(self) -> tuple[list, list]:
        pts = [(h["step"], h["modes_covered"]) for h in self.history if "modes_covered" in h]
        return [p[0] for p in pts], [p[1] for p in pts]

    def _check(self, step: int, metrics: dict) -> None:
        if "modes_covered" not in metrics:
            return
        events = self.events
        open_drop = next((e for e in events if e["kind"] == "drop" and e["recovered_step"] is None), None)
        stuck = next((e for e in events if e["kind"] == "stuck"), None)
        collapsed = open_drop is not None or stuck is not None
        if collapsed and not self._collapsed and self.warn:
            cov = metrics["modes_covered"]
            if open_drop is not None:
                why = f"down from a peak of {open_drop['peak']:g} at step {open_drop['peak_step']}"
            else:
                why = f"under the stuck threshold of {self.stuck_threshold:g}"
            warnings.warn(f"mode collapse on {self.dataset.info.name} at step {step}: {cov:g} of "
                          f"{self.num_modes} modes covered, {why}", CollapseWarning, stacklevel=3)  # fmt: skip
        self._collapsed = collapsed

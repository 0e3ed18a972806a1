"""Collapse events of coverage series, the run reader and ModeTracker in a training loop."""

import warnings

import numpy as np
import pytest
import torch

from ganbench.runs import files
from ganbench.data import load_dataset
from ganbench.data.embedded import sample_mixture
from ganbench.errors import UserError
from ganbench.evaluation.tracking import CollapseWarning, ModeTracker, collapse_events, coverage_series, run_collapse_events

STEPS = [100, 200, 300, 400, 500, 600]


def test_drop_event_reports_step_peak_and_recovery():
    events = collapse_events(STEPS, [4, 8, 8, 3, 6, 8], drop_fraction=0.5)
    assert events == [{"kind": "drop", "step": 400, "value": 3, "peak": 8, "peak_step": 200, "recovered_step": 500}]


def test_drop_at_exactly_the_level_is_not_a_drop():
    assert collapse_events(STEPS[:3], [8, 4, 4], drop_fraction=0.5) == []  # 4 is not < 0.5 * 8
    assert collapse_events(STEPS[:3], [8, 3, 3], drop_fraction=0.5)[0]["recovered_step"] is None


def test_two_separate_drops_and_unsorted_input():
    steps = [600, 100, 200, 300, 400, 500]
    cov = [2, 8, 2, 8, 8, 8]  # sorted by step: 8, 2, 8, 8, 8, 2
    events = collapse_events(steps, cov)
    assert [(e["step"], e["recovered_step"]) for e in events] == [(200, 300), (600, None)]


def test_stuck_from_the_start_and_after_a_drop():
    # Never above 3 of 8 modes: stuck from the first evaluation, and no drop (the peak is 3).
    assert collapse_events(STEPS, [1, 2, 3, 3, 2, 2], stuck_threshold=4) == [
        {"kind": "stuck", "step": 100, "value": 1, "threshold": 4.0, "last_value": 2, "last_step": 600}]
    # A drop at 400 then stuck from 400 (the final run under the threshold starts there).
    events = collapse_events(STEPS, [8, 2, 8, 1, 1, 2], stuck_threshold=4)
    assert [(e["kind"], e["step"]) for e in events] == [("drop", 200), ("drop", 400), ("stuck", 400)]


def test_healthy_series_has_no_event():
    assert collapse_events(STEPS, [5, 7, 8, 8, 7, 8], stuck_threshold=4) == []
    assert collapse_events([], [], stuck_threshold=4) == []


def test_min_peak_and_non_finite_points():
    assert collapse_events(STEPS[:3], [2, 0, 2], min_peak=3) == []
    assert collapse_events(STEPS[:3], [2, 0, 2])[0]["step"] == 200
    assert collapse_events(STEPS[:4], [8, float("nan"), 8, 2])[0]["step"] == 400


def test_bad_arguments():
    with pytest.raises(UserError):
        collapse_events([1, 2], [1])
    with pytest.raises(UserError):
        collapse_events([1], [1], drop_fraction=0)


def test_run_collapse_events_reads_eval_lines(tmp_path):
    lines = [{"step": 50, "loss_d": 1.0, "loss_g": 1.0}]
    lines += [{"step": s, "eval": {"modes_covered": c, "hq_fraction": 0.9}} for s, c in zip(STEPS, [8, 8, 7, 1, 1, 1])]
    files.append_jsonl(tmp_path / "metrics.jsonl", lines)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 700, "eval": {"modes_')  # torn last line: skipped
    steps, cov = coverage_series(tmp_path)
    assert steps.tolist() == STEPS and cov.tolist() == [8, 8, 7, 1, 1, 1]
    events = run_collapse_events(tmp_path, stuck_threshold=4)
    assert [(e["kind"], e["step"]) for e in events] == [("drop", 400), ("stuck", 400)]


class CollapsingSampler:
    """Draws from the true ring8 mixture before ``collapse_at``, then only from mode 0."""

    def __init__(self, dataset, collapse_at: int) -> None:
        self.dataset, self.collapse_at, self.step = dataset, collapse_at, 0

    def sample(self, n, generator=None):
        centers = self.dataset.centers[:1] if self.step >= self.collapse_at else self.dataset.centers
        points, _ = sample_mixture(centers, self.dataset.sd, n, seed=self.step)
        return torch.from_numpy(points)


def test_mode_tracker_warns_once_when_ring8_collapses(tmp_path):
    ring8 = load_dataset("ring8")
    sampler = CollapsingSampler(ring8, collapse_at=300)
    log = tmp_path / "modes.jsonl"
    tracker = ModeTracker("ring8", every=100, log_path=log)
    returned = []
    with pytest.warns(CollapseWarning) as record:
        for step in range(1, 501):
            sampler.step = step
            returned.append(tracker.update(step, sampler))
    assert len([w for w in record if issubclass(w.category, CollapseWarning)]) == 1
    assert "step 300" in str(record[0].message) and "1 of 8 modes" in str(record[0].message)
    assert [h["step"] for h in tracker.history] == [100, 200, 300, 400, 500]
    assert [h["modes_covered"] for h in tracker.history] == [8, 8, 1, 1, 1]
    assert sum(r is not None for r in returned) == 5 and returned[99]["modes_covered"] == 8
    assert tracker.events == [{"kind": "drop", "step": 300, "value": 1, "peak": 8, "peak_step": 100,
                               "recovered_step": None}]  # fmt: skip
    # The log has metrics.jsonl's eval-line layout, so the run reader reads it too.
    assert [r["eval"]["modes_covered"] for r in files.read_jsonl(log)] == [8, 8, 1, 1, 1]
    assert run_collapse_events(log)[0]["step"] == 300


def test_mode_tracker_accepts_tensors_and_callables_and_warns_on_stuck():
    ring8 = load_dataset("ring8")
    one_mode = torch.from_numpy(sample_mixture(ring8.centers[:2], ring8.sd, 1000, seed=0)[0])
    tracker = ModeTracker(ring8, every=10, stuck_fraction=0.5)
    with pytest.warns(CollapseWarning, match="stuck threshold of 4"):
        assert tracker.update(10, one_mode)["modes_covered"] == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)  # still collapsed: no second warning
        assert tracker.update(15, lambda n: one_mode[:n]) is None  # not due
        assert tracker.update(20, lambda n: one_mode[:n])["modes_covered"] == 2
        assert tracker.update(25, lambda: one_mode, force=True)["modes_covered"] == 2
    assert tracker.events[0]["kind"] == "stuck"
    full = torch.from_numpy(sample_mixture(ring8.centers, ring8.sd, 2500, seed=1)[0])
    assert tracker.update(30, full)["modes_covered"] == 8 and tracker.events == []


def test_mode_tracker_rejects_what_it_cannot_track():
    with pytest.raises(UserError):
        ModeTracker("ring8", every=0)
    with pytest.raises(UserError):
        ModeTracker("ring8").update(500, object())
    assert np.isclose(ModeTracker("ring8", stuck_fraction=0.25).stuck_threshold, 2.0)


def test_runs_track_on_the_configs_eval_samples(tmp_path):
    """``train.eval_samples`` is the sample count of the metrics during training: the tracked metrics of a
    run equal ``training_tracker`` on that many samples of the same model, and differ from the default's."""
    import dataclasses

    from ganbench.config import find_baseline
    from ganbench.evaluation.tracking import tracker_for, training_tracker
    from ganbench.evaluation.evaluate import load_run_model
    from ganbench.training import train

    cfg = find_baseline("gan", "ring8")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=300, eval_every=300, eval_samples=40,
                                                             checkpoint_every=300, log_every=100))  # fmt: skip
    train(cfg, 0, tmp_path, device="cpu", progress=False, tracker=tracker_for(cfg))
    run = tmp_path / "ring8" / "gan" / "seed-0"
    (tracked,) = [r["eval"] for r in files.read_jsonl(run / "metrics.jsonl") if "eval" in r]
    model, _ = load_run_model(run)
    dataset = load_dataset("ring8")
    assert tracked == training_tracker(model, dataset, 300, n=40)
    assert tracked != training_tracker(model, dataset, 300)  # 2,500 samples

"""Adding a metric is one ``register_metric`` call: protocol, scoring, leaderboard and ranking pick it up."""

import numpy as np
import pytest
import torch

from ganbench.data import load_dataset
from ganbench.data.embedded import ring_centers
from ganbench.evaluation.protocol import default_protocol
from ganbench.evaluation.scoring import score
from ganbench.metrics import METRIC_REGISTRY, METRICS, MetricSpec, ranking_keys, register_metric
from ganbench.results.leaderboard import display_table, leaderboard
from ganbench.runs import files

TOY = "toy_radius"


def _mean_radius(ctx) -> dict:
    points = np.asarray(ctx.points, dtype=np.float64)
    return {TOY: float(np.linalg.norm(points, axis=1).mean()), "toy_radius_max": float(np.abs(points).max())}


@pytest.fixture
def toy_metric():
    """A 2D metric ranked after reverse_kl (lower is better), unregistered after the test."""
    spec = register_metric(MetricSpec(name=TOY, higher_is_better=False, description="Mean distance to the origin.",
                                      compute=_mean_radius, kinds=("points2d",), inputs={"modes"}, version="7",
                                      extras=("toy_radius_max",), rank={"points2d": 4}))  # fmt: skip
    yield spec
    METRIC_REGISTRY.unregister(TOY)
    assert TOY not in METRICS


def test_registered_metric_is_in_the_protocol_of_its_kind_only(toy_metric):
    ring = default_protocol(load_dataset("ring8"))
    assert ring.metrics == ("hq_coverage", "modes_covered", "hq_fraction", "reverse_kl", "authenticity", "ct", "nn_ratio",
                            TOY)
    assert TOY not in default_protocol(load_dataset("digits")).metrics
    assert default_protocol(load_dataset("ring8"), metrics=[TOY]).metrics == (TOY,)


def test_registered_metric_is_scored_with_its_extras_and_version(toy_metric):
    d = load_dataset("ring8")
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor(ring_centers(), dtype=torch.float32)
    fake = centers[torch.randint(0, 8, (2500,), generator=g)] + 0.01 * torch.randn(2500, 2, generator=g)
    res = score(fake, d, default_protocol(d))
    m = res["metrics"]
    # The ring has radius 1 and sd 0.01: the mean distance to the origin is 1 within a few sd / sqrt(n).
    assert m[TOY] == pytest.approx(1.0, abs=1e-3) and m["toy_radius_max"] <= 1.05
    assert m["modes_covered"] == 8 and "mode_histogram" in m
    assert res["fingerprint"]["metric_versions"][TOY] == "7"
    only = score(fake, d, default_protocol(d, metrics=[TOY]))["metrics"]
    assert set(only) == {TOY, "toy_radius_max"}


def _run(root, model, seed, metrics):
    d = root / "ring8" / model / f"seed-{seed}"
    files.atomic_write_json(d / "config.json", {"dataset": "ring8", "model": model, "name": model, "seed": seed})
    files.atomic_write_json(d / "result.json", {"status": "complete", "wall_time_s": 1.0, "steps": 10})
    files.atomic_write_json(d / "scores.json", {"f": {"metrics": metrics, "fingerprint": {"id": "f"}}})


def test_registered_metric_is_a_leaderboard_column_and_a_ranking_key(toy_metric, tmp_path):
    assert ranking_keys()["hq_coverage"] == ("hq_coverage", "modes_covered", "hq_fraction", "reverse_kl", TOY)
    tied = {"hq_coverage": 0.9, "modes_covered": 8, "hq_fraction": 0.9, "reverse_kl": 0.01}
    _run(tmp_path, "far", 0, {**tied, TOY: 1.5, "toy_radius_max": 2.0})
    _run(tmp_path, "near", 0, {**tied, TOY: 1.0, "toy_radius_max": 2.0})
    board = leaderboard(tmp_path, rank_all=True)  # runs without curves: no plateau verdict to rank by
    assert list(board["model"]) == ["near", "far"] and list(board["rank"]) == [1, 2]  # lower is better
    assert list(board[f"{TOY}_mean"]) == [1.0, 1.5] and "toy_radius_max_mean" not in board  # extras not ranked
    metric_cols = [c[: -len("_mean")] for c in board.columns if c.endswith("_mean") and c != "train_time_s_mean"]
    assert metric_cols == ["hq_coverage", "modes_covered", "hq_fraction", "reverse_kl", TOY]  # registration order
    assert f"{TOY} ↓" in display_table(board).columns

"""Last-evaluations means and plateau verdicts of hand-built curves, every expected value computed by hand."""

import math

import numpy as np
import pytest

from ganbench.errors import UserError
from ganbench.evaluation.curves import (
    aligned_curves,
    eval_curves,
    last_mean,
    plateau,
    plateau_over_seeds,
    seed_mean_curve,
)
from ganbench.runs import files


def test_last_mean_widens_a_thin_last_tenth_to_five_evaluations():
    # 20 evaluations every 100 steps to T = 2000, value = step / 100. The last 10% (steps 1801..2000)
    # holds 1900 and 2000 only, so the window widens to the last 5: values 16..20, mean 18.
    steps = np.arange(100, 2001, 100)
    r = last_mean(steps, steps / 100)
    assert (r.mean, r.n, r.n_total, r.first_step, r.short) == (18.0, 5, 20, 1600, False)


def test_last_mean_takes_every_evaluation_of_the_last_tenth():
    # 100 evaluations every 3 steps to T = 300: the last 10% is steps 271..300, i.e. 273, 276, ..., 300
    # (10 evaluations; 270 is the boundary, outside although 0.1 * 300 rounds to 30.000000000000004).
    # Value = step, so the mean is (273 + 300) / 2 = 286.5.
    steps = np.arange(3, 301, 3)
    r = last_mean(steps, steps.astype(float))
    assert (r.mean, r.n, r.first_step) == (286.5, 10, 273)


def test_last_mean_of_a_short_curve_averages_all_and_says_so():
    r = last_mean([10, 20, 30], [0.2, 0.4, 0.9])
    assert r.mean == pytest.approx(0.5) and (r.n, r.n_total, r.first_step, r.short) == (3, 3, 10, True)
    empty = last_mean([], [])
    assert math.isnan(empty.mean) and (empty.n, empty.first_step, empty.short) == (0, None, True)


def test_last_mean_sorts_drops_non_finite_points_and_honours_total_steps():
    # Unsorted, with a NaN at step 600: the finite curve is steps 100..500, 700 -> values 1..5, 7.
    steps = [700, 100, 300, 200, 600, 500, 400]
    values = [7.0, 1.0, 3.0, 2.0, float("nan"), 5.0, 4.0]
    r = last_mean(steps, values)  # T = 700: only 700 is in the last 10%; widened to the last 5: 2, 3, 4, 5, 7
    assert (r.mean, r.n, r.n_total, r.first_step) == (4.2, 5, 6, 200)
    # T = 5000 (training went on without evaluations): nothing in the last 10%, still the last 5.
    assert last_mean(steps, values, total_steps=5000).mean == 4.2
    # A 40% window of T = 700 (steps 421..700): 500 and 700 -> but at least 5 points.
    assert last_mean(steps, values, fraction=0.4).n == 5
    with pytest.raises(UserError):
        last_mean([1, 2], [1.0])
    with pytest.raises(UserError):
        last_mean([1, 2], [1.0, 2.0], fraction=0)


def test_plateau_of_a_flat_curve():
    p = plateau([1, 2, 3, 4, 5], [5.0] * 5, higher_is_better=True)
    # n = 5, windows of floor(0.2 * 5) = 1: last = prev = 5, tolerance max(0.5, 0.02) = 0.5.
    assert (p.status, p.plateaued, p.last, p.prev, p.tolerance, p.window) == ("plateaued", True, 5.0, 5.0, 0.5, 1)


def test_plateau_direction_aware_beyond_the_tolerance():
    steps, values = np.arange(1, 11), np.arange(1, 11, dtype=float)
    # n = 10, windows of 2: last = (9 + 10) / 2 = 9.5, prev = (7 + 8) / 2 = 7.5, tolerance 0.75, change 2.
    up = plateau(steps, values, higher_is_better=True)
    assert (up.status, up.plateaued, up.last, up.prev, up.tolerance, up.window) == ("improving", False, 9.5, 7.5,
                                                                                     0.75, 2)
    assert plateau(steps, values, higher_is_better=False).status == "worsening"
    # Lower is better (a reverse KL falling from 0.5 to 0.3): tolerance 0.05, an improvement.
    kl = [0.9, 0.8, 0.7, 0.6, 0.5, 0.3]
    assert plateau(range(6), kl, higher_is_better=False).status == "improving"


def test_plateau_relative_tolerance_and_its_absolute_floor():
    # prev window (10, 10): tolerance max(0.1 * 10, 0.02) = 1. A change of 1 exactly is still a plateau.
    base = [3.0, 6.0, 8.0, 9.0, 9.5, 9.8, 10.0, 10.0]
    assert plateau(range(10), base + [11.0, 11.0], True).status == "plateaued"
    assert plateau(range(10), base + [9.0, 9.0], True).status == "plateaued"
    assert plateau(range(10), base + [11.2, 11.0], True).status == "improving"  # change 1.1
    assert plateau(range(10), base + [8.9, 8.9], True).status == "worsening"  # change -1.1
    # Near 0 (a high-quality fraction of 1%): 10% of 0.01 is 0.001, the floor 0.02 decides.
    low = [0.0, 0.0, 0.0, 0.01, 0.01]
    # n = 6, windows of 1: the last value against 0.01.
    assert plateau(range(6), low + [0.025], True).status == "plateaued"  # change 0.015
    p = plateau(range(6), low + [0.04], True)  # change 0.03
    assert (p.status, p.tolerance, p.window) == ("improving", 0.02, 1)


def test_plateau_window_sizes_and_too_short_curves():
    assert plateau(range(14), [1.0] * 14, True).window == 2  # floor(2.8)
    assert plateau(range(15), [1.0] * 15, True).window == 3
    short = plateau(range(4), [1.0, 2.0, 3.0, 4.0], True)
    assert (short.status, short.plateaued, short.window, short.n_total) == ("unknown", None, 0, 4)
    assert math.isnan(short.last)
    # Five points, one of them NaN: four finite evaluations are too few.
    assert plateau(range(5), [1.0, 1.0, np.nan, 1.0, 1.0], True).status == "unknown"
    with pytest.raises(UserError):
        plateau(range(5), [1.0] * 5, True, fraction=0.6)


def test_seed_mean_curve_averages_at_the_common_finite_steps():
    # Seed 0 at steps 1..6, seed 1 at 2..7 with a NaN at step 4, given out of order: common finite steps
    # 2, 3, 5, 6; means (2 + 20) / 2, (3 + 30) / 2, (5 + 50) / 2, (6 + 60) / 2.
    a = (np.arange(1, 7), np.arange(1, 7, dtype=float))
    b = (np.array([7, 6, 5, 4, 3, 2]), np.array([70, 60, 50, np.nan, 30, 20]))
    steps, mean = seed_mean_curve([a, b])
    assert steps.tolist() == [2, 3, 5, 6] and mean.tolist() == [11.0, 16.5, 27.5, 33.0]
    assert [x.tolist() for x in seed_mean_curve([a, (np.array([10]), np.array([1.0]))])] == [[], []]
    assert [x.tolist() for x in seed_mean_curve([])] == [[], []]


def test_aligned_curves_keeps_each_seed_row_at_the_common_steps():
    # The same two seeds: rows in the order given, values at steps 2, 3, 5, 6 (what the budget study's bands
    # take min and max of); no common step -> shape (2, 0), no curves -> (0, 0).
    a = (np.arange(1, 7), np.arange(1, 7, dtype=float))
    b = (np.array([7, 6, 5, 4, 3, 2]), np.array([70, 60, 50, np.nan, 30, 20]))
    steps, vals = aligned_curves([a, b])
    assert steps.tolist() == [2, 3, 5, 6] and vals.tolist() == [[2, 3, 5, 6], [20, 30, 50, 60]]
    assert aligned_curves([a, (np.array([10]), np.array([1.0]))])[1].shape == (2, 0)
    assert aligned_curves([])[1].shape == (0, 0)


def test_plateau_over_seeds_judges_the_mean_not_each_seed():
    # Ten evaluations (k = 2): seed 0 rises by 0.4 between the last two windows, seed 1 falls by 0.4, both
    # beyond max(0.1 x 1.0, 0.02); their mean is flat at 1.0. The verdict is the rule on the mean curve.
    steps = np.arange(10)
    up, down = np.r_[[1.0] * 6, 0.8, 0.8, 1.2, 1.2], np.r_[[1.0] * 6, 1.2, 1.2, 0.8, 0.8]
    assert plateau(steps, up, True).status == "improving" and plateau(steps, down, True).status == "worsening"
    both = plateau_over_seeds([(steps, up), (steps, down)], True)
    assert (both.status, both.last, both.prev, both.window, both.n_total) == ("plateaued", 1.0, 1.0, 2, 10)
    # Both rising: the mean rises too. Fewer than 5 common steps: unknown.
    assert plateau_over_seeds([(steps, up), (steps, up)], True).status == "improving"
    assert plateau_over_seeds([(steps, up), (steps[:4], up[:4])], True).status == "unknown"


def test_eval_curves_reads_the_eval_lines_of_a_metrics_file(tmp_path):
    files.append_jsonl(tmp_path / "metrics.jsonl", [
        {"step": 10, "loss_d": 1.0},
        {"step": 20, "eval": {"modes_covered": 3, "hq_fraction": 0.5}},
        {"step": 10, "eval": {"modes_covered": 2, "hq_fraction": 0.25, "not_a_metric": 1.0}},
        {"step": 30, "eval": {"non_finite_samples": True}},
        {"step": 40, "eval": {"modes_covered": 8, "hq_fraction": None}},
    ])  # fmt: skip
    curves = eval_curves(tmp_path)
    assert set(curves) == {"modes_covered", "hq_fraction"}
    assert curves["modes_covered"][0].tolist() == [10, 20, 40] and curves["modes_covered"][1].tolist() == [2, 3, 8]
    assert curves["hq_fraction"][0].tolist() == [10, 20] and curves["hq_fraction"][1].tolist() == [0.25, 0.5]
    assert eval_curves(tmp_path / "nowhere") == {}

"""scripts/time_image_baselines.py: a step timed per baseline, a failure kept as a row, the budget's hours."""

import dataclasses

import torch

from ganbench.config import find_baseline
from scripts.time_image_baselines import table, time_steps


def test_a_baseline_step_is_timed_and_a_failure_is_a_row():
    cfg = find_baseline("dcgan-pytorch", "cifar10")
    row = time_steps(cfg, torch.device("cpu"), steps=2, warmup=0)
    assert row["error"] is None and row["ms"] > 0 and row["iqr"] >= 0
    assert (row["name"], row["batch_size"], row["budget"]) == ("dcgan-pytorch", 64, 19_550)
    broken = dataclasses.replace(cfg, model_params={**cfg.model_params, "arch": "resnet"})
    bad = time_steps(broken, torch.device("cpu"), steps=1, warmup=0)
    assert bad["ms"] is None and bad["error"].startswith("ValueError: arch must be one of")
    text = table([{**row, "ms": 100.0, "iqr": 1.0}, bad]).splitlines()
    assert text[2] == "| cifar10 | dcgan-pytorch | 64 | 100.0 (1.0) | 19,550 steps | 0.5 h |"  # 100 ms x 19,550
    assert text[3].startswith("| cifar10 | dcgan-pytorch | 64 | failed: ValueError")

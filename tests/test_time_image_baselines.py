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
    assert bad["ms"] is None and bad["error"].startswith("UserError: model 'gan' on cifar10: arch must be one of")
    text = table([{**row, "ms": 100.0, "iqr": 1.0}, bad]).splitlines()
    # 100 ms x 19,550; the operations one step dispatches (a DCGAN step: well over a hundred)
    assert row["ops"] > 100
    assert text[2] == f"| cifar10 | dcgan-pytorch | 64 | 100.0 (1.0) | {row['ops']} | 19,550 steps | 0.5 h |"
    assert text[3].startswith("| cifar10 | dcgan-pytorch | 64 | failed: UserError")


def test_a_suite_is_timed_once_per_distinct_baseline(tmp_path, capsys):
    # pacgan2d: 4 models x 2 datasets x 10 seeds = 80 jobs, 8 distinct baselines, each at 400,000 steps.
    from scripts.time_image_baselines import main

    out = tmp_path / "t.md"
    assert main(["--suite", "pacgan2d", "--steps", "1", "--warmup", "0", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Training-step time of the `pacgan2d` suite's baselines on ")
    rows = [line for line in text.splitlines() if line.startswith(("| ring8", "| grid25"))]
    assert sorted(r.split(" | ")[1] for r in rows) == sorted(["gan", "pacgan2", "pacgan3", "pacgan4"] * 2)
    assert all("| 400,000 steps |" in r and "failed" not in r for r in rows)

import json

import pytest
import torch

from ganbench.bench import bench, bench_model, matmul_peak_flops
from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.models import MODELS


@pytest.mark.parametrize("dataset", ["ring8", "digits"])
def test_bench_json_for_every_reference_model_on_cpu(capsys, dataset):
    code = main(["bench", "--dataset", dataset, "--steps", "2", "--warmup", "1", "--device", "cpu", "--json"])
    rows = [json.loads(line, parse_constant=pytest.fail) for line in capsys.readouterr().out.splitlines()]  # no NaN
    assert code == 0 and [r["model"] for r in rows] == MODELS.names()
    for r in rows:
        assert r["error"] is None, r
        assert r["step_ms_median"] > 0 and r["samples_per_s"] > 0 and r["peak_memory_mb"] > 0
        assert r["device"]["type"] == "cpu" and r["matmul_peak_flops"] > 1e8
        if r["model"] != "wgan-gp":  # the flop counter cannot follow autograd.grad
            assert r["flops_per_step"] > 0 and 0 < r["utilisation"] < 5
        else:
            assert r["flops_per_step"] is None and r["utilisation"] is None


def test_bench_amp_runs_every_reference_model_on_cpu(capsys):
    # bf16 autocast on the CPU: the same code path --amp takes on CUDA, short of the device.
    code = main(["bench", "--dataset", "digits", "--steps", "1", "--warmup", "1", "--device", "cpu", "--amp", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [r["model"] for r in rows] == MODELS.names()
    for r in rows:
        assert r["error"] is None and r["amp"] is True and r["precision"] == "bf16", r
        assert r["step_ms_median"] > 0 and r["matmul_peak_flops"] > 1e8
        # A CPU without bfloat16 units multiplies bf16 matrices hundreds of times slower than fp32 while the
        # convolutions run at fp32's rate: the bf16 peak on the CPU is at least fp32's.
        assert r["matmul_peak_flops"] >= matmul_peak_flops(torch.device("cpu"), torch.float32)


def test_flops_match_the_analytic_count_for_a_linear_model():
    # MLP GAN on 2D points, counted by hand: a linear layer a -> b on n rows is 2nab FLOPs forward, and as
    # much again for each gradient (weights; inputs except where the input needs none).
    r = bench_model("gan", "ring8", batch_size=100, steps=1, warmup=0, device="cpu")
    assert r["error"] is None
    from ganbench.config import find_baseline
    from ganbench.models import get_recipe

    p = get_recipe("gan").resolve("points2d", find_baseline("gan", "ring8").model_params)
    z, h, dh, k = p["z_dim"], p["g_hidden"], p["d_hidden"], p["maxout_pieces"]
    G = [(z, h)] + [(h, h)] * (p["g_layers"] - 1) + [(h, 2)]
    D = [(2, dh * k)] + [(dh, dh * k)] * (p["d_layers"] - 1) + [(dh, 1)]  # maxout layers, then the logit

    def mm(a, b):
        return 2 * 100 * a * b

    gf, df = sum(mm(*ab) for ab in G), sum(mm(*ab) for ab in D)
    d_step = gf + 2 * df + 2 * (2 * df - mm(*D[0]))  # G forward (detached), D on real and fake, both backward
    g_step = gf + df + 2 * df + (2 * gf - mm(*G[0]))  # G and D forward; backward through D and G (not into z)
    assert r["flops_per_step"] == d_step + g_step


def test_failed_measurement_is_a_row_with_its_error():
    r = bench_model("gan", "digits", batch_size=10**6, steps=1, warmup=0, device="cpu")
    assert r["error"] and "exceeds the training set" in r["error"] and "step_ms_median" not in r


def test_bench_results_join_the_leaderboard(tmp_path):
    from ganbench.runs import files
    from ganbench.bench import bench
    from ganbench.results.leaderboard import leaderboard

    d = tmp_path / "ring8" / "gan" / "seed-0"
    files.atomic_write_json(d / "config.json", {"dataset": "ring8", "model": "gan", "name": "gan", "seed": 0})
    files.atomic_write_json(d / "result.json", {"status": "complete", "wall_time_s": 1.0, "steps": 1})
    files.atomic_write_json(d / "scores.json", {"f": {"metrics": {"modes_covered": 3}, "fingerprint": {"id": "f"}}})
    rows = bench(["gan"], "ring8", out=tmp_path, steps=2, warmup=0, device="cpu")
    board = leaderboard(tmp_path)
    assert board.loc[0, "step_ms_median"] == pytest.approx(rows[0]["step_ms_median"])


def test_sweep_times_every_setting_on_images_with_images_per_second(capsys):
    code = main(["bench", "gan,ae", "--dataset", "stacked-digits", "--steps", "1", "--warmup", "1", "--device", "cpu",
                 "--sweep", "--json"])  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    settings = [("fp32", False), ("bf16", False), ("fp32", True), ("bf16", True)]
    assert code == 0 and [(r["model"], r["precision"], r["channels_last"]) for r in rows] == [
        (m, p, c) for p, c in settings for m in ("gan", "ae")]
    for r in rows:
        assert r["error"] is None, r
        assert r["samples_per_s"] > 0 and 0 < r["utilisation"] < 5 and r["amp"] == (r["precision"] == "bf16")
    assert [r["setting"] for r in rows[::2]] == ["fp32", "bf16", "fp32 channels-last", "bf16 channels-last"]
    main(["bench", "gan", "--dataset", "stacked-digits", "--steps", "1", "--warmup", "0", "--device", "cpu",
          "--channels-last"])  # fmt: skip
    line = capsys.readouterr().out
    assert "fp32 channels-last" in line and "images/s" in line


def test_channels_last_is_for_images_and_out_takes_one_setting(capsys, tmp_path):
    assert main(["bench", "gan", "--dataset", "ring8", "--steps", "1", "--warmup", "0", "--device", "cpu", "--sweep",
                 "--json"]) == 0  # fmt: skip
    assert [json.loads(line)["setting"] for line in capsys.readouterr().out.splitlines()] == ["fp32", "bf16"]
    r = bench_model("gan", "ring8", steps=1, warmup=0, device="cpu", channels_last=True)
    assert "channels_last applies to images" in r["error"]
    with pytest.raises(UserError, match="--out keeps one bench.json per model"):
        bench(["gan"], "ring8", out=tmp_path, settings=[("fp32", False), ("bf16", False)], steps=1, device="cpu")

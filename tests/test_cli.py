import json
import subprocess
import sys

import pytest

from ganbench.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_datasets_json(capsys):
    code, out, _ = run_cli(capsys, "list", "datasets", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0
    for name in ("ring8", "grid25", "digits", "stacked-digits", "mnist", "fashion-mnist", "cifar10", "stacked-mnist"):
        assert {"name", "kind", "shape", "num_modes", "source"} <= set(rows[name])
    assert rows["ring8"]["num_modes"] == 8 and rows["grid25"]["num_modes"] == 25
    assert rows["stacked-digits"]["num_modes"] == 1000 and rows["stacked-digits"]["shape"] == [3, 8, 8]
    assert rows["digits"]["source"] == "embedded" and rows["cifar10"]["source"] == "torchvision"


def test_list_models_json_lists_every_registered_model_including_one_just_registered(capsys):
    from ganbench.models import MODELS, ModelRecipe, register_recipe

    class Tiny:
        def __init__(self, info, width: int = 3):
            pass

    register_recipe(ModelRecipe("test-listed", "ae", Tiny, defaults={"points2d": {"width": 5}}, description="listed"))
    try:
        code, out, _ = run_cli(capsys, "list", "models", "--json")
        names = sorted(MODELS.names())
    finally:
        MODELS.unregister("test-listed")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and sorted(rows) == names
    assert rows["test-listed"] == {"name": "test-listed", "family": "ae", "description": "listed",
                                   "parameters": ["width"], "defaults": {"points2d": {"width": 5}}}  # fmt: skip
    assert rows["gan"]["family"] == "gan" and rows["vae"]["family"] == "vae"


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "gna", "--dataset", "ring8"], r"Unknown model 'gna'\. Did you mean: gan"),
        (["train", "gan", "--dataset", "rign8"], r"Unknown dataset 'rign8'\. Did you mean: ring8"),
        (["train", "gan", "--dataset", "ring8", "--steps", "-3"], r"--steps: expected a positive integer; got -3"),
        (["train", "gan", "--dataset", "ring8", "--device", "tpu"], r"--device must be auto, cpu or cuda"),
        (["list", "things"], r"invalid choice: 'things'"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, tmp_path, args, message):
    code, _, err = run_cli(capsys, *args, *(["--out", str(tmp_path)] if args[0] == "train" else []))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("ganbench: error: ")
    import re

    assert re.search(message, err), err


def test_console_script_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "ganbench.cli", "train", "gna", "--dataset", "ring8"],
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert p.returncode == 2 and "Traceback" not in p.stderr and "Did you mean: gan" in p.stderr


def test_train_writes_a_run(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "gan", "--dataset", "ring8", "--seed", "1", "--steps", "40",
                           "--out", str(tmp_path))  # fmt: skip
    assert code == 0 and out.startswith("complete: gan on ring8, seed 1, 40 steps")
    d = tmp_path / "ring8" / "gan" / "seed-1"
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["train"]["steps"] == 40 and cfg["seed"] == 1 and cfg["model_params"]["z_dim"] == 2
    assert {"versions", "device", "git_commit", "command"} <= set(cfg["environment"])
    assert json.loads((d / "result.json").read_text())["status"] == "complete"
    assert (d / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_seeds_trains_the_listed_seeds_batched(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "vae", "--dataset", "ring8", "--seeds", "0,2", "--steps", "20",
                           "--no-eval", "--out", str(tmp_path))  # fmt: skip
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("complete: vae on ring8, seed 0, 20 steps")
    assert lines[1].startswith("complete: vae on ring8, seed 2, 20 steps")
    for seed in (0, 2):
        cfg = json.loads((tmp_path / "ring8" / "vae" / f"seed-{seed}" / "config.json").read_text())
        assert cfg["seed"] == seed and cfg["vectorised"] == 2 and cfg["stack"] == [0, 2]
    code, out, _ = run_cli(capsys, "train", "vae", "--dataset", "ring8", "--seeds", "1", "--steps", "5",
                           "--no-eval", "--no-vectorise", "--out", str(tmp_path))  # fmt: skip
    assert code == 0 and "vectorised" not in json.loads((tmp_path / "ring8" / "vae" / "seed-1" / "config.json").read_text())

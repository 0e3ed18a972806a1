"""Hostile and bad input: property-based tests of the samples-file reader and the config parser, and
pinned messages for corrupt checkpoints and metric logs."""

import io as _io

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, scalar_dtypes

from ganbench.runs import files
from ganbench.cli import main
from ganbench.config import load_baseline
from ganbench.data import get_dataset_info
from ganbench.errors import UserError
from ganbench.evaluation.samples import read_samples_file

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(arr=arrays(scalar_dtypes(), array_shapes(min_dims=0, max_dims=5, max_side=9)),
       dataset=st.sampled_from(["ring8", "digits", "stacked-digits"]))  # fmt: skip
def test_samples_reader_accepts_valid_or_raises_user_error(tmp_path_factory, arr, dataset):
    path = tmp_path_factory.mktemp("s") / "x.npy"
    np.save(path, arr)
    info = get_dataset_info(dataset)
    try:
        x = read_samples_file(path, info)
    except UserError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        return
    # whatever is accepted is valid data-space input for the dataset
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == tuple(info.shape) and len(x) > 0
    assert torch.isfinite(x).all()
    if info.kind == "image":
        assert x.min() >= -1 and x.max() <= 1


@SETTINGS
@given(data=st.binary(max_size=400))
def test_samples_reader_on_random_bytes(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("b")
    for name in ("x.npy", "x.npz"):
        (folder / name).write_bytes(data)
        with pytest.raises(UserError):
            read_samples_file(folder / name, get_dataset_info("ring8"))


_keys = st.sampled_from(["model", "dataset", "description", "name", "model_params", "train", "steps", "lr", "zzz"])
_values = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8), st.booleans(),
                    st.lists(st.integers(), max_size=3))  # fmt: skip


def _toml(v) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    return json.dumps(v)


@SETTINGS
@given(top=st.dictionaries(_keys, _values, max_size=4), train=st.dictionaries(
    st.sampled_from(["steps", "batch_size", "log_every", "eval_every", "bogus"]), _values, max_size=3),
    params=st.dictionaries(st.sampled_from(["z_dim", "lr_g", "nope", "pack"]), _values, max_size=2))  # fmt: skip
def test_config_parser_accepts_valid_or_raises_user_error(tmp_path_factory, top, train, params):
    lines = ['model = "gan"', 'dataset = "ring8"'] if "model" not in top else []
    lines += [f"{k} = {_toml(v)}" for k, v in top.items() if k not in ("model_params", "train")]
    lines += ["[model_params]"] + [f"{k} = {_toml(v)}" for k, v in params.items()]
    lines += ["[train]"] + [f"{k} = {_toml(v)}" for k, v in train.items()]
    path = tmp_path_factory.mktemp("c") / "b.toml"
    path.write_text("\n".join(lines) + "\n")
    try:
        cfg = load_baseline(path)
    except UserError as e:
        assert "\n" not in str(e)
        return
    from ganbench.models import MODELS

    assert cfg.model in MODELS and cfg.dataset == "ring8" and cfg.train.steps >= 1 and cfg.train.batch_size >= 1


def test_truncated_checkpoint_on_resume_is_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "gan", "--dataset", "ring8", "--steps", "20", "--out", str(tmp_path)]) == 0
    ckpt = tmp_path / "ring8" / "gan" / "seed-0" / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:300])
    capsys.readouterr()
    code = main(["train", "gan", "--dataset", "ring8", "--steps", "40", "--out", str(tmp_path), "--resume"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "checkpoint.pt is corrupt or not a ganbench checkpoint" in err


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    """A pickle that would run code on load must not be executed (weights_only=True)."""
    assert main(["train", "gan", "--dataset", "ring8", "--steps", "20", "--out", str(tmp_path)]) == 0
    ckpt = tmp_path / "ring8" / "gan" / "seed-0" / "checkpoint.pt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    buf = _io.BytesIO()
    torch.save({"format": 1, "payload": Evil()}, buf)
    ckpt.write_bytes(buf.getvalue())
    capsys.readouterr()
    code = main(["eval", str(ckpt.parent)])
    assert code == 2 and not marker.exists()
    assert "corrupt or not a ganbench checkpoint" in capsys.readouterr().err


def test_corrupt_metrics_lines_are_skipped(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1, "loss": 0.5}\nnot json\n[1, 2]\n{"step": 2, "loss": 0.4}\n{"step": 3, "lo')
    assert [r["step"] for r in files.read_jsonl(p)] == [1, 2]


def test_offline_inception_without_weights_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    np.save(tmp_path / "s.npy", np.zeros((10, 1, 8, 8), np.uint8))
    code = main(["eval", "--samples", str(tmp_path / "s.npy"), "--dataset", "digits", "--extractor", "inception",
                 "--offline"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "weights-inception-2015-12-05-6726825d.pth" in err and "SHA-256 starting 6726825d" in err
    assert not (tmp_path / "torch-home").exists() or not any((tmp_path / "torch-home").rglob("*.pth"))

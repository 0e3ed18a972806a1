import pytest

from ganbench.config import TrainConfig, list_baselines, load_baseline
from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.models import MODELS


def test_every_committed_baseline_loads_and_names_registered_things():
    baselines = list_baselines()
    assert baselines
    for b in baselines:
        assert b.model in MODELS and b.dataset in DATASETS


def test_every_model_has_a_baseline_on_every_embedded_dataset():
    have = {(b.model, b.dataset) for b in list_baselines()}
    for m in MODELS.names():
        for d in ("ring8", "grid25", "digits", "stacked-digits"):
            assert (m, d) in have


def _write(tmp_path, text):
    p = tmp_path / "b.toml"
    p.write_text(text)
    return p


def test_unknown_top_level_key_names_file_key_and_line(tmp_path):
    p = _write(tmp_path, 'model = "gan"\ndataset = "ring8"\nlearning_rate = 3\n')
    with pytest.raises(UserError, match=r"b\.toml:3: unknown key 'learning_rate'"):
        load_baseline(p)


def test_unknown_train_key(tmp_path):
    p = _write(tmp_path, 'model = "gan"\ndataset = "ring8"\n[train]\nstep = 3\n')
    with pytest.raises(UserError, match=r"b\.toml:4: unknown key train\.'step'"):
        load_baseline(p)


def test_unknown_model_param(tmp_path):
    p = _write(tmp_path, 'model = "gan"\ndataset = "ring8"\n[model_params]\nlr = 3\n')
    with pytest.raises(UserError, match=r"b\.toml:4: unknown key model_params\.'lr'"):
        load_baseline(p)


def test_bad_value_and_bad_toml(tmp_path):
    p = _write(tmp_path, 'model = "gan"\ndataset = "ring8"\n[train]\nsteps = -1\n')
    with pytest.raises(UserError, match=r"train\.steps must be >= 1; got -1"):
        load_baseline(p)
    p = _write(tmp_path, 'model = "gan\n')
    with pytest.raises(UserError, match="not valid TOML"):
        load_baseline(p)
    with pytest.raises(UserError, match="must be an integer"):
        TrainConfig(steps=1.5)


def test_unknown_model_in_file_suggests(tmp_path):
    p = _write(tmp_path, 'model = "gna"\ndataset = "ring8"\n')
    with pytest.raises(UserError, match="Did you mean: gan"):
        load_baseline(p)


def test_precision_and_channels_last_are_validated_settings(tmp_path):
    assert (TrainConfig().precision, TrainConfig().channels_last) == ("fp32", False)
    assert TrainConfig(precision="bf16", channels_last=True).channels_last is True
    with pytest.raises(UserError, match=r"train.precision must be one of fp32, bf16; got 'fp16'"):
        TrainConfig(precision="fp16")
    with pytest.raises(UserError, match=r"train.channels_last must be true or false; got 1"):
        TrainConfig(channels_last=1)
    p = tmp_path / "b.toml"
    p.write_text('model = "gan"\ndataset = "digits"\n[train]\nprecision = "bf16"\nchannels_last = true\n')
    assert (load_baseline(p).train.precision, load_baseline(p).train.channels_last) == ("bf16", True)


def test_settings_at_their_defaults_stay_out_of_a_jobs_identity():
    from ganbench.config import BaselineConfig
    from ganbench.runs.worker import Job

    # The ids these jobs had before precision and channels_last existed (ganbench a04019e), so that run
    # folders made then are still the same finished jobs.
    gan = BaselineConfig("gan", "ring8", model_params={"z_dim": 2}, train=TrainConfig(steps=10, batch_size=32))
    vae = BaselineConfig("vae", "digits", train=TrainConfig(steps=7))
    assert Job(gan, 3).id == "ring8/gan/seed-3@0f2f62e5d74d"
    assert Job(vae, 0).id == "digits/vae/seed-0@255b634cd358"
    ids = {Job(BaselineConfig("vae", "digits", train=TrainConfig(steps=7, **s)), 0).id
           for s in ({}, {"precision": "bf16"}, {"channels_last": True}, {"precision": "bf16", "channels_last": True})}
    assert len(ids) == 4  # set, each is part of the job

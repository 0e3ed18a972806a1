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

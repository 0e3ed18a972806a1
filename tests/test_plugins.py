"""Outside models: the ``ganbench.models`` entry-point group, found for real by importlib.metadata
from an installed distribution's ``entry_points.txt``, and ``module:attr`` targets."""

import sys
import textwrap

import pytest
import torch

from ganbench.cli import main
from ganbench.data import load_dataset
from ganbench.errors import UserError
from ganbench.models import MODELS, build_model, get_recipe
from ganbench.plugins import ENTRY_POINT_GROUP, entry_point_names, import_target, load_entry_point
from ganbench.results.compare import resolve_target

MODULE = "ganbench_test_plugin_mod"
PLUGIN_SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn

    from ganbench.models import ModelRecipe
    from ganbench.models.base import GenerativeModel


    class Shift(GenerativeModel):
        '''Generator x = z + b: one parameter vector, trained towards the data mean.'''

        def __init__(self, info):
            super().__init__()
            self.z_dim = info.shape[0]
            self.b = nn.Parameter(torch.zeros(self.z_dim))
            self.opt = torch.optim.SGD(self.parameters(), lr=0.1)

        def optimizers(self):
            return {"opt": self.opt}

        def train_step(self, batch):
            loss = ((self.b - batch.mean(0)) ** 2).sum()
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            return {"loss": loss.item()}

        def sample(self, n, generator=None):
            with torch.no_grad():
                return self.latent(n, generator) + self.b


    def build(info):
        return Shift(info)


    class Outer:
        inner = staticmethod(build)


    RECIPE = ModelRecipe("tiny-recipe", "gan", Shift, description="a recipe object exposed directly")
    """
)


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A distribution installed in tmp_path (module + dist-info), put on sys.path; unregistered after."""
    (tmp_path / f"{MODULE}.py").write_text(PLUGIN_SOURCE, encoding="utf-8")
    dist = tmp_path / "ganbench_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ganbench-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntiny = {MODULE}:build\n"
                                           f"tiny-recipe = {MODULE}:RECIPE\n")  # fmt: skip
    assert "tiny" not in entry_point_names()  # not visible before it is on the path
    monkeypatch.syspath_prepend(str(tmp_path))  # restores sys.path (and whatever import_target adds) after
    yield tmp_path
    for name in ("tiny", "tiny-recipe"):
        MODELS.unregister(name)
    sys.modules.pop(MODULE, None)


def test_entry_points_are_listed_without_importing_the_plugin(installed_plugin):
    assert {"tiny", "tiny-recipe"} <= set(entry_point_names())
    assert MODULE not in sys.modules and "tiny" not in MODELS  # listing names imports nothing


def test_get_recipe_loads_and_registers_an_entry_point_factory(installed_plugin):
    recipe = get_recipe("tiny")
    module = sys.modules[MODULE]
    assert recipe.name == "tiny" and recipe.cls is module.build and recipe.family == "plugin"
    assert MODELS.get("tiny") is recipe and get_recipe("tiny") is recipe  # registered once, then found
    info = load_dataset("ring8").info
    model = build_model("tiny", info)
    assert isinstance(model, module.Shift)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, 2)


def test_an_entry_point_may_name_a_recipe_object(installed_plugin):
    recipe = get_recipe("tiny-recipe")
    assert recipe is sys.modules[MODULE].RECIPE and recipe.family == "gan"


def test_unknown_names_still_get_the_suggestion_error(installed_plugin):
    with pytest.raises(UserError, match=r"Unknown model 'gna'\. Did you mean: gan\b"):
        get_recipe("gna")
    assert load_entry_point("gna") is None
    get_recipe("tiny")
    with pytest.raises(UserError, match=r"Unknown model 'tinyy'\. Did you mean: tiny"):
        get_recipe("tinyy")


def test_cli_trains_an_entry_point_model_by_name(installed_plugin, tmp_path, capsys):
    code = main(["train", "tiny", "--dataset", "ring8", "--steps", "30", "--no-eval", "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("complete: tiny on ring8, seed 0, 30 steps")
    assert (tmp_path / "runs" / "ring8" / "tiny" / "seed-0" / "checkpoint.pt").is_file()


def test_compare_resolves_an_entry_point_name_to_a_factory(installed_plugin):
    target = resolve_target("tiny")
    assert target.kind == "factory" and target.label == "user-tiny" and target.obj is sys.modules[MODULE].build
    with pytest.raises(UserError, match="not module:attr, a .npy/.npz samples file, or a ganbench.models entry point"):
        resolve_target("no-such-entry-point")


# -- module:attr -----------------------------------------------------------------------------------


def test_import_target_resolves_module_and_dotted_attribute(installed_plugin):
    module = import_target(f"{MODULE}:build").__module__
    assert module == MODULE
    assert import_target(f"{MODULE}:Outer.inner") is sys.modules[MODULE].build


def test_import_target_finds_modules_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "cwd_plugin_mod.py").write_text("VALUE = 42\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # import_target adds the current directory to it
    try:
        assert import_target("cwd_plugin_mod:VALUE") == 42
    finally:
        sys.modules.pop("cwd_plugin_mod", None)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("no_colon_here", r"'no_colon_here' is not module:attr; name a factory or sampler like my_models:build_gan"),
        ("no_such_module_zz:build", r"cannot import module 'no_such_module_zz' from 'no_such_module_zz:build'"),
        (f"{MODULE}:missing", rf"module '{MODULE}' has no attribute 'missing'"),
        (f"{MODULE}:Outer.missing", rf"module '{MODULE}' has no attribute 'Outer.missing'"),
    ],
)
def test_import_target_errors_are_one_line_user_errors(installed_plugin, spec, message):
    with pytest.raises(UserError, match=message) as e:
        import_target(spec)
    assert "\n" not in str(e.value)

"""Seed-vectorised models against serial runs: every seed of a stack follows its own serial run.

The serial side is ``GAN``/``VAE``/``Autoencoder.train_step`` under torch's global generator, exactly as
``training.train`` drives it; the vectorised side shares none of its step code. The main comparison runs in
float64, where rounding is ~1e-16, so any mathematical difference (a wrong reduction, a draw out of order, a
gradient leaking between seeds) shows far above the tolerance, while 50 steps of chaotic training amplify
rounding to at most ~1e-5 (hinge-sn, measured). In float32, rounding differences are ~1e-7 at first and
grow with the same chaos, so the float32 check is over 10 steps, on networks with no parameter whose exact
gradient is zero (see there).
"""

import dataclasses
import types

import pytest
import torch

from ganbench.config import find_baseline
from ganbench.data import load_dataset
from ganbench.data.base import DatasetInfo
from ganbench.models import build_model
from ganbench.models.stacked import NotVectorisable
from ganbench.models.vectorised import vectorise
from ganbench.training import BatchSampler, seed_everything

MODELS = ["gan", "wgan-gp", "lsgan", "hinge-sn", "pacgan", "vae", "ae"]
SEEDS = (0, 1)


@pytest.fixture(autouse=True)
def one_thread():
    """Jobs train with one thread (runs/worker.py); the float32 comparison assumes it too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _setup(model, dataset, params=None):
    cfg = find_baseline(model, dataset)
    ds = load_dataset(dataset)
    ds = dataclasses.replace(ds, train=ds.train_float().to(torch.get_default_dtype()), test=ds.test_float(), levels=None)
    return {**cfg.model_params, **(params or {})}, ds


def _batch(ds, sampler, step, k):
    return ds.train[torch.cat([sampler.indices((step - 1) * k + j) for j in range(k)])]


def _serial(model, ds, params, seed, steps, batch_size):
    """A serial run's model and losses, as training.train drives it."""
    seed_everything(seed)
    m = build_model(model, ds.info, **params)
    m.train()
    sampler = BatchSampler(len(ds.train), batch_size, seed)
    return m, [m.train_step(_batch(ds, sampler, step, m.batches_per_step)) for step in range(1, steps + 1)]


def _vectorised(model, ds, params, seeds, steps, batch_size):
    models, generators = [], []
    for seed in seeds:
        seed_everything(seed)
        models.append(build_model(model, ds.info, **params))
        generators.append(torch.Generator().set_state(torch.get_rng_state()))
    vm = vectorise(models, generators)
    vm.train()
    samplers = [BatchSampler(len(ds.train), batch_size, s) for s in seeds]
    k = models[0].batches_per_step
    losses = []
    for step in range(1, steps + 1):
        out = vm.train_step(torch.stack([_batch(ds, s, step, k) for s in samplers]))
        losses.append({n: v.tolist() for n, v in out.items()})
    vm.unstack(models)
    return models, losses


def _scaled(a: torch.Tensor, b: torch.Tensor, scale: float) -> float:
    return (a - b).abs().max().item() / max(scale, 1e-300)


def _compare(serial_model, serial_losses, model, losses, i, rtol, floor=0.0):
    """Largest scaled difference of losses, weights, buffers and Adam moments; asserts each within rtol.
    ``floor``: the smallest scale of a tensor. A zero-initialised bias just before batch norm has a zero exact
    gradient: Adam moves it by about lr x (rounding noise / eps), ~1e-12 in float64, differently for any two
    summation orders; against one Adam step (the learning rate, 2e-4) such noise is nothing."""
    for step, (a, b) in enumerate(zip(serial_losses, losses), 1):
        for name in a:
            assert abs(a[name] - b[name][i]) <= rtol * (abs(a[name]) + 1), (step, name, a[name], b[name][i])
    sa, sb = serial_model.training_state(), model.training_state()
    assert sa["modules"].keys() == sb["modules"].keys()
    for key, v in sa["modules"].items():
        w = sb["modules"][key]
        assert v.shape == w.shape and v.dtype == w.dtype, key
        if not v.dtype.is_floating_point:
            assert torch.equal(v, w), key
        else:  # each tensor to its own scale
            scale = max(v.abs().max().item(), floor)
            assert _scaled(v, w, scale) <= rtol, (key, _scaled(v, w, scale))
    for name, opt in sa["optimizers"].items():
        other = sb["optimizers"][name]
        assert opt["state"].keys() == other["state"].keys() and opt["param_groups"] == other["param_groups"]
        for moment in ("exp_avg", "exp_avg_sq"):
            # a moment to the optimizer's largest: parameters whose gradient is zero in exact arithmetic
            # (a bias before batch norm) have moments of pure rounding noise, ~1e-17 in float64
            scale = max(st[moment].abs().max().item() for st in opt["state"].values())
            for p, st in opt["state"].items():
                assert torch.equal(st["step"], other["state"][p]["step"])
                assert _scaled(st[moment], other["state"][p][moment], scale) <= rtol, (name, p, moment)


def _check(model, dataset, steps, batch_size, rtol, params=None):
    params, ds = _setup(model, dataset, params)
    models, losses = _vectorised(model, ds, params, SEEDS, steps, batch_size)
    for i, seed in enumerate(SEEDS):
        serial_model, serial_losses = _serial(model, ds, params, seed, steps, batch_size)
        _compare(serial_model, serial_losses, models[i], losses, i, rtol)


def _small(model, **more):
    """Narrower networks than the suite's: the same layers, a faster test."""
    return {**({"hidden": 32} if model in ("vae", "ae") else {"g_hidden": 32, "d_hidden": 32}), **more}


# The 2D baselines' own settings where they differ from the defaults (scripts/make_baselines.py)
RING8 = {"vae": {"decoder_sd": 0.01}, "wgan-gp": {"gp_weight": 0.1}}


@pytest.mark.parametrize("model", MODELS)
def test_every_seed_follows_its_serial_run_on_ring8(float64, model):
    _check(model, "ring8", steps=50, batch_size=32, rtol=1e-4, params=_small(model, **RING8.get(model, {})))


@pytest.mark.parametrize("model", MODELS)
def test_every_seed_follows_its_serial_run_on_digits(float64, model):
    _check(model, "digits", steps=50, batch_size=16, rtol=1e-4, params={"width": 8})


PACGAN2D = {"z_dim": 2, "g_hidden": 64, "g_layers": 3, "g_hidden_bias": False, "d_hidden": 32, "d_layers": 2,
            "init": "normal-0.02", "update": "simultaneous", "batch_norm": "blocks", "bn_eps": 1e-4,
            "bn_momentum": 0.05, "bn_refresh_every": 7, "bn_refresh_batches": 3, "pack_generator_calls": "per-pack",
            "pack": 3}  # fmt: skip


def test_pacgan_release_options_follow_serial_runs(float64):
    # the options of baselines/pacgan2d (simultaneous update, Blocks batch norm, refreshes, per-pack calls)
    _check("pacgan", "ring8", steps=30, batch_size=30, rtol=1e-4, params=PACGAN2D)


@pytest.mark.parametrize("model", ["gan", "wgan-gp"])
def test_float32_agrees_to_rounding_over_ten_steps(model):
    # Without the hidden biases before batch norm: their exact gradient is zero, so in float32 Adam turns
    # their gradients' rounding noise into full-size steps, which differ between any two summation orders.
    # (hinge-sn amplifies rounding faster: 3e-4 after 10 float32 steps, measured; float64 covers it.)
    _check(model, "ring8", steps=10, batch_size=32, rtol=1e-4, params={"g_hidden_bias": False})


def test_seeds_do_not_share_gradients(float64):
    """Seed 1's numbers do not depend on which seed shares its stack."""
    params, ds = _setup("wgan-gp", "ring8")
    a, _ = _vectorised("wgan-gp", ds, params, (1, 5), 5, 16)
    b, _ = _vectorised("wgan-gp", ds, params, (1, 9), 5, 16)
    for (k, v), w in zip(a[0].state_dict().items(), b[0].state_dict().values()):
        assert _scaled(v.double(), w.double(), 1.0) < 1e-12, k


def test_select_drops_a_seed_and_the_rest_go_on(float64):
    params, ds = _setup("vae", "ring8")
    models, gens = [], []
    for seed in (0, 1, 2):
        seed_everything(seed)
        models.append(build_model("vae", ds.info, **params))
        gens.append(torch.Generator().set_state(torch.get_rng_state()))
    vm = vectorise(models, gens)
    samplers = [BatchSampler(len(ds.train), 32, s) for s in (0, 1, 2)]
    for step in range(1, 11):
        if step == 4:
            vm.select([0, 2])
            samplers = [samplers[0], samplers[2]]
        vm.train_step(torch.stack([_batch(ds, s, step, 1) for s in samplers]))
    vm.unstack([models[0], models[2]])
    serial, _ = _serial("vae", ds, params, 2, 10, 32)
    # float64 rounding, amplified by Adam: 1.4e-8 after 10 steps at the baseline's decoder_sd 0.1 (its NLL
    # gradients 100x those at 1, where it is 2e-10); a seed mixed up by select would differ at O(1).
    for (k, v), w in zip(serial.state_dict().items(), models[2].state_dict().values()):
        assert _scaled(v, w, v.abs().max().item()) < 1e-6, k


def test_a_model_without_a_vectorised_form_is_refused():
    class Mine(torch.nn.Module):
        pass

    with pytest.raises(NotVectorisable):
        vectorise([Mine(), Mine()], [torch.Generator(), torch.Generator()])


def test_28x28_nets_with_dropout_follow_serial_runs(float64):
    """The 28x28 discriminator (and encoder) has dropout: each seed's masks are its serial run's."""
    info = DatasetInfo("fake28", "image", (1, 28, 28), None, "embedded")
    data = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ds = types.SimpleNamespace(info=info, train=data)
    for model, params in (("gan", {"width": 4, "z_dim": 8}), ("vae", {"width": 4})):
        models, losses = _vectorised(model, ds, params, SEEDS, 3, 8)
        for i, seed in enumerate(SEEDS):
            serial_model, serial_losses = _serial(model, ds, params, seed, 3, 8)
            _compare(serial_model, serial_losses, models[i], losses, i, 1e-6)


@pytest.mark.parametrize("shape,params", [
    ((3, 28, 28), {"arch": "carpedm20", "z_dist": "uniform", "g_steps": 2, "g_latents": "shared",
                   "init": "normal-0.02"}),
    ((1, 28, 28), {"init": "glorot-uniform", "update": "simultaneous", "bn_eps": 1e-3, "bn_momentum": 0.01}),
    ((3, 32, 32), {"g_latents": "shared"}),
])  # fmt: skip
def test_classic_dcgan_options_follow_serial_runs(float64, shape, params):
    """The options of the image baselines (baselines/gan_*.toml: DCGAN-tensorflow's plan, TensorFlow's tutorial,
    the PyTorch example) and PacGAN's packing with per-pack generator calls on the carpedm20 nets."""
    info = DatasetInfo("fake", "image", shape, None, "embedded")
    data = torch.rand(64, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ds = types.SimpleNamespace(info=info, train=data)
    runs = [("gan", {"width": 4, "z_dim": 8, **params})]
    if params.get("arch") == "carpedm20":
        runs += [("pacgan", {"width": 4, "z_dim": 8, "pack": 2, "pack_generator_calls": "per-pack", **params}),
                 ("vae", {"width": 4, "arch": "carpedm20"})]  # fmt: skip
    for model, p in runs:
        models, losses = _vectorised(model, ds, p, SEEDS, 3, 8)
        for i, seed in enumerate(SEEDS):
            serial_model, serial_losses = _serial(model, ds, p, seed, 3, 8)
            _compare(serial_model, serial_losses, models[i], losses, i, 1e-6, floor=2e-4)

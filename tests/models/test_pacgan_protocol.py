"""PacGAN's 2D protocol (Table 1) as its released code runs it, checked against baselines/pacgan2d/*.toml,
and the GAN options that express it, each against a hand-written reference.

Sources: Lin et al. 2018, "PacGAN" (NeurIPS), and fjxmlzn/PacGAN at commit 190853e (Blocks/Theano),
files under synthetic_data_experiments/: ``config.py`` and ``pacgan_task.py`` are those of
``2DRing_GAN&PacGAN`` (the grid's are the same line for line but for the means and variances), the others
are under ``PacGAN/pacgan/``. Blocks is mila-iqia/blocks (``blocks/bricks/bn.py``), ALI is
IshmaelBelghazi/ALI (``ali/algorithms.py``).
"""

import copy
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.config import BASELINES_DIR, list_baselines
from ganbench.data import load_dataset
from ganbench.evaluation.scoring import sample_model
from ganbench.metrics import mode_coverage_2d
from ganbench.models import build_model, get_recipe
from ganbench.models.nets import BlocksBatchNorm1d
from ganbench.training import BatchSampler, seed_everything

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# (key in the resolved model_params or train config, value, source)
PROTOCOL = [
    ("z_dim", 2, "config.py:34 num_zdim = 2; :36 z_mode_std = 1.0 (standard normal, distributions.py:33-36)"),
    ("g_hidden", 400, "config.py:17 gen_hidden_size = 400"),
    ("g_layers", 4, "pacgan_task.py:44-57 four BatchNormalization + Rectifier hidden layers"),
    ("g_hidden_bias", False, "pacgan_task.py:58 MLP use_bias=False; :94 only the output layer gets a bias"),
    ("batch_norm", "blocks", "blocks/bricks/bn.py:203-206, 216-223 (population stdev); pacgan_task.py:127-149"),
    ("bn_eps", 1e-4, "blocks/bricks/bn.py:131 BatchNormalization(epsilon=1e-4) default, not overridden"),
    ("bn_momentum", 0.05, "pacgan_task.py:149 p = m * 0.05 + p * 0.95"),
    ("d_hidden", 200, "config.py:18 disc_hidden_size = 200"),
    ("d_layers", 3, "pacgan_task.py:61-90 three LinearMaxout layers, then Linear to 1"),
    ("maxout_pieces", 5, "config.py:20 disc_maxout_pieces = 5"),
    ("d_norm", "auto", "pacgan_task.py:61-90 no normalisation in the discriminator (auto = none on 2D)"),
    ("init", "normal-0.02", "config.py:21-22 weights_init_std 0.02, biases Constant(0); pacgan_task.py:67-68, 92"),
    ("lr_g", 1e-4, "config.py:23 learning_rate = 1e-4; pacgan_task.py:157-158 one Adam rule for both"),
    ("lr_d", 1e-4, "config.py:23 learning_rate = 1e-4"),
    # Blocks changed Adam's convention on 2017-01-24 (commit aa06451): since then beta1 = 0.8 means
    # PyTorch's 0.8; in Blocks 0.2 (2016) it meant PyTorch's 0.2. ALI's README asks for the development
    # version, so 0.8; beta2 is Blocks' default, 0.999 in PyTorch's terms in both conventions.
    ("betas", [0.8, 0.999], "config.py:24 beta1 = 0.8; blocks/algorithms/__init__.py:861-863 Adam defaults"),
    ("update", "simultaneous", "pacgan_task.py:158 ali_algorithm; ALI ali/algorithms.py:28-43"),
    ("pack_generator_calls", "per-pack", "pacgan_task.py:105-108 one z per pack slot; bricks.py:64-67"),
    ("d_steps", 1, "ali/algorithms.py:28-43 one discriminator step per generator step"),
    ("batch_size", 100, "config.py:25 batch_size = 100; streams.py:31 ShuffledScheme"),
    ("steps", 400_000, "config.py:15 num_epoch = 400 x (config.py:30 num_sample 100,000 / batch 100)"),
    ("bn_refresh_every", 1000, "pacgan_task.py:178-180 train monitor with bn_updates, after_epoch (Blocks default)"),
    ("bn_refresh_batches", 50, "streams.py:33 ShuffledScheme(5000, batch_size): 50 monitor batches"),
    ("eval_every", 1000, "pacgan_task.py:190-192 GraphLogger, MetricLogger after_epoch (1,000 iterations)"),
    ("eval_samples", 2500, "config.py:32 num_log_figure_sample = 2500; extensions.py:53-54 fixed z"),
]
PACKS = {"gan": 1, "pacgan2": 2, "pacgan3": 3, "pacgan4": 4}  # config.py:46 num_packing = [1, 2, 3, 4]
SEEDS = 10  # config.py:47 run = range(0, 10)
MIXTURES = {"ring8": (8, 0.01), "grid25": (25, 0.05)}  # config.py:6-7 (ring), 5-7 (grid); paper section 4
TRAIN_POINTS = 100_000  # config.py:30 num_sample


def _tiny(info, **kw):
    """A small 2D PacGAN for the unit tests (the options do not depend on the sizes)."""
    params = dict(z_dim=2, g_hidden=8, g_layers=2, d_hidden=6, d_layers=1, maxout_pieces=2, lr_g=1e-3,
                  lr_d=1e-3, betas=(0.8, 0.999))  # fmt: skip
    return build_model("pacgan", info, **{**params, **kw})


@pytest.fixture(scope="module")
def ring8():
    return load_dataset("ring8")


# -- the protocol against the committed configs -----------------------------------------------------


def test_every_pacgan2d_config_follows_the_released_protocol():
    configs = list_baselines(BASELINES_DIR / "pacgan2d")
    assert {(c.name, c.dataset) for c in configs} == {(n, d) for n in PACKS for d in MIXTURES}
    for c in configs:
        params = get_recipe(c.model).resolve("points2d", c.model_params)
        resolved = {**params, **vars(c.train)}
        for key, value, source in PROTOCOL:
            assert resolved[key] == value, f"{c.source}: {key} = {resolved[key]!r}, released code {value!r} ({source})"
        assert resolved["pack"] == PACKS[c.name], c.source


def test_the_data_and_seeds_follow_the_released_protocol():
    for name, (modes, sd) in MIXTURES.items():
        data = load_dataset(name)
        assert len(data.train) == TRAIN_POINTS and data.info.num_modes == modes and data.sd == sd
    suite = tomllib.loads((BASELINES_DIR.parent / "ganbench" / "runs" / "suites" / "pacgan2d.toml").read_text())
    assert len(suite["seeds"]) == SEEDS and suite["baselines_dir"] == "pacgan2d"


# -- init -------------------------------------------------------------------------------------------


def test_normal_init_draws_weights_from_n_0_002_and_zeroes_biases(ring8):
    torch.manual_seed(0)
    m = build_model("pacgan", ring8.info, pack=3, init="normal-0.02", g_hidden_bias=False)
    linears = [x for x in m.modules() if isinstance(x, nn.Linear)]
    assert len(linears) == 5 + 4  # G: 4 hidden + output; D: 3 maxout + output
    weights = torch.cat([x.weight.flatten() for x in linears])
    # 1.0e6 draws: the sample sd of N(0, 0.02) is within 0.3% and the mean within 1e-4 at > 5 sigma
    assert abs(weights.std().item() - 0.02) < 6e-5 and abs(weights.mean().item()) < 1e-4
    for x in linears:  # each layer, not just the pool: N(0, 0.02) per layer
        assert abs(x.weight.std().item() - 0.02) < 0.02 * 5 / math.sqrt(x.weight.numel())
        assert x.bias is None or torch.equal(x.bias, torch.zeros_like(x.bias))
    norms = [x for x in m.modules() if isinstance(x, BlocksBatchNorm1d | nn.BatchNorm1d)]
    assert all(torch.equal(x.weight, torch.ones_like(x.weight)) for x in norms)


def test_default_init_is_pytorchs_kaiming_uniform(ring8):
    torch.manual_seed(0)
    first = build_model("pacgan", ring8.info, pack=3).D[0].linear  # fan_in 6: U(-1/sqrt(6), 1/sqrt(6))
    bound = 1 / math.sqrt(6)
    assert first.weight.abs().max() <= bound and first.weight.std() > 0.2  # sd bound / sqrt(3) = 0.236
    assert first.bias.abs().max() > 0.01


# -- per-pack generator calls ---------------------------------------------------------------------


def _bn_input_sizes(model, batch):
    sizes = []
    hooks = [x.register_forward_hook(lambda mod, inp, out: sizes.append(inp[0].shape[0]))
             for x in model.G.modules() if isinstance(x, BlocksBatchNorm1d | nn.BatchNorm1d)]  # fmt: skip
    model.train_step(batch)
    for h in hooks:
        h.remove()
    return sizes


@pytest.mark.parametrize("update", ["alternating", "simultaneous"])
def test_per_pack_calls_give_batch_norm_statistics_over_100_samples(ring8, update):
    batch = ring8.train[:300]  # pack 3 x batch 100
    torch.manual_seed(0)
    single = _bn_input_sizes(_tiny(ring8.info, pack=3, update=update), batch)
    per_pack = _bn_input_sizes(_tiny(ring8.info, pack=3, update=update, pack_generator_calls="per-pack"), batch)
    calls = 2 if update == "alternating" else 1  # the alternating step runs G for D's step and for G's
    assert single == [300] * 2 * calls  # 2 batch-norm layers
    assert per_pack == [100] * 2 * 3 * calls


def test_per_pack_fakes_put_one_sample_of_each_call_in_every_pack(ring8):
    m = _tiny(ring8.info, pack=3, pack_generator_calls="per-pack")
    m.G = nn.Identity()  # z_dim 2 = data dim: a fake is its latent
    torch.manual_seed(1)
    z = torch.randn(6, 2)
    torch.manual_seed(1)
    packs = m._pack(m._generate(6, torch.device("cpu")))
    # PacGAN's bricks.py:64-67: x_tilde_i = G(z_i) per slot, concatenated along features
    assert torch.equal(packs, torch.cat([z[0:2], z[2:4], z[4:6]], dim=1))


# -- simultaneous update ---------------------------------------------------------------------------


def _reference_simultaneous_step(model, real, pack, lr, eps=1e-8):
    """PacGAN's step written out: one forward pass (bricks.py:62-74), each network's gradient of its own
    loss (ali/algorithms.py:28-34), then Adam's first step on both: p - lr * g / (|g| + eps)."""
    g_params, d_params = list(model.G.parameters()), list(model.D.parameters())
    n = real.shape[0] // pack
    zs = torch.randn(pack * n, model.z_dim).chunk(pack)  # as latent() draws them: one call, m slices
    x_tilde = torch.cat([model.G(z) for z in zs], dim=1)
    x = real.reshape(n, -1)
    data_preds, sample_preds = model.D(x).view(-1), model.D(x_tilde).view(-1)
    d_loss = (F.softplus(-data_preds) + F.softplus(sample_preds)).mean()
    g_loss = (F.softplus(data_preds) + F.softplus(-sample_preds)).mean()
    d_grads = torch.autograd.grad(d_loss, d_params, retain_graph=True)
    g_grads = torch.autograd.grad(g_loss, g_params)
    with torch.no_grad():
        return [p - lr * g / (g.abs() + eps) for p, g in zip(d_params + g_params, d_grads + g_grads)]


def test_simultaneous_update_takes_both_gradients_from_one_forward_pass(ring8):
    real = ring8.train[:24]
    torch.manual_seed(0)
    # no hidden biases: before batch norm their gradient is 0 up to rounding, and Adam's first step
    # g / (|g| + eps) would turn that rounding into steps of any size
    m = _tiny(ring8.info, pack=3, update="simultaneous", pack_generator_calls="per-pack", batch_norm="blocks",
              bn_eps=1e-4, bn_momentum=0.05, init="normal-0.02", g_hidden_bias=False)  # fmt: skip
    alternating = copy.deepcopy(m)
    alternating.update = "alternating"
    reference = copy.deepcopy(m)
    torch.manual_seed(1)
    expected = _reference_simultaneous_step(reference, real, 3, 1e-3)
    torch.manual_seed(1)
    m.train_step(real)
    got = list(m.D.parameters()) + list(m.G.parameters())
    assert all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(got, expected))
    torch.manual_seed(1)
    alternating.train_step(real)  # D steps first, G then sees the new D and fresh latents: not the same
    got = list(alternating.D.parameters()) + list(alternating.G.parameters())
    assert not all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(got, expected))


# -- Blocks batch norm ------------------------------------------------------------------------------


def test_blocks_batch_norm_keeps_a_population_stdev_updated_once_per_step(ring8):
    m = _tiny(ring8.info, pack=2, batch_norm="blocks", bn_eps=1e-4, bn_momentum=0.05, g_hidden_bias=False,
              pack_generator_calls="per-pack", update="simultaneous")  # fmt: skip
    bn, first = m.G[1], m.G[0]
    assert isinstance(bn, BlocksBatchNorm1d) and (bn.eps, bn.momentum) == (1e-4, 0.05)
    assert first.bias is None and m.G[-1].bias is not None  # no hidden biases; the output layer has one
    w = first.weight.detach().clone()  # the statistics are those of the weights the calls ran with
    torch.manual_seed(0)
    z = torch.randn(200, 2)
    torch.manual_seed(0)
    m.train_step(ring8.train[:200])  # one step, two generator calls: on z[:100] and on z[100:]
    pre = [z[i : i + 100] @ w.T for i in (0, 100)]
    mean = sum(p.mean(0) for p in pre) / 2
    stdev = sum((p.var(0, unbiased=False) + 1e-4).sqrt() for p in pre) / 2
    assert torch.allclose(bn.population_mean, 0.05 * mean, atol=1e-7)
    assert torch.allclose(bn.population_stdev, 0.95 + 0.05 * stdev, atol=1e-7)


def test_blocks_batch_norm_normalises_like_blocks():
    bn = BlocksBatchNorm1d(3, eps=1e-4, momentum=0.05)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        bn.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    x = torch.randn(50, 3)
    # training: Theano's batch_normalization(x, gamma, beta, mean, sqrt(biased var + eps))
    std = (x.var(0, unbiased=False) + 1e-4).sqrt()
    assert torch.allclose(bn(x), (x - x.mean(0)) * (bn.weight / std) + bn.bias, atol=1e-6)
    bn.update_population()
    bn.eval()  # inference: the population statistics, no eps added again (bn.py:216-223)
    mean, pop_std = 0.05 * x.mean(0), 0.95 + 0.05 * std
    assert torch.allclose(bn(x), (x - mean) * (bn.weight / pop_std) + bn.bias, atol=1e-6)


def test_pytorch_batch_norm_takes_eps_and_momentum(ring8):
    m = build_model("pacgan", ring8.info, bn_eps=1e-4, bn_momentum=0.05)
    norms = [x for x in m.G.modules() if isinstance(x, nn.BatchNorm1d)]
    assert len(norms) == 4 and all((x.eps, x.momentum) == (1e-4, 0.05) for x in norms)
    img = build_model("gan", load_dataset("digits").info, bn_eps=1e-4, bn_momentum=0.05)
    norms = [x for x in img.modules() if isinstance(x, nn.BatchNorm1d | nn.BatchNorm2d)]
    assert norms and all((x.eps, x.momentum) == (1e-4, 0.05) for x in norms)


def test_population_refresh_runs_the_generator_on_fresh_batches_every_n_steps(ring8):
    m = _tiny(ring8.info, pack=2, batch_norm="blocks", pack_generator_calls="per-pack", update="simultaneous",
              bn_refresh_every=3, bn_refresh_batches=4)  # fmt: skip
    bn = m.G[1]
    seen = []
    bn.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    steps = []
    for _ in range(3):
        m.train_step(ring8.train[:20])
        steps.append(len(seen))
    # steps 1 and 2: 2 calls each (one per pack slot); step 3: 2, then 4 refresh batches of 2 calls
    assert steps == [2, 4, 6 + 8] and set(seen) == {10}
    assert int(m.steps_done) == 3 and "steps_done" in m.state_dict()
    assert "steps_done" not in _tiny(ring8.info).state_dict()


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"init": "xavier"}, r"init must be one of 'default', 'normal-0.02', 'glorot-uniform'; got 'xavier'"),
        ({"update": "sim"}, r"update must be one of 'alternating', 'simultaneous'; got 'sim'"),
        ({"pack_generator_calls": "each"}, r"pack_generator_calls must be one of 'single', 'per-pack'"),
        ({"batch_norm": "theano"}, r"batch_norm must be one of 'pytorch', 'blocks'; got 'theano'"),
        ({"update": "simultaneous", "d_steps": 5}, r"got d_steps=5: set d_steps = 1"),
        ({"bn_eps": 0.0}, r"bn_eps must be in \(0, 1\)"),
        ({"bn_momentum": 1.5}, r"bn_momentum=1.5"),
        ({"bn_refresh_every": -1}, r"bn_refresh_every must be >= 0"),
        ({"g_hidden_bias": "false"}, r"g_hidden_bias must be true or false; got 'false'"),
    ],
)
def test_bad_options_are_named(ring8, kw, match):
    with pytest.raises(ValueError, match=match):
        build_model("pacgan", ring8.info, **kw)


def test_2d_generator_options_are_refused_on_images():
    info = load_dataset("digits").info
    with pytest.raises(ValueError, match=r"apply to the 2D MLP generator; digits is image"):
        build_model("gan", info, batch_norm="blocks")
    with pytest.raises(ValueError, match=r"g_hidden_bias=False"):
        build_model("gan", info, g_hidden_bias=False)


def test_per_pack_needs_a_batch_divisible_by_the_pack(ring8):
    m = _tiny(ring8.info, pack=3, pack_generator_calls="per-pack")
    with pytest.raises(ValueError, match=r"divisible by pack=3; got 10"):
        m._generate(10, torch.device("cpu"))


# -- regression: the protocol reaches the ring's modes where PyTorch's default init did not ----------


@pytest.fixture
def one_thread():
    """One thread, as the numbers below were measured: matmul sums in another order would start another
    (equally valid, but different) trajectory."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train_and_score(config_name: str, steps: int, seed: int) -> dict:
    """Train a committed pacgan2d config for ``steps`` as the trainer does (seeding, batches), then score
    2,500 samples of fixed latents (the trainer's tracker: evaluation seed 0)."""
    config = next(c for c in list_baselines(BASELINES_DIR / "pacgan2d") if f"{c.name}_{c.dataset}" == config_name)
    data = load_dataset(config.dataset)
    seed_everything(seed)
    model = build_model(config.model, data.info, **config.model_params)
    sampler = BatchSampler(len(data.train), config.train.batch_size, seed)
    k = model.batches_per_step
    for step in range(1, steps + 1):
        model.train_step(data.train[torch.cat([sampler.indices((step - 1) * k + j) for j in range(k)])])
    return mode_coverage_2d(sample_model(model, 2500, 0), data.centers, data.sd)


@pytest.mark.slow
def test_pacgan3_on_the_ring_leaves_one_percent_behind(one_thread):
    """About 80 s of one core, hence slow. Measured here (2 shared CPU cores, one thread), pacgan3 on
    ring8, HQ % (modes) at 1,000 / 1,500 / 2,000 / 2,500 steps, seed 0:
      this protocol (baselines/pacgan2d/pacgan3_ring8.toml):     2.1 (8), 3.1 (6), 3.5 (7), 14.2 (7)
      the same with PyTorch's default init (init = "default"):   2.2 (4), 1.6 (4), 0.6 (6),  1.3 (6)
    and with this protocol, seed 1: 0.7 (6), 1.9 (6), 0.6 (3), 5.4 (8); seed 2: 0.5 (4), 1.8 (6), 2.0 (6),
    13.6 (8). Before 2,500 steps the protocol is not reliably above 1%, so the test needs that budget.
    ganbench's protocol before issue #12 (default init, alternating updates, one generator call, PyTorch
    batch norm): 1.3 +- 0.2% (4.7 modes) at 3,000 steps over 3 seeds (reports/pacgan2d-reduced.md).
    Another CPU's matmul kernels may take another trajectory: the bound leaves room for that."""
    res = _train_and_score("pacgan3_ring8", 2500, 0)
    assert res["hq_fraction"] > 0.05 and res["modes_covered"] >= 6


def test_pacgan3_protocol_trains_and_scores_quickly(one_thread):
    """The slow test's path (committed config, trainer's seeding and batches, fixed-latent scoring) on a
    budget that fits the default run; the init itself is checked by the init statistics test above."""
    res = _train_and_score("pacgan3_ring8", 20, 0)
    assert 0 <= res["hq_fraction"] <= 1 and 0 <= res["modes_covered"] <= 8

"""The options that reproduce the classic DCGAN codes, each against an independent reference: the layer plans
and parameter counts of the released code (TensorFlow's DCGAN tutorial, Kim's DCGAN-tensorflow as PacGAN's
Stacked MNIST code builds it), Keras's Glorot-uniform limit, U[-1, 1] latents, and the PyTorch DCGAN
example's training step written out as its ``main.py`` runs it (two backward passes for the discriminator,
the generator trained on the discriminator step's ``fake``)."""

import copy
import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data.base import DatasetInfo
from ganbench.models import build_model
from ganbench.models.nets import conv_discriminator, conv_generator


def _info(shape, modes=10):
    return DatasetInfo("x", "image", shape, modes, "test")


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_28x28_nets_have_the_tf_tutorial_parameter_counts():
    # tensorflow/docs site/en/tutorials/generative/dcgan.ipynb: make_generator_model / make_discriminator_model,
    # noise_dim 100. Trainable parameters from the layer definitions (Keras counts BN's moving statistics as
    # non-trainable, PyTorch keeps them as buffers):
    g = 100 * 7 * 7 * 256 + 2 * 7 * 7 * 256 + 5 * 5 * 256 * 128 + 2 * 128 + 5 * 5 * 128 * 64 + 2 * 64 + 5 * 5 * 64
    d = (5 * 5 * 64 + 64) + (5 * 5 * 64 * 128 + 128) + (7 * 7 * 128 + 1)
    assert (g, d) == (2_305_472, 212_865)
    assert _params(conv_generator(100, (1, 28, 28), 64)) == g
    assert _params(conv_discriminator((1, 28, 28), 1, 64)) == d


def _spatial_sizes(net: nn.Module, x: torch.Tensor) -> list[int]:
    sizes = []
    hooks = [m.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
             for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]  # fmt: skip
    net(x)
    for h in hooks:
        h.remove()
    return sizes


def test_carpedm20_plan_follows_pacgans_stacked_mnist_model():
    # fjxmlzn/PacGAN stacked_MNIST_experiments/VEEGAN_experiment/model.py: s_h2..s_h16 by
    # conv_out_size_same (ceil halving), linear to gf_dim*8 x s_h16 x s_w16, deconv2d 5x5 stride 2 to s_h8,
    # s_h4, s_h2, s_h (with biases), D: conv2d 5x5 stride 2 to df_dim, 2, 4, 8 x df_dim, then linear.
    w, z = 64, 100
    g = conv_generator(z, (3, 28, 28), w, arch="carpedm20")
    d = conv_discriminator((3, 28, 28), 1, w, arch="carpedm20")
    assert _spatial_sizes(g, torch.randn(2, z)) == [4, 7, 14, 28]
    assert _spatial_sizes(d, torch.randn(2, 3, 28, 28)) == [14, 7, 4, 2]
    chans = [8 * w, 4 * w, 2 * w, w, 3]
    g_count = (z * 8 * w * 4 + 8 * w * 4) + 2 * 8 * w  # linear to 2x2x8w with bias, batch norm
    g_count += sum(25 * a * b + b for a, b in itertools.pairwise(chans)) + 2 * sum(chans[1:4])
    dch = [3, w, 2 * w, 4 * w, 8 * w]
    d_count = sum(25 * a * b + b for a, b in itertools.pairwise(dch)) + 2 * sum(dch[2:]) + (8 * w * 4 + 1)
    assert _params(g) == g_count and _params(d) == d_count
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}  # ops.py lrelu(leak=0.2)
    # 32x32 halves exactly: 2, 4, 8, 16, 32
    assert _spatial_sizes(conv_generator(z, (3, 32, 32), 8, arch="carpedm20"), torch.randn(2, z)) == [4, 8, 16, 32]


def test_glorot_uniform_init_has_keras_limits_zero_biases_and_unit_batch_norm():
    m = build_model("gan", _info((1, 28, 28)), z_dim=100, width=64, init="glorot-uniform")
    for net in (m.G, m.D):
        for layer in net.modules():
            if isinstance(layer, nn.Linear):
                fan_in, fan_out = layer.in_features, layer.out_features
            elif isinstance(layer, nn.Conv2d):
                k = layer.kernel_size[0] * layer.kernel_size[1]
                fan_in, fan_out = layer.in_channels * k, layer.out_channels * k
            elif isinstance(layer, nn.ConvTranspose2d):  # Keras: kernel (kh, kw, out, in)
                k = layer.kernel_size[0] * layer.kernel_size[1]
                fan_in, fan_out = layer.out_channels * k, layer.in_channels * k
            elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                assert torch.equal(layer.weight, torch.ones_like(layer.weight))
                assert torch.equal(layer.bias, torch.zeros_like(layer.bias))
                continue
            else:
                continue
            limit = math.sqrt(6 / (fan_in + fan_out))  # keras.initializers.GlorotUniform
            w = layer.weight.detach()
            assert w.abs().max() <= limit
            if w.numel() >= 10_000:  # U(-a, a) has variance a^2 / 3
                assert w.var().item() == pytest.approx(limit**2 / 3, rel=0.05)
            if layer.bias is not None:
                assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_uniform_latents_are_two_u_minus_one():
    m = build_model("gan", _info((1, 28, 28)), z_dim=100, width=8, z_dist="uniform")
    z = m.latent(20_000, torch.Generator().manual_seed(3))
    u = torch.rand(20_000, 100, generator=torch.Generator().manual_seed(3))
    assert torch.equal(z, u * 2 - 1)
    assert z.min() >= -1 and z.max() <= 1
    assert z.var().item() == pytest.approx(1 / 3, rel=0.01)  # U[-1, 1]


@pytest.mark.parametrize("bad,match", [({"arch": "resnet"}, "arch must be one of"),
                                       ({"z_dist": "cauchy"}, "z_dist must be one of"),
                                       ({"g_steps": 0}, "g_steps must be an integer >= 1"),
                                       ({"g_latents": "same"}, "g_latents must be one of"),
                                       ({"update": "simultaneous", "g_steps": 2}, "update='simultaneous' takes")])  # fmt: skip
def test_bad_options_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        build_model("gan", _info((1, 28, 28)), width=8, **bad)


def test_arch_is_refused_on_2d_points():
    info = DatasetInfo("p", "points2d", (2,), 8, "test")
    with pytest.raises(ValueError, match="arch='carpedm20' chooses conv nets"):
        build_model("gan", info, arch="carpedm20")


def _pytorch_example_steps(G, D, opt_g, opt_d, batches, nz):
    """pytorch/examples dcgan/main.py's loop body (at 13caa07), its nn.Sigmoid + nn.BCELoss written as
    BCE on logits (the same function away from BCELoss's log clamp at -100)."""
    for real in batches:
        D.zero_grad()
        out = D(real).view(-1)
        err_real = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        err_real.backward()
        noise = torch.randn(real.shape[0], nz)
        fake = G(noise)
        out = D(fake.detach()).view(-1)
        err_fake = F.binary_cross_entropy_with_logits(out, torch.zeros_like(out))
        err_fake.backward()
        opt_d.step()
        G.zero_grad()
        out = D(fake).view(-1)
        err_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        err_g.backward()
        opt_g.step()


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def test_shared_latents_train_as_the_pytorch_example_does(float64):
    torch.manual_seed(0)
    m = build_model("gan", _info((3, 32, 32)), z_dim=16, width=8, g_latents="shared")
    ref = copy.deepcopy(m)
    batches = [torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(4)]
    torch.manual_seed(1)
    for b in batches:
        m.train_step(b)
    torch.manual_seed(1)
    _pytorch_example_steps(ref.G, ref.D, ref.opt_g, ref.opt_d, batches, 16)
    for (name, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name


def test_fresh_latents_differ_from_the_pytorch_example(float64):
    # the control: ganbench's default draws new latents for the generator step
    torch.manual_seed(0)
    m = build_model("gan", _info((3, 32, 32)), z_dim=16, width=8)
    ref = copy.deepcopy(m)
    batches = [torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(2)]
    torch.manual_seed(1)
    for b in batches:
        m.train_step(b)
    torch.manual_seed(1)
    _pytorch_example_steps(ref.G, ref.D, ref.opt_g, ref.opt_d, batches, 16)
    assert not torch.allclose(m.G[1].weight, ref.G[1].weight, rtol=0, atol=1e-6)


def test_two_generator_updates_on_the_same_latents(float64):
    """PacGAN's Stacked MNIST loop (model.py ``train``): one D update, then g_optim twice, all three fed the
    same uniform z; the first G update here reuses the D step's generated batch (same weights, same
    outputs), the second regenerates from z."""
    torch.manual_seed(0)
    m = build_model("gan", _info((3, 28, 28)), z_dim=16, width=4, arch="carpedm20", z_dist="uniform", g_steps=2,
                    g_latents="shared")  # fmt: skip
    ref = copy.deepcopy(m)
    batches = [torch.rand(6, 3, 28, 28, generator=torch.Generator().manual_seed(i)) * 2 - 1 for i in range(3)]
    torch.manual_seed(5)
    for b in batches:
        m.train_step(b)
    torch.manual_seed(5)
    G, D = ref.G, ref.D
    for real in batches:
        z = torch.rand(6, 16) * 2 - 1
        fake = G(z)
        d_real, d_fake = D(real).view(-1), D(fake.detach()).view(-1)
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))  # fmt: skip
        ref.opt_d.zero_grad()
        loss_d.backward()
        ref.opt_d.step()
        for k in range(2):
            out = D(fake if k == 0 else G(z)).view(-1)
            loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            ref.opt_g.zero_grad()
            loss_g.backward()
            ref.opt_g.step()
    for (name, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert torch.allclose(a, b, rtol=0, atol=1e-10), name

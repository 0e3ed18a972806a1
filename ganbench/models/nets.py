"""Networks. The architecture follows the dataset: MLPs for 2D points, DCGAN-style conv nets for
8x8, 28x28 and 32x32 images.

- 2D: PacGAN's sizes by default (generator 4 x 400 ReLU + batch norm; discriminator 3 maxout layers
  of 200 units with 5 pieces).
- 28x28: the layer plan of TensorFlow's DCGAN tutorial for MNIST (dense 7x7x256, transposed 5x5
  convs to 28x28; discriminator two 5x5 stride-2 convs with dropout 0.3).
- 32x32: the PyTorch DCGAN example's plan cut to 32x32 (4x4 transposed convs from 4x4 to 32x32).
- 8x8: the same pattern from 2x2.
- ``arch="carpedm20"``, any size: Taehoon Kim's DCGAN-tensorflow as PacGAN's Stacked MNIST code builds it
  (four stride-2 5x5 layers each way, 8 x width channels at a sixteenth of the side).
The discriminator returns logits (losses use ``BCEWithLogits``), never sigmoid outputs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class Maxout(nn.Module):
    """Linear layer followed by a max over ``pieces`` (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, out_features: int, pieces: int, sn: bool = False) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = _maybe_sn(nn.Linear(in_features, out_features * pieces), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        return y.view(*y.shape[:-1], -1, self.pieces).amax(-1)


def _maybe_sn(layer: nn.Module, sn: bool) -> nn.Module:
    return spectral_norm(layer) if sn else layer


def _norm2d(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


BATCH_NORMS = ("pytorch", "blocks")


class BlocksBatchNorm1d(nn.Module):
    """Batch normalisation as Blocks' ``BatchNormalization`` brick, with PacGAN's population updates.

    In training mode it is PyTorch's ``BatchNorm1d``: the batch mean and ``sqrt(biased var + eps)``.
    The difference is the population statistics used in eval mode. Blocks keeps a population standard
    deviation (initialised to 1), not a variance, and divides by it without adding ``eps`` again
    (blocks/bricks/bn.py, ``_compute_training_statistics`` and ``_prepare_population_statistics``).
    PacGAN's code moves it once per training step towards the mean of that step's batch statistics over
    the step's calls (a packing generator runs m times): ``pop = (1 - momentum) * pop + momentum * stat``
    (fjxmlzn/PacGAN, synthetic_data_experiments/2DRing_GAN&PacGAN/pacgan_task.py, lines 127-149).
    Calls accumulate their statistics here; ``update_population()`` applies them.

    Args:
        features: number of features.
        eps: added to the batch variance (Blocks' default 1e-4).
        momentum: population update rate (PacGAN's 0.05; PyTorch's meaning of momentum).
    """

    def __init__(self, features: int, eps: float = 1e-4, momentum: float = 0.05) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(features))
        self.bias = nn.Parameter(torch.zeros(features))
        self.register_buffer("population_mean", torch.zeros(features))
        self.register_buffer("population_stdev", torch.ones(features))
        self._sums: tuple[torch.Tensor, torch.Tensor] | None = None
        self._calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return (x - self.population_mean) * (self.weight / self.population_stdev) + self.bias
        mean = x.mean(0)
        stdev = ((x - mean).square().mean(0) + self.eps).sqrt()
        with torch.no_grad():
            m, s = mean.detach(), stdev.detach()
            self._sums = (m, s) if self._sums is None else (self._sums[0] + m, self._sums[1] + s)
            self._calls += 1
        return (x - mean) * (self.weight / stdev) + self.bias

    @torch.no_grad()
    def update_population(self) -> None:
        """One moving-average step towards the mean statistics of the calls since the last update."""
        if self._sums is None:
            return
        rate = self.momentum
        self.population_mean.mul_(1 - rate).add_(self._sums[0] / self._calls, alpha=rate)
        self.population_stdev.mul_(1 - rate).add_(self._sums[1] / self._calls, alpha=rate)
        self._sums, self._calls = None, 0


def update_population_statistics(module: nn.Module) -> None:
    """Apply the pending population updates of every ``BlocksBatchNorm1d`` in ``module``."""
    for m in module.modules():
        if isinstance(m, BlocksBatchNorm1d):
            m.update_population()


def mlp_generator(
    z_dim: int, out_dim: int, hidden: int = 400, layers: int = 4, hidden_bias: bool = True,
    batch_norm: str = "pytorch", bn_eps: float = 1e-5, bn_momentum: float = 0.1,
) -> nn.Module:  # fmt: skip
    """ReLU MLP with batch norm after each hidden linear layer (PacGAN's generator).

    Args:
        hidden_bias: biases in the hidden linear layers (redundant before batch norm; PacGAN's code has
            none, ``use_bias=False`` in its MLP). The output layer always has one.
        batch_norm: ``"pytorch"`` (``nn.BatchNorm1d``) or ``"blocks"`` (``BlocksBatchNorm1d``).
        bn_eps, bn_momentum: batch-norm epsilon and running-statistics rate (PyTorch's meaning:
            ``running = (1 - momentum) * running + momentum * batch``).
    """
    mods: list[nn.Module] = []
    width = z_dim
    for _ in range(layers):
        if batch_norm == "blocks":
            norm: nn.Module = BlocksBatchNorm1d(hidden, bn_eps, bn_momentum)
        else:
            norm = nn.BatchNorm1d(hidden, eps=bn_eps, momentum=bn_momentum)
        mods += [nn.Linear(width, hidden, bias=hidden_bias), norm, nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out_dim))
    return nn.Sequential(*mods)


def mlp_discriminator(
    in_dim: int, out_dim: int = 1, hidden: int = 200, layers: int = 3, pieces: int = 5, norm: str = "none"
) -> nn.Module:
    """Maxout MLP (PacGAN). ``norm="spectral"`` puts spectral norm on every linear layer."""
    sn = norm == "spectral"
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        mods.append(Maxout(width, hidden, pieces, sn))
        width = hidden
    mods.append(_maybe_sn(nn.Linear(width, out_dim), sn))
    return nn.Sequential(*mods)


def mlp_encoder(in_dim: int, out_dim: int, hidden: int = 400, layers: int = 3) -> nn.Module:
    mods: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    mods.append(nn.Linear(width, out_dim))
    return nn.Sequential(*mods)


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


ARCHS = ("auto", "carpedm20")


def _check_arch(arch: str, shape: tuple[int, int, int]) -> None:
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(map(repr, ARCHS))}; got {arch!r}")
    if arch == "carpedm20" and shape[1] != shape[2]:
        raise ValueError(f"arch 'carpedm20' needs square images; got {shape}")


def _halvings(side: int, times: int = 4) -> list[int]:
    """``side`` and its successive ceil-halvings (TensorFlow's 'SAME' stride-2 sizes): 28 -> 14, 7, 4, 2."""
    sizes = [side]
    for _ in range(times):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


def carpedm20_generator(z_dim: int, shape: tuple[int, int, int], width: int = 64) -> nn.Module:
    """Kim's DCGAN-tensorflow generator (PacGAN's Stacked MNIST code, ``model.py`` ``generator``).

    Linear to 8w channels at side/16 (ceil-halved: 2x2 for 28x28), batch norm and ReLU, then four 5x5
    stride-2 transposed convolutions (8w -> 4w -> 2w -> w -> C, batch norm and ReLU between), tanh. Every
    layer has a bias, as there. PyTorch pads symmetrically (2 on each side, ``output_padding`` giving
    TensorFlow's output sizes); TensorFlow's 'SAME' puts an odd extra row and column at the end.
    """
    c, side, _ = shape
    sizes = _halvings(side)
    chans = [8 * width, 4 * width, 2 * width, width, c]
    layers: list[nn.Module] = [nn.Linear(z_dim, chans[0] * sizes[4] ** 2), Reshape(chans[0], sizes[4], sizes[4]),
                               nn.BatchNorm2d(chans[0]), nn.ReLU(True)]  # fmt: skip
    for i in range(4):
        out = sizes[3 - i]
        pad = out - 2 * sizes[4 - i] + 1  # (in - 1) * 2 - 4 + 5 + pad = out
        layers.append(nn.ConvTranspose2d(chans[i], chans[i + 1], 5, 2, 2, output_padding=pad))
        layers += [nn.BatchNorm2d(chans[i + 1]), nn.ReLU(True)] if i < 3 else [nn.Tanh()]
    return nn.Sequential(*layers)


def carpedm20_discriminator(shape: tuple[int, int, int], out_dim: int, width: int, norm: str) -> nn.Module:
    """Kim's DCGAN-tensorflow discriminator: four 5x5 stride-2 convolutions (w, 2w, 4w, 8w) with biases,
    LeakyReLU(0.2), batch norm on all but the first (``norm="batch"``), then a linear layer to logits."""
    c, side, _ = shape
    sn = norm == "spectral"
    bn = "batch" if norm == "batch" else "none"
    chans = [c, width, 2 * width, 4 * width, 8 * width]
    layers: list[nn.Module] = []
    for i in range(4):
        layers.append(_maybe_sn(nn.Conv2d(chans[i], chans[i + 1], 5, 2, 2), sn))
        if i > 0:
            layers.append(_norm2d(bn, chans[i + 1]))
        layers.append(nn.LeakyReLU(0.2, True))
    s4 = _halvings(side)[4]
    layers += [nn.Flatten(), _maybe_sn(nn.Linear(chans[4] * s4 * s4, out_dim), sn)]
    return nn.Sequential(*layers)


def conv_generator(z_dim: int, shape: tuple[int, int, int], width: int = 64, arch: str = "auto") -> nn.Module:
    """DCGAN-style generator for ``shape`` = (C, H, W): by size (``arch="auto"``, H = W in {8, 28, 32}) or
    ``arch="carpedm20"`` (any square size); tanh output."""
    _check_arch(arch, shape)
    if arch == "carpedm20":
        return carpedm20_generator(z_dim, shape, width)
    c, h, _ = shape
    if h == 28:  # TensorFlow MNIST DCGAN tutorial
        w4 = 4 * width
        return nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * w4, bias=False), nn.BatchNorm1d(7 * 7 * w4), nn.LeakyReLU(0.3),
            Reshape(w4, 7, 7),
            nn.ConvTranspose2d(w4, 2 * width, 5, 1, 2, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(2 * width, width, 5, 2, 2, output_padding=1, bias=False),
            nn.BatchNorm2d(width), nn.LeakyReLU(0.3),
            nn.ConvTranspose2d(width, c, 5, 2, 2, output_padding=1, bias=False), nn.Tanh(),
        )  # fmt: skip
    if h == 32:  # PyTorch DCGAN example, 4x4 -> 32x32
        return nn.Sequential(
            Reshape(z_dim, 1, 1),
            nn.ConvTranspose2d(z_dim, 4 * width, 4, 1, 0, bias=False), nn.BatchNorm2d(4 * width), nn.ReLU(True),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, c, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip
    if h == 8:
        w2 = 2 * width
        return nn.Sequential(
            nn.Linear(z_dim, w2 * 2 * 2), nn.BatchNorm1d(w2 * 4), nn.ReLU(True), Reshape(w2, 2, 2),
            nn.ConvTranspose2d(w2, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip
    raise ValueError(f"no conv architecture for image shape {shape}: supported sizes are 8x8, 28x28 and 32x32")


def conv_discriminator(
    shape: tuple[int, int, int], out_dim: int = 1, width: int = 64, norm: str = "batch", arch: str = "auto"
) -> nn.Module:
    """DCGAN-style discriminator (or encoder) returning ``out_dim`` logits.

    Args:
        norm: ``"batch"`` (DCGAN), ``"none"`` (WGAN-GP critic, encoders) or ``"spectral"``.
        arch: ``"auto"`` (the plan of the image size) or ``"carpedm20"`` (see ``carpedm20_discriminator``).
    """
    _check_arch(arch, shape)
    if arch == "carpedm20":
        return carpedm20_discriminator(shape, out_dim, width, norm)
    c, h, _ = shape
    sn = norm == "spectral"
    bn = "batch" if norm == "batch" else "none"

    def conv(*a, **k):
        return _maybe_sn(nn.Conv2d(*a, **k), sn)

    if h == 28:  # TensorFlow MNIST DCGAN tutorial
        return nn.Sequential(
            conv(c, width, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
            conv(width, 2 * width, 5, 2, 2), nn.LeakyReLU(0.3), nn.Dropout(0.3),
            nn.Flatten(), _maybe_sn(nn.Linear(7 * 7 * 2 * width, out_dim), sn),
        )  # fmt: skip
    if h == 32:  # PyTorch DCGAN example, 32x32 -> 4x4
        return nn.Sequential(
            conv(c, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
            conv(width, 2 * width, 4, 2, 1, bias=False), _norm2d(bn, 2 * width), nn.LeakyReLU(0.2, True),
            conv(2 * width, 4 * width, 4, 2, 1, bias=False), _norm2d(bn, 4 * width), nn.LeakyReLU(0.2, True),
            conv(4 * width, out_dim, 4, 1, 0, bias=False), nn.Flatten(),
        )  # fmt: skip
    if h == 8:
        return nn.Sequential(
            conv(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            conv(width, 2 * width, 4, 2, 1), _norm2d(bn, 2 * width), nn.LeakyReLU(0.2, True),
            nn.Flatten(), _maybe_sn(nn.Linear(2 * width * 2 * 2, out_dim), sn),
        )  # fmt: skip
    raise ValueError(f"no conv architecture for image shape {shape}: supported sizes are 8x8, 28x28 and 32x32")


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight init: N(0, 0.02) for convs, N(1, 0.02) for batch-norm scales."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            # a spectral-normed layer keeps its raw weight under parametrizations
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            with torch.no_grad():
                weight.normal_(0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


INITS = ("default", "normal-0.02", "glorot-uniform")


def normal_init(module: nn.Module, std: float = 0.02) -> None:
    """Weights N(0, std) and zero biases in every linear and conv layer; batch norm is left as built.

    PacGAN's 2D code initialises both networks so (``IsotropicGaussian(0.02)``, ``Constant(0.0)``);
    with PyTorch's default (Kaiming-uniform) init its pacgan3 stays near 1% high-quality samples.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            # a spectral-normed layer keeps its raw weight under parametrizations
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            with torch.no_grad():
                weight.normal_(0.0, std)
                if m.bias is not None:
                    m.bias.zero_()


def glorot_init(module: nn.Module) -> None:
    """Keras's default init: every linear and conv weight Glorot-uniform, biases 0, batch norm scale 1 and
    shift 0 (TensorFlow's DCGAN tutorial builds its layers with these defaults).

    ``xavier_uniform_`` draws from U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) and receptive fields
    counted in both fans, Keras's ``GlorotUniform`` limit; the sum is the same whichever axis a layer
    stores as its input, so transposed convolutions agree too.
    """
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            with torch.no_grad():
                nn.init.xavier_uniform_(weight)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

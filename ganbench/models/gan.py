"""GAN objectives behind one class: non-saturating (``gan``), ``wgan-gp``, ``lsgan``,
``hinge-sn`` (hinge loss, spectral norm in the discriminator) and ``pacgan`` (packing)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data.base import DatasetInfo
from ganbench.models import nets
from ganbench.models.base import Z_DISTS, GenerativeModel, sample_in_eval_mode
from ganbench.models.recipes import ModelRecipe, register_recipe

OBJECTIVES = ("gan", "wgan-gp", "lsgan", "hinge-sn", "pacgan")
UPDATES = ("alternating", "simultaneous")
PACK_GENERATOR_CALLS = ("single", "per-pack")
G_LATENTS = ("fresh", "shared")


class GAN(GenerativeModel):
    """A generator, a discriminator, two Adam optimizers and an objective.

    Args:
        info: the dataset (its kind and shape choose the architecture).
        objective: one of ``OBJECTIVES``.
        z_dim: latent size (standard normal latents).
        lr_g, lr_d, betas: Adam settings for generator and discriminator.
        d_steps: discriminator updates per generator update, each on its own real batch.
        gp_weight: gradient-penalty weight (``wgan-gp``).
        pack: PacGAN packing degree m (``pacgan``): the discriminator sees m samples at once. A real pack
            is m consecutive rows of the step's m batches: m distinct points of the epoch's shuffle. PacGAN's
            code packs m independent resamples with replacement (datasets.py:73-75); both are m uniform
            draws from the training set but for collisions (probability 1/N per pair): the same distribution.
        g_hidden, g_layers, d_hidden, d_layers, maxout_pieces: MLP sizes (2D data).
        width: base channel count of the conv nets (images).
        d_norm: discriminator normalisation, ``"auto"`` picks batch norm for gan/lsgan/pacgan on images,
            none for wgan-gp and 2D maxout nets, spectral for hinge-sn.
        init: ``"default"`` (PyTorch's layer init; DCGAN's conv init on images) or ``"normal-0.02"``
            (every linear/conv weight N(0, 0.02) and zero biases in both networks, PacGAN's 2D code).
        update: ``"alternating"``: ``d_steps`` discriminator steps, then a generator step on fresh
            latents through the updated discriminator. ``"simultaneous"`` (ALI's ``ali_algorithm``,
            used by PacGAN's 2D code): both networks' gradients from one forward pass at the current
            weights, then both Adam steps; needs ``d_steps=1``.
        pack_generator_calls: ``"single"``: one generator call on m x batch latents, so batch norm sees
            m x batch samples; ``"per-pack"``: m calls on batch latents each, the i-th sample of every
            pack from the i-th call, so batch-norm statistics are over batch samples (PacGAN's code).
        batch_norm: the 2D generator's batch norm, ``"pytorch"`` or ``"blocks"`` (population mean and
            standard deviation updated once per step, see ``nets.BlocksBatchNorm1d``).
        bn_eps, bn_momentum: epsilon and running-statistics rate of every batch-norm layer (PyTorch's
            meaning of momentum; PacGAN's code: 1e-4 and 0.05).
        g_hidden_bias: biases in the 2D generator's hidden linear layers (PacGAN's code has none).
        bn_refresh_every, bn_refresh_batches: every ``bn_refresh_every`` steps (0: never), run the
            generator on ``bn_refresh_batches`` batches of fresh latents without gradients, updating the
            batch-norm population statistics after each. PacGAN's code does so before every epoch's
            evaluation: its training-set monitor (``DataStreamMonitoring`` with the batch-norm updates)
            runs 50 batches first (pacgan_task.py:178-180, streams.py:33), so 1,000 and 50.
        arch: the conv nets' plan on images: ``"auto"`` (by image size, see ``nets``) or ``"carpedm20"``
            (Kim's DCGAN-tensorflow, which PacGAN's Stacked MNIST code trains).
        z_dist: latent distribution, ``"normal"`` (N(0, I)) or ``"uniform"`` (U[-1, 1], DCGAN-tensorflow's).
        g_steps: generator updates per step, after the discriminator's (PacGAN's Stacked MNIST code runs
            two: "to make sure that d_loss does not go to zero").
        g_latents: ``"fresh"``: each generator update draws new latents; ``"shared"``: the generator
            updates use the latents of the step's last discriminator update, the first one its very
            generated batch (the PyTorch DCGAN example back-propagates the discriminator step's ``fake``
            into the generator; PacGAN's code feeds the same z to every update of a step).
    """

    def __init__(
        self,
        info: DatasetInfo,
        objective: str = "gan",
        z_dim: int = 64,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        d_steps: int = 1,
        gp_weight: float = 10.0,
        pack: int = 1,
        g_hidden: int = 400,
        g_layers: int = 4,
        d_hidden: int = 200,
        d_layers: int = 3,
        maxout_pieces: int = 5,
        width: int = 64,
        d_norm: str = "auto",
        init: str = "default",
        update: str = "alternating",
        pack_generator_calls: str = "single",
        batch_norm: str = "pytorch",
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
        g_hidden_bias: bool = True,
        bn_refresh_every: int = 0,
        bn_refresh_batches: int = 50,
        arch: str = "auto",
        z_dist: str = "normal",
        g_steps: int = 1,
        g_latents: str = "fresh",
    ) -> None:
        super().__init__()
        _check_options(info, d_steps, init, update, pack_generator_calls, batch_norm, bn_eps, bn_momentum,
                       g_hidden_bias)  # fmt: skip
        _check_image_options(info, arch, z_dist, g_steps, g_latents, update)
        self.z_dist, self.g_steps, self.g_latents = z_dist, g_steps, g_latents
        if bn_refresh_every < 0 or bn_refresh_batches < 1:
            raise ValueError(f"bn_refresh_every must be >= 0 and bn_refresh_batches >= 1; got {bn_refresh_every} "
                             f"and {bn_refresh_batches}")  # fmt: skip
        self.update, self.pack_generator_calls, self.batch_norm = update, pack_generator_calls, batch_norm
        self.bn_refresh_every, self.bn_refresh_batches = bn_refresh_every, bn_refresh_batches
        if bn_refresh_every:  # a buffer only then: other models' checkpoints keep their keys
            self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
        if objective != "pacgan" and pack != 1:
            raise ValueError(f"pack={pack} needs objective 'pacgan'; got objective {objective!r}")
        if d_steps < 1 or pack < 1:
            raise ValueError(f"d_steps and pack must be >= 1; got d_steps={d_steps}, pack={pack}")
        self.objective, self.z_dim, self.d_steps, self.pack = objective, z_dim, d_steps, pack
        self.gp_weight = gp_weight
        self.batches_per_step = d_steps * pack
        self.shape = tuple(info.shape)
        norm = _default_norm(objective, info.kind) if d_norm == "auto" else d_norm
        if info.kind == "points2d":
            self.G = nets.mlp_generator(z_dim, info.shape[0], g_hidden, g_layers, g_hidden_bias, batch_norm,
                                        bn_eps, bn_momentum)  # fmt: skip
            self.D = nets.mlp_discriminator(info.shape[0] * pack, 1, d_hidden, d_layers, maxout_pieces, norm)
        else:
            c, h, w = info.shape
            self.G = nets.conv_generator(z_dim, info.shape, width, arch)
            self.D = nets.conv_discriminator((c * pack, h, w), 1, width, norm, arch)
            nets.dcgan_init(self)
            for m in self.modules():
                if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    m.eps, m.momentum = bn_eps, bn_momentum
        if init == "normal-0.02":
            nets.normal_init(self.G, 0.02)
            nets.normal_init(self.D, 0.02)
        elif init == "glorot-uniform":
            nets.glorot_init(self.G)
            nets.glorot_init(self.D)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr_g, betas=tuple(betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d, betas=tuple(betas))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        """Concatenate groups of ``pack`` samples along features/channels (PacGAN)."""
        if self.pack == 1:
            return x
        n = x.shape[0] // self.pack
        return x[: n * self.pack].reshape(n, self.pack * x.shape[1], *x.shape[2:])

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self._pack(x)).view(-1)

    def _generate(self, n: int, device: torch.device) -> torch.Tensor:
        """``n`` training samples (the fakes of one step) from fresh latents."""
        return self._generate_from(self.latent(n, device=device))

    def _generate_from(self, z: torch.Tensor) -> torch.Tensor:
        """The generator on latents ``z``, in one call or one per pack slot."""
        if self.pack_generator_calls == "single" or self.pack == 1:
            return self.G(z)
        n = z.shape[0]
        if n % self.pack:
            raise ValueError(f"pack_generator_calls='per-pack' needs a batch divisible by pack={self.pack}; got {n}")
        parts = [self.G(zi) for zi in z.chunk(self.pack)]
        # row j * pack + i is sample j of call i, so _pack puts one sample of each call in every pack
        return torch.stack(parts, 1).reshape(n, *parts[0].shape[1:])

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        losses = self._simultaneous_step(batch) if self.update == "simultaneous" else self._alternating_step(batch)
        if self.batch_norm == "blocks":
            nets.update_population_statistics(self.G)
        if self.bn_refresh_every:
            self.steps_done += 1
            if self.steps_done % self.bn_refresh_every == 0:
                self._refresh_population_statistics(batch.shape[0] // self.d_steps, batch.device)
        return losses

    @torch.no_grad()
    def _refresh_population_statistics(self, n: int, device: torch.device) -> None:
        for _ in range(self.bn_refresh_batches):
            self._generate(n, device)
            nets.update_population_statistics(self.G)  # a no-op for PyTorch's, which update in forward

    def _alternating_step(self, batch: torch.Tensor) -> dict[str, float]:
        reals = batch.chunk(self.d_steps) if self.d_steps > 1 else (batch,)  # a view costs ~0.7% of a step
        shared = self.g_latents == "shared"
        for real in reals:
            z = self.latent(real.shape[0], device=real.device)
            generated = self._generate_from(z)
            fake = generated.detach()
            if not shared:  # a shared G step back-propagates through this batch's graph: keep it only then
                generated = None
            loss_d = self._d_loss(real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        for k in range(self.g_steps):
            if shared:
                fake = generated if k == 0 else self._generate_from(z)
            else:
                fake = self._generate(reals[-1].shape[0], batch.device)
            loss_g = self._g_loss(self._d(fake))
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def _simultaneous_step(self, real: torch.Tensor) -> dict[str, float]:
        """Both losses from one forward pass; each network's gradient of its own loss, then both steps."""
        fake = self._generate(real.shape[0], real.device)
        d_real, d_fake = self._d(real), self._d(fake)
        loss_d = self._d_objective(d_real, d_fake, real, fake.detach())
        loss_g = self._g_loss(d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_d.backward(inputs=list(self.D.parameters()), retain_graph=True)
        loss_g.backward(inputs=list(self.G.parameters()))
        self.opt_d.step()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return self._d_objective(self._d(real), self._d(fake), real, fake)

    def _d_objective(self, d_real: torch.Tensor, d_fake: torch.Tensor, real: torch.Tensor,
                     fake: torch.Tensor) -> torch.Tensor:  # fmt: skip
        if self.objective in ("gan", "pacgan"):
            return F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + (
                F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
            )
        if self.objective == "lsgan":
            return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake**2).mean()
        if self.objective == "hinge-sn":
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        return d_fake.mean() - d_real.mean() + self.gp_weight * self._gradient_penalty(real, fake)

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        if self.objective in ("gan", "pacgan"):  # non-saturating: maximise log D(G(z))
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        if self.objective == "lsgan":
            return 0.5 * ((d_fake - 1) ** 2).mean()
        return -d_fake.mean()

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Gulrajani et al. 2017: (||grad D(x_hat)|| - 1)^2 on random interpolates."""
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(x_hat).sum(), x_hat, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_in_eval_mode(self, lambda: self.G(self.latent(n, generator)))


def _check_options(info: DatasetInfo, d_steps: int, init: str, update: str, pack_generator_calls: str,
                   batch_norm: str, bn_eps: float, bn_momentum: float, g_hidden_bias: bool) -> None:  # fmt: skip
    """Validate the options that reproduce PacGAN's released 2D code (see ``GAN``)."""
    _check_choice("init", init, nets.INITS)
    _check_choice("update", update, UPDATES)
    _check_choice("pack_generator_calls", pack_generator_calls, PACK_GENERATOR_CALLS)
    _check_choice("batch_norm", batch_norm, nets.BATCH_NORMS)
    if update == "simultaneous" and d_steps != 1:
        raise ValueError(f"update='simultaneous' takes one step per network; got d_steps={d_steps}: "
                         "set d_steps = 1 or update = 'alternating'")  # fmt: skip
    if not 0 < bn_eps < 1 or not 0 < bn_momentum <= 1:
        raise ValueError(f"bn_eps must be in (0, 1) and bn_momentum in (0, 1]; got bn_eps={bn_eps}, "
                         f"bn_momentum={bn_momentum}")  # fmt: skip
    if not isinstance(g_hidden_bias, bool):
        raise ValueError(f"g_hidden_bias must be true or false; got {g_hidden_bias!r}")
    if info.kind != "points2d" and (batch_norm != "pytorch" or not g_hidden_bias):
        raise ValueError(f"batch_norm={batch_norm!r} and g_hidden_bias={g_hidden_bias} apply to the 2D MLP "
                         f"generator; {info.name} is {info.kind}: leave them at 'pytorch' and true")  # fmt: skip


def _check_image_options(info: DatasetInfo, arch: str, z_dist: str, g_steps: int, g_latents: str,
                         update: str) -> None:  # fmt: skip
    """Validate the options that reproduce the classic DCGAN codes (see ``GAN``)."""
    _check_choice("arch", arch, nets.ARCHS)
    _check_choice("z_dist", z_dist, Z_DISTS)
    _check_choice("g_latents", g_latents, G_LATENTS)
    if isinstance(g_steps, bool) or not isinstance(g_steps, int) or g_steps < 1:
        raise ValueError(f"g_steps must be an integer >= 1; got {g_steps!r}")
    if update == "simultaneous" and (g_steps != 1 or g_latents != "fresh"):
        raise ValueError(f"update='simultaneous' takes both losses from one batch; got g_steps={g_steps}, "
                         f"g_latents={g_latents!r}: leave them at 1 and 'fresh'")  # fmt: skip
    if info.kind != "image" and arch != "auto":
        raise ValueError(f"arch={arch!r} chooses conv nets; {info.name} is {info.kind}: leave it at 'auto'")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _default_norm(objective: str, kind: str) -> str:
    if objective == "hinge-sn":
        return "spectral"
    if objective == "wgan-gp" or kind == "points2d":
        return "none"
    return "batch"


# PacGAN's 2D protocol: z 2-D N(0, 1), Adam lr 1e-4, beta1 0.8. DCGAN's for images: lr 2e-4, beta1 0.5.
_GAN_2D = {"z_dim": 2, "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.8, 0.999)}
_GAN_IMG = {"z_dim": 64, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999)}
# Gulrajani et al.: 5 critic steps, lambda 10, Adam(1e-4, 0.5, 0.9).
_WGAN = {"d_steps": 5, "gp_weight": 10.0, "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9)}

register_recipe(ModelRecipe("gan", "gan", GAN, {"objective": "gan"}, {"points2d": _GAN_2D, "image": _GAN_IMG},
                            "non-saturating GAN (BCE on logits, DCGAN)"))  # fmt: skip
register_recipe(ModelRecipe("wgan-gp", "gan", GAN, {"objective": "wgan-gp"},
                            {"points2d": {**_GAN_2D, **_WGAN}, "image": {**_GAN_IMG, **_WGAN}},
                            "Wasserstein GAN with gradient penalty (Gulrajani et al. 2017)"))  # fmt: skip
register_recipe(ModelRecipe("lsgan", "gan", GAN, {"objective": "lsgan"}, {"points2d": _GAN_2D, "image": _GAN_IMG},
                            "least-squares GAN (Mao et al. 2017)"))  # fmt: skip
register_recipe(ModelRecipe("hinge-sn", "gan", GAN, {"objective": "hinge-sn"},
                            {"points2d": _GAN_2D, "image": _GAN_IMG},
                            "hinge loss with spectral norm in the discriminator (Miyato et al. 2018)"))  # fmt: skip
register_recipe(ModelRecipe("pacgan", "gan", GAN, {"objective": "pacgan"},
                            {"points2d": {**_GAN_2D, "pack": 2}, "image": {**_GAN_IMG, "pack": 2}},
                            "PacGAN: non-saturating GAN whose discriminator sees m packed samples (default m=2)"))  # fmt: skip

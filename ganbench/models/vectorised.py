"""Seed-vectorised reference models: S seeds of ``gan``, ``wgan-gp``, ``lsgan``, ``hinge-sn``, ``pacgan``,
``vae`` or ``ae`` trained as one model with a leading seed dimension.

``vectorise(models, generators)`` takes the S serial models, each built from its own seed exactly as a
serial run builds it, and the S generators that stand in for torch's global generator of each serial run
(their states right after building). Its ``train_step`` on a ``[S, N, ...]`` batch is, per seed, the
serial ``train_step`` on that seed's ``[N, ...]`` batch: the same operations in the same order (each
network call, batch-norm update and power iteration), every random draw made from the seed's own generator
in the serial shape, each seed's loss reduced over its own batch. The loss that is differentiated is the
sum of the seeds' losses, so each seed's parameters get exactly their own gradient, and Adam, element-wise,
updates each seed as alone. What differs is rounding (batched kernels sum in another order), so runs agree
to float32 rounding for tens of steps and then drift apart as chaotic training does.

``unstack(models)`` writes the state (weights, buffers, optimizer states) back into the serial models, which
then checkpoint, sample and score as in a serial run. A model with no vectorised form raises
``NotVectorisable``; the caller trains it serially.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.models.autoencoders import VAE, Autoencoder
from ganbench.models.base import GenerativeModel
from ganbench.models.gan import GAN
from ganbench.models.stacked import (
    NotVectorisable,
    SeedRandom,
    StackedBlocksBatchNorm1d,
    StackedDropout,
    parameter_names,
    select_seeds,
    stack_modules,
    unstack_into,
)

__all__ = ["NotVectorisable", "SeedRandom", "VectorisedModel", "vectorisable", "vectorise"]


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.detach() for t in tensors]).clone()


def _stacked_adam(serial: list[torch.optim.Optimizer], pairs, models) -> torch.optim.Optimizer:
    """One Adam over the stacked parameters with the serial optimizers' settings and stacked states."""
    if any(type(o) is not torch.optim.Adam or len(o.param_groups) != 1 for o in serial):
        raise NotVectorisable("only models with one single-group torch.optim.Adam per optimizer are vectorised")
    hyper = {k: v for k, v in serial[0].param_groups[0].items() if k != "params"}
    if any(repr({k: v for k, v in o.param_groups[0].items() if k != "params"}) != repr(hyper) for o in serial):
        raise NotVectorisable("the seeds' optimizers differ in their settings")
    if hyper.get("fused") or hyper.get("capturable") or hyper.get("differentiable"):
        raise NotVectorisable("fused, capturable or differentiable Adam")
    opt = torch.optim.Adam([p for p, _ in pairs], lr=hyper["lr"])
    opt.param_groups[0].update(hyper)
    params = [dict(m.named_parameters()) for m in models]
    for p, name in pairs:
        states = [o.state.get(ps[name]) for o, ps in zip(serial, params)]
        if all(not st for st in states):
            continue
        if any(not st for st in states) or len({float(st["step"]) for st in states}) > 1:
            raise NotVectorisable("the seeds' optimizers are at different steps")
        opt.state[p] = {k: (v.clone() if k == "step" else _stack([st[k] for st in states])) for k, v in states[0].items()}
    return opt


def _unstack_adam(opt: torch.optim.Optimizer, pairs, serial: list[torch.optim.Optimizer], models) -> None:
    # The learning rate a schedule has set (and the configured rate it keeps), as the serial run's group holds it.
    for o in serial:
        o.param_groups[0].update({k: v for k, v in opt.param_groups[0].items() if k in ("lr", "initial_lr")})
    params = [dict(m.named_parameters()) for m in models]
    for p, name in pairs:
        st = opt.state.get(p)
        if not st:
            continue
        for s, (o, ps) in enumerate(zip(serial, params)):
            o.state[ps[name]] = {k: (v.clone() if k == "step" else v[s].clone()) for k, v in st.items()}


class VectorisedModel(nn.Module):
    """S serial models as one. Subclasses set ``NETS`` (the networks' attribute names) and build
    ``self.opts``: optimizer name -> (stacked optimizer, parameter pairs), then implement ``train_step``."""

    NETS: tuple[str, ...] = ()
    SERIAL: type = GenerativeModel

    def __init__(self, models: list[GenerativeModel], rng: SeedRandom) -> None:
        super().__init__()
        if any(type(m) is not self.SERIAL for m in models):
            raise NotVectorisable(f"{type(self).__name__} stacks {self.SERIAL.__name__} models only")
        self.rng, self.seeds = rng, len(models)
        for name in self.NETS:
            self.add_module(name, stack_modules([getattr(m, name) for m in models]))
            for mod in getattr(self, name).modules():
                if isinstance(mod, StackedDropout):
                    mod.rng = rng
        self.opts: dict[str, tuple[torch.optim.Optimizer, list]] = {}

    def _pairs(self, *names: str) -> list[tuple[nn.Parameter, str]]:
        """Each stacked parameter of the networks ``names`` with its name in a serial model."""
        return [(p, f"{n}.{serial}") for n in names for p, serial in parameter_names(getattr(self, n))]

    def _add_optimizer(self, key: str, pairs: list, models) -> None:
        self.opts[key] = (_stacked_adam([m.optimizers()[key] for m in models], pairs, models), pairs)

    def unstack(self, models: list[GenerativeModel]) -> None:
        """Write seed s's weights, buffers and optimizer states into ``models[s]``."""
        if len(models) != self.seeds:
            raise ValueError(f"{self.seeds} seeds in the stack, {len(models)} models given")
        for name in self.NETS:
            unstack_into(getattr(self, name), [getattr(m, name) for m in models])
        self._unstack_extra(models)
        for key, (opt, pairs) in self.opts.items():
            _unstack_adam(opt, pairs, [m.optimizers()[key] for m in models], models)

    def _unstack_extra(self, models) -> None:
        pass

    def select(self, keep: list[int]) -> None:
        """Keep only the seeds at positions ``keep`` (a diverged seed leaves the stack)."""
        for name in self.NETS:
            select_seeds(getattr(self, name), keep)
        self._select_extra(keep)
        for opt, _ in self.opts.values():
            for st in opt.state.values():
                for k in list(st):
                    if k != "step":
                        st[k] = st[k][keep]
        self.rng.select(keep)
        self.seeds = len(keep)

    def _select_extra(self, keep: list[int]) -> None:
        pass

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every seed on ``batch`` ``[S, N, ...]``; named losses, each a ``[S]`` tensor."""
        raise NotImplementedError


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Per-seed mean binary cross-entropy with logits of ``[S, N]`` against a constant target."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(1)


class VectorisedGAN(VectorisedModel):
    """``GAN`` (every objective and option) with a leading seed dimension; mirrors ``GAN.train_step``."""

    NETS = ("G", "D")
    SERIAL = GAN

    def __init__(self, models: list[GAN], rng: SeedRandom) -> None:
        super().__init__(models, rng)
        m = models[0]
        for attr in ("objective", "z_dim", "d_steps", "pack", "gp_weight", "update", "pack_generator_calls",
                     "batch_norm", "bn_refresh_every", "bn_refresh_batches", "shape", "z_dist", "g_steps",
                     "g_latents"):  # fmt: skip
            if len({repr(getattr(x, attr)) for x in models}) > 1:
                raise NotVectorisable(f"the seeds' models differ in {attr}")
            setattr(self, attr, getattr(m, attr))
        if self.bn_refresh_every:
            if len({int(x.steps_done) for x in models}) > 1:
                raise NotVectorisable("the seeds' models are at different steps")
            self.register_buffer("steps_done", m.steps_done.detach().clone())
        self._add_optimizer("g", self._pairs("G"), models)
        self._add_optimizer("d", self._pairs("D"), models)
        self.opt_g, self.opt_d = self.opts["g"][0], self.opts["d"][0]

    def _unstack_extra(self, models) -> None:
        if self.bn_refresh_every:
            for x in models:
                x.steps_done.copy_(self.steps_done)

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        if self.pack == 1:
            return x
        n = x.shape[1] // self.pack
        return x[:, : n * self.pack].reshape(x.shape[0], n, self.pack * x.shape[2], *x.shape[3:])

    def _d(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(self._pack(x)).reshape(x.shape[0], -1)

    def _latent(self, n: int) -> torch.Tensor:
        """Each seed's latents as ``GenerativeModel.latent`` draws them serially."""
        if self.z_dist == "uniform":
            return self.rng.rand(n, self.z_dim) * 2 - 1
        return self.rng.randn(n, self.z_dim)

    def _generate(self, n: int) -> torch.Tensor:
        return self._generate_from(self._latent(n))

    def _generate_from(self, z: torch.Tensor) -> torch.Tensor:  # z: [S, n, z_dim]
        if self.pack_generator_calls == "single" or self.pack == 1:
            return self.G(z)
        n = z.shape[1]
        if n % self.pack:
            raise ValueError(f"pack_generator_calls='per-pack' needs a batch divisible by pack={self.pack}; got {n}")
        parts = [self.G(zi) for zi in z.chunk(self.pack, dim=1)]
        return torch.stack(parts, 2).reshape(parts[0].shape[0], n, *parts[0].shape[2:])

    def _update_population(self) -> None:
        for mod in self.G.modules():
            if isinstance(mod, StackedBlocksBatchNorm1d):
                mod.update_population()

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        losses = self._simultaneous_step(batch) if self.update == "simultaneous" else self._alternating_step(batch)
        if self.batch_norm == "blocks":
            self._update_population()
        if self.bn_refresh_every:
            self.steps_done += 1
            if self.steps_done % self.bn_refresh_every == 0:
                with torch.no_grad():
                    for _ in range(self.bn_refresh_batches):
                        self._generate(batch.shape[1] // self.d_steps)
                        self._update_population()
        return losses

    def _alternating_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        reals = batch.chunk(self.d_steps, dim=1) if self.d_steps > 1 else (batch,)
        shared = self.g_latents == "shared"
        for real in reals:
            z = self._latent(real.shape[1])
            generated = self._generate_from(z)
            fake = generated.detach()
            if not shared:
                generated = None
            loss_d = self._d_objective(self._d(real), self._d(fake), real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.sum().backward()
            self.opt_d.step()
        for k in range(self.g_steps):
            if shared:
                fake = generated if k == 0 else self._generate_from(z)
            else:
                fake = self._generate(reals[-1].shape[1])
            loss_g = self._g_loss(self._d(fake))
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.sum().backward()
            self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def _simultaneous_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        fake = self._generate(real.shape[1])
        d_real, d_fake = self._d(real), self._d(fake)
        loss_d = self._d_objective(d_real, d_fake, real, fake.detach())
        loss_g = self._g_loss(d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        loss_d.sum().backward(inputs=list(self.D.parameters()), retain_graph=True)
        loss_g.sum().backward(inputs=list(self.G.parameters()))
        self.opt_d.step()
        self.opt_g.step()
        return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach()}

    def _d_objective(self, d_real, d_fake, real, fake) -> torch.Tensor:
        if self.objective in ("gan", "pacgan"):
            return _bce(d_real, 1.0) + _bce(d_fake, 0.0)
        if self.objective == "lsgan":
            return 0.5 * ((d_real - 1) ** 2).mean(1) + 0.5 * (d_fake**2).mean(1)
        if self.objective == "hinge-sn":
            return F.relu(1 - d_real).mean(1) + F.relu(1 + d_fake).mean(1)
        return d_fake.mean(1) - d_real.mean(1) + self.gp_weight * self._gradient_penalty(real, fake)

    def _g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        if self.objective in ("gan", "pacgan"):
            return _bce(d_fake, 1.0)
        if self.objective == "lsgan":
            return 0.5 * ((d_fake - 1) ** 2).mean(1)
        return -d_fake.mean(1)

    def _gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = self.rng.rand(real.shape[1], *([1] * (real.dim() - 2)))
        x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self._d(x_hat).sum(), x_hat, create_graph=True)
        return ((grad.flatten(2).norm(dim=2) - 1) ** 2).mean(1)


class VectorisedVAE(VectorisedModel):
    """``VAE`` with a leading seed dimension; mirrors ``VAE.train_step``."""

    NETS = ("enc", "dec")
    SERIAL = VAE

    def __init__(self, models: list[VAE], rng: SeedRandom) -> None:
        super().__init__(models, rng)
        self.z_dim = models[0].z_dim
        self.log_sd = nn.Parameter(_stack([m.log_sd for m in models]))
        self._add_optimizer("vae", self._pairs("enc", "dec") + [(self.log_sd, "log_sd")], models)

    def _unstack_extra(self, models) -> None:
        with torch.no_grad():
            for s, m in enumerate(models):
                m.log_sd.copy_(self.log_sd[s])

    def _select_extra(self, keep: list[int]) -> None:
        self.log_sd.data = self.log_sd.data[keep]

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.enc(batch).chunk(2, dim=2)
        z = mu + self.rng.randn(*mu.shape[1:]) * (0.5 * logvar).exp()
        recon = self.dec(z)
        d = batch[0, 0].numel()
        log_sd = self.log_sd.unsqueeze(1)
        sq = (recon - batch).flatten(2).pow(2).sum(2)
        nll = 0.5 * sq * torch.exp(-2 * log_sd) + d * log_sd + 0.5 * d * math.log(2 * math.pi)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(2)
        loss = (nll + kl).mean(1)
        opt = self.opts["vae"][0]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        return {"loss": loss.detach(), "nll": nll.detach().mean(1), "kl": kl.detach().mean(1)}


class VectorisedAE(VectorisedModel):
    """``Autoencoder`` with a leading seed dimension; mirrors ``Autoencoder.train_step``."""

    NETS = ("enc", "dec")
    SERIAL = Autoencoder

    def __init__(self, models: list[Autoencoder], rng: SeedRandom) -> None:
        super().__init__(models, rng)
        self.z_dim, self.ema = models[0].z_dim, models[0].ema
        self.register_buffer("code_mean", _stack([m.code_mean for m in models]))
        self.register_buffer("code_cov", _stack([m.code_cov for m in models]))
        self._add_optimizer("ae", self._pairs("enc", "dec"), models)

    def _unstack_extra(self, models) -> None:
        for s, m in enumerate(models):
            m.code_mean.copy_(self.code_mean[s])
            m.code_cov.copy_(self.code_cov[s])

    def _select_extra(self, keep: list[int]) -> None:
        self.code_mean, self.code_cov = self.code_mean[keep], self.code_cov[keep]

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        codes = self.enc(batch)
        loss = (self.dec(codes) - batch).pow(2).flatten(1).mean(1)
        opt = self.opts["ae"][0]
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad(), torch.autocast(batch.device.type, enabled=False):
            c = codes.detach().to(self.code_mean.dtype)
            self.code_mean.lerp_(c.mean(1), self.ema)
            cov = torch.stack([torch.cov(cs.T).reshape(self.z_dim, self.z_dim) for cs in c])
            self.code_cov.lerp_(cov, self.ema)
        return {"loss": loss.detach()}


_VECTORISED = {GAN: VectorisedGAN, VAE: VectorisedVAE, Autoencoder: VectorisedAE}


def vectorisable(model_class: type) -> bool:
    """Whether models of this class (exactly: not a subclass) have a vectorised form."""
    return model_class in _VECTORISED


def vectorise(models: list[GenerativeModel], generators: list[torch.Generator]) -> VectorisedModel:
    """The S models as one vectorised model drawing seed s's randomness from ``generators[s]``.

    Raises:
        NotVectorisable: a model class, layer or optimizer with no vectorised form.
    """
    if not models or len(models) != len(generators):
        raise ValueError(f"one generator per model: {len(models)} models, {len(generators)} generators")
    cls = _VECTORISED.get(type(models[0]))
    if cls is None:
        raise NotVectorisable(f"{type(models[0]).__name__} has no vectorised form")
    return cls(models, SeedRandom(generators, models[0].device))

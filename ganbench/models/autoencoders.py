"""A Gaussian VAE (``vae``) and a deterministic autoencoder (``ae``).

Both use the GAN generator's architecture as decoder and the discriminator's (without
normalisation) as encoder, so their capacity matches the GANs' on the same dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data.base import DatasetInfo
from ganbench.models import nets
from ganbench.models.base import GenerativeModel, sample_in_eval_mode
from ganbench.models.recipes import ModelRecipe, register_recipe


def _encoder_decoder(info: DatasetInfo, z_dim: int, out_dim: int, hidden: int, layers: int, width: int,
                     arch: str = "auto"):  # fmt: skip
    if info.kind == "points2d":
        if arch != "auto":
            raise ValueError(f"arch={arch!r} chooses conv nets; {info.name} is {info.kind}: leave it at 'auto'")
        enc = nets.mlp_encoder(info.shape[0], out_dim, hidden, layers)
        dec = nets.mlp_generator(z_dim, info.shape[0], hidden, layers)
    else:
        enc = nets.conv_discriminator(tuple(info.shape), out_dim, width, norm="none", arch=arch)
        dec = nets.conv_generator(z_dim, tuple(info.shape), width, arch)
    return enc, dec


class VAE(GenerativeModel):
    """Gaussian VAE trained on the ELBO (Kingma and Welling 2014).

    The decoder is Gaussian with a learned global log standard deviation, so the reconstruction
    term is a proper negative log-likelihood. Samples decode z ~ N(0, I); ``sample_noise`` adds the
    decoder's noise (useful for 2D points, where the data sd is tiny), otherwise the mean is returned.

    Args:
        info: dataset description.
        z_dim: latent size.
        lr: Adam learning rate.
        hidden, layers: MLP sizes for 2D data.
        width: conv base width for images.
        sample_noise: add decoder noise when sampling (default: on for 2D, off for images).
        decoder_sd: the decoder's standard deviation at initialisation (it is learned). The learned value
            stays near where it starts (the reconstruction error adapts to it), so this chooses between
            solutions of different ELBO: on ring8, 1 ends in posterior collapse (KL 0, every sample from one
            Gaussian fitted to the data) at a held-out negative ELBO of 2.15 nats, where 0.1 reaches 0.50 and
            covers all 8 modes (``reports/vae-decoder-sd.md``).
        arch: the conv nets' plan on images (``"auto"`` or ``"carpedm20"``, see ``nets``).
    """

    def __init__(
        self,
        info: DatasetInfo,
        z_dim: int = 16,
        lr: float = 1e-3,
        hidden: int = 256,
        layers: int = 3,
        width: int = 64,
        sample_noise: bool | None = None,
        arch: str = "auto",
        decoder_sd: float = 1.0,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.enc, self.dec = _encoder_decoder(info, z_dim, 2 * z_dim, hidden, layers, width, arch)
        if not decoder_sd > 0:
            raise ValueError(f"decoder_sd={decoder_sd!r}: the decoder's standard deviation must be positive")
        self.log_sd = nn.Parameter(torch.tensor(math.log(decoder_sd)))
        self.sample_noise = info.kind == "points2d" if sample_noise is None else sample_noise
        self.opt = torch.optim.Adam(self.parameters(), lr=lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": self.opt}

    def _terms(self, x: torch.Tensor, noise) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample reconstruction NLL and KL of ``x`` from one posterior draw, ``noise(mu)`` giving the
        standard normal draw."""
        mu, logvar = self.enc(x).chunk(2, dim=1)
        z = mu + noise(mu) * (0.5 * logvar).exp()
        recon = self.dec(z)
        d = x[0].numel()
        # Gaussian NLL per sample with a shared sd: 0.5*||x - x'||^2 / sd^2 + d*log sd + d/2*log 2pi
        sq = (recon - x).flatten(1).pow(2).sum(1)
        nll = 0.5 * sq * torch.exp(-2 * self.log_sd) + d * self.log_sd + 0.5 * d * math.log(2 * math.pi)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
        return nll, kl

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        nll, kl = self._terms(batch, torch.randn_like)
        loss = (nll + kl).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": loss.item(), "nll": nll.mean().item(), "kl": kl.mean().item()}

    @torch.no_grad()
    def negative_elbo(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-sample negative ELBO of ``x`` (data space) and its two terms, in nats, from one posterior draw
        (``generator`` on the CPU for a reproducible draw): ``{"neg_elbo", "nll", "kl"}``. Average over
        several calls for a held-out estimate; the networks run in their current mode (call ``eval()`` first
        for batch-norm running statistics)."""
        if generator is None:
            noise = torch.randn_like
        else:
            def noise(mu):
                return torch.randn(mu.shape, generator=generator).to(mu.device)
        nll, kl = self._terms(x, noise)
        return {"neg_elbo": nll + kl, "nll": nll, "kl": kl}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        def draw():
            x = self.dec(self.latent(n, generator))
            if self.sample_noise:
                noise = torch.randn(x.shape, generator=generator).to(x.device)
                x = x + noise * self.log_sd.exp()
            return x

        return sample_in_eval_mode(self, draw)


class Autoencoder(GenerativeModel):
    """Deterministic autoencoder with MSE loss that samples by decoding latents drawn from a
    Gaussian fitted to its training codes (full covariance).

    The fit is exact when training ends (``prepare_sampling``); during training an exponential moving
    average of batch code statistics stands in, so samples taken mid-training are meaningful. ``arch``
    as in ``VAE``.
    """

    def __init__(
        self,
        info: DatasetInfo,
        z_dim: int = 16,
        lr: float = 1e-3,
        hidden: int = 256,
        layers: int = 3,
        width: int = 64,
        ema: float = 0.01,
        arch: str = "auto",
    ) -> None:
        super().__init__()
        self.z_dim, self.ema = z_dim, ema
        self.enc, self.dec = _encoder_decoder(info, z_dim, z_dim, hidden, layers, width, arch)
        self.register_buffer("code_mean", torch.zeros(z_dim))
        self.register_buffer("code_cov", torch.eye(z_dim))
        self.opt = torch.optim.Adam(self.parameters(), lr=lr)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ae": self.opt}

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        codes = self.enc(batch)
        loss = F.mse_loss(self.dec(codes), batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        # The code statistics stay float32 under autocast (ganbench bench --amp), where codes are bf16.
        with torch.no_grad(), torch.autocast(batch.device.type, enabled=False):
            c = codes.detach().to(self.code_mean.dtype)
            self.code_mean.lerp_(c.mean(0), self.ema)
            self.code_cov.lerp_(torch.cov(c.T).reshape(self.z_dim, self.z_dim), self.ema)
        return {"loss": loss.item()}

    @torch.no_grad()
    def prepare_sampling(self, train_batches: Iterable[torch.Tensor]) -> None:
        was = self.training
        self.eval()
        codes = torch.cat([self.enc(x.to(self.device)) for x in train_batches]).double()
        self.train(was)
        self.code_mean.copy_(codes.mean(0))
        self.code_cov.copy_(torch.cov(codes.T).reshape(self.z_dim, self.z_dim))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        def draw():
            cov = self.code_cov.double()
            jitter = 1e-6 * cov.diagonal().mean().clamp_min(1e-12)
            chol = torch.linalg.cholesky(cov + jitter * torch.eye(self.z_dim, dtype=cov.dtype, device=cov.device))
            z = self.code_mean + self.latent(n, generator) @ chol.T.float()
            return self.dec(z)

        return sample_in_eval_mode(self, draw)


register_recipe(ModelRecipe("vae", "vae", VAE, {}, {"points2d": {"z_dim": 2}, "image": {"z_dim": 16}},
                            "Gaussian VAE trained on the ELBO"))  # fmt: skip
register_recipe(ModelRecipe("ae", "ae", Autoencoder, {}, {"points2d": {"z_dim": 2}, "image": {"z_dim": 16}},
                            "autoencoder sampling from a Gaussian fitted to its training codes"))  # fmt: skip

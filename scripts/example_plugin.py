"""An example ganbench plugin: a user's own model, compared with the baselines in one command.

Two ways to plug in, both shown here:

1. A trainable model: a factory ``f(info) -> GenerativeModel`` that ganbench trains under the
   dataset's baseline budget with the baselines' seeds::

       ganbench compare scripts.example_plugin:build_tiny_gan --dataset ring8 -o compare-out

2. An already-trained sampler: any object with ``sample(n, generator=None) -> Tensor`` in data space::

       ganbench compare scripts.example_plugin:ring_oracle --dataset ring8 -o compare-oracle

A package can also expose the factory through the ``ganbench.models`` entry-point group
(``[project.entry-points."ganbench.models"] tiny-gan = "my_pkg:build_tiny_gan"``), after which
``ganbench compare tiny-gan ...`` and ``ganbench train tiny-gan ...`` find it by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganbench.data.base import DatasetInfo
from ganbench.models.base import GenerativeModel, sample_in_eval_mode


class TinyGAN(GenerativeModel):
    """A small non-saturating GAN on 2D points: the whole interface in under 40 lines."""

    def __init__(self, info: DatasetInfo, hidden: int = 64, lr: float = 1e-3) -> None:
        super().__init__()
        if info.kind != "points2d":
            raise ValueError(f"TinyGAN models 2D points; {info.name} is {info.kind}")
        self.z_dim = 2
        self.G = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.D = nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, 1))  # fmt: skip
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=(0.5, 0.999))

    def optimizers(self):
        return {"g": self.opt_g, "d": self.opt_d}

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        fake = self.G(self.latent(len(batch)))
        d_real, d_fake = self.D(batch), self.D(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))  # fmt: skip
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        d_gen = self.D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return sample_in_eval_mode(self, lambda: self.G(self.latent(n, generator)))


def build_tiny_gan(info: DatasetInfo) -> TinyGAN:
    """The factory ganbench calls with the dataset's description."""
    return TinyGAN(info)


class RingOracle:
    """A 'trained' sampler that draws from the true 8-Gaussian ring: the best any model can do."""

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        angles = 2 * torch.pi * torch.randint(0, 8, (n,), generator=generator) / 8
        centers = torch.stack([angles.cos(), angles.sin()], dim=1)
        return centers + 0.01 * torch.randn(n, 2, generator=generator)


ring_oracle = RingOracle()

"""The one interface every model implements, so the trainer, metrics and benchmarks treat
GANs, VAEs and autoencoders (and a user's own model) alike."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

Z_DISTS = ("normal", "uniform")


class GenerativeModel(nn.Module):
    """Base class of ganbench models.

    A model owns its networks and optimizers. Subclasses implement ``train_step`` and ``sample``.

    Attributes:
        batches_per_step: how many data batches one ``train_step`` consumes (a WGAN-GP critic
            with 5 updates per generator update takes 5; PacGAN with packing m takes m). The trainer
            concatenates them along the first dimension.
        z_dim: latent size.
        z_dist: the latents' distribution, ``"normal"`` (N(0, I)) or ``"uniform"`` (U[-1, 1]).
    """

    batches_per_step: int = 1
    z_dim: int = 0
    z_dist: str = "normal"

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        """One optimisation step on ``batch`` (data space); returns named losses as floats."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples in data space: points ``(n, 2)`` or NCHW images in ``[-1, 1]``."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimizers, saved with the checkpoint."""
        return {}

    def prepare_sampling(self, train_batches: Iterable[torch.Tensor]) -> None:
        """Called once when training ends, before the final samples (an AE fits its latent here).

        Args:
            train_batches: the whole training split in order, in data space (float), a few thousand samples
                at a time on the training device (an image set is not held as floats all at once).
        """

    def training_state(self) -> dict:
        """Everything needed to resume: network weights and optimizer states."""
        return {
            "modules": self.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
        }

    def load_training_state(self, state: dict) -> None:
        self.load_state_dict(state["modules"])
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])

    @property
    def device(self) -> torch.device:
        try:
            return next(self.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def latent(self, n: int, generator: torch.Generator | None = None,
               device: torch.device | None = None) -> torch.Tensor:  # fmt: skip
        """Latents from ``z_dist`` on ``device`` (default: the model's; drawn on CPU when a CPU generator
        is given). A training step passes its batch's device: looking the model's up walks the module
        tree, which cost about 1% of a small model's step on the CPU. Uniform latents are ``2 u - 1`` of
        ``torch.rand``'s ``u``."""
        device = self.device if device is None else device
        draw = torch.rand if self.z_dist == "uniform" else torch.randn
        if generator is not None and generator.device.type != device.type:
            z = draw(n, self.z_dim, generator=generator).to(device)
        else:
            z = draw(n, self.z_dim, generator=generator, device=device)
        return z * 2 - 1 if self.z_dist == "uniform" else z


@torch.no_grad()
def sample_in_eval_mode(model: nn.Module, fn, *args, **kwargs):
    """Run ``fn`` with the model in eval mode (batch-norm running statistics), restoring the mode after."""
    was_training = model.training
    model.eval()
    try:
        return fn(*args, **kwargs)
    finally:
        model.train(was_training)

"""A model that kills its own process once, for the executor tests.

It lives in an importable module (not in the test file) because the recipe registered in the test
process travels to Ray and submitit workers by pickle, and its class is pickled by reference: the
workers import it from here.
"""

from __future__ import annotations

import inspect
import os
import signal
from pathlib import Path

from ganbench.models import MODELS, ModelRecipe
from ganbench.models.gan import GAN

NAME = "gan-kill-once"


class KillOnceGAN(GAN):
    """A non-saturating GAN that, at training step ``kill_at_step``, sends ``kill_signal`` (SIGKILL by
    default) to the process it runs in, unless ``kill_marker`` exists; it first creates the marker with
    its PID, so only the first attempt is hit. Counted from the model's construction: a run resumed past
    that step is never hit."""

    def __init__(self, info, kill_marker: str = "", kill_at_step: int = 0, kill_signal: int = signal.SIGKILL,
                 **gan_params) -> None:  # fmt: skip
        super().__init__(info, **gan_params)
        self._kill_marker, self._kill_at, self._signal, self._steps = kill_marker, kill_at_step, kill_signal, 0

    def train_step(self, batch):
        self._steps += 1
        if self._kill_marker and self._steps == self._kill_at and not Path(self._kill_marker).exists():
            Path(self._kill_marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), self._signal)
        return super().train_step(batch)


# Its parameters are GAN's (a run's config.json lists them all and evaluation rebuilds the model from it).
_gan = inspect.signature(GAN)
KillOnceGAN.__signature__ = _gan.replace(parameters=[
    *_gan.parameters.values(),
    inspect.Parameter("kill_marker", inspect.Parameter.KEYWORD_ONLY, default=""),
    inspect.Parameter("kill_at_step", inspect.Parameter.KEYWORD_ONLY, default=0),
    inspect.Parameter("kill_signal", inspect.Parameter.KEYWORD_ONLY, default=signal.SIGKILL)])  # fmt: skip


def kill_once_recipe(marker: Path, kill_at_step: int, kill_signal: int = signal.SIGKILL) -> ModelRecipe:
    """The recipe; the kill settings are fixed arguments, so they are in no config or job id: a run
    that is killed and one that is not have the same id and the same results."""
    gan = MODELS.get("gan")
    fixed = {"objective": "gan", "kill_marker": str(marker), "kill_at_step": kill_at_step,
             "kill_signal": int(kill_signal)}  # fmt: skip
    return ModelRecipe(NAME, "gan", KillOnceGAN, fixed, gan.defaults, "GAN that kills its process once (tests)")

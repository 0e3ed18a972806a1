"""The options a run carries from the command line to the worker that trains and scores a job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import UserError


@dataclass(frozen=True)
class RunOptions:
    """Where runs go and how every task of a run trains and scores; one object from the CLI to the worker.

    Attributes:
        out: the runs folder (``--out``); every worker must see it at this path.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``--device``); resolved where the task runs,
            so ``auto`` means a GPU on a worker that has one.
        data_root: the folder holding real datasets' files (``--data-root``; default ``$GANBENCH_DATA``).
        eval_seed: the evaluation seed (``--eval-seed``), apart from the training seeds.
        progress: show a training progress bar.
        vectorise: train the seeds of each reference baseline together as one vectorised model
            (``ganbench.training_batched``); ``--no-vectorise`` turns it off.
        eval_n: generated samples each job is scored on (default: the dataset's standard protocol's count);
            like ``eval_options`` it enters the scores' fingerprint, so such scores never rank with standard ones.
        eval_options: protocol fields to override when scoring (``ganbench eval --protocol``'s keys, e.g.
            ``{"n_real": 1000}``), as a dict or (key, value) pairs; kept as sorted pairs.
    """

    out: Path
    device: str = "auto"
    data_root: str | None = None
    eval_seed: int = 0
    progress: bool = False
    vectorise: bool = True
    eval_n: int | None = None
    eval_options: tuple = ()

    def __post_init__(self) -> None:
        if not isinstance(self.out, (str, Path)) or not str(self.out):
            raise UserError(f"--out must be a folder; got {self.out!r}")
        object.__setattr__(self, "out", Path(self.out))
        # The form only: whether CUDA is there is the worker's question (the driver may have no GPU).
        if not isinstance(self.device, str) or not (self.device in ("auto", "cpu", "cuda")
                                                    or self.device.startswith("cuda:")):  # fmt: skip
            raise UserError(f"--device must be auto, cpu or cuda; got {self.device!r}")
        if isinstance(self.data_root, Path):
            object.__setattr__(self, "data_root", str(self.data_root))
        if self.data_root is not None and (not isinstance(self.data_root, str) or not self.data_root):
            raise UserError(f"--data-root must be a folder; got {self.data_root!r}")
        if isinstance(self.eval_seed, bool) or not isinstance(self.eval_seed, int):
            raise UserError(f"--eval-seed must be an integer; got {self.eval_seed!r}")
        if not isinstance(self.vectorise, bool):
            raise TypeError(f"RunOptions.vectorise must be True or False; got {self.vectorise!r}")
        if not isinstance(self.progress, bool):
            raise TypeError(f"RunOptions.progress must be True or False; got {self.progress!r}")
        if self.eval_n is not None and (isinstance(self.eval_n, bool) or not isinstance(self.eval_n, int)
                                        or self.eval_n < 2):  # fmt: skip
            raise UserError(f"--n must be an integer of at least 2; got {self.eval_n!r}")
        pairs = self.eval_options.items() if isinstance(self.eval_options, dict) else self.eval_options
        try:
            pairs = tuple(sorted((str(k), v) for k, v in pairs))
        except (TypeError, ValueError):
            raise TypeError(f"RunOptions.eval_options must be a dict or (key, value) pairs; got {self.eval_options!r}") from None
        object.__setattr__(self, "eval_options", pairs)

    def scoring(self) -> dict:
        """The keyword arguments every task scores with (``evaluate_run``, ``reference_scores``)."""
        return {"eval_seed": self.eval_seed, "device": self.device, "data_root": self.data_root, "n": self.eval_n,
                "options": dict(self.eval_options) or None}  # fmt: skip

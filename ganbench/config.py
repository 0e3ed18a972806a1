"""Validated configuration: training budgets and baseline files.

A baseline file (``baselines/<model>_<dataset>.toml``) holds everything that defines a reference run::

    model = "gan"
    dataset = "ring8"
    description = "..."

    [model_params]      # keyword arguments of the model recipe (see ``ganbench list models --json``)
    z_dim = 2

    [train]             # TrainConfig
    steps = 2000
    batch_size = 100

An unknown key anywhere is an error naming the file, the key and its line.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ganbench.errors import UserError
from ganbench.models import get_recipe

BASELINES_DIR = Path(__file__).resolve().parent.parent / "baselines"


LR_SCHEDULES = ("constant", "linear")
PRECISIONS = ("fp32", "bf16")
# Settings added after run folders existed: at these defaults they stay out of a job's identity (its config
# hash), so that runs made before the settings existed are still the same finished jobs.
LATER_DEFAULTS = {"precision": "fp32", "channels_last": False}


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and logging cadence.

    Attributes:
        steps: generator (or model) updates.
        batch_size: samples per batch (a model consuming several batches per step gets several).
        log_every: steps between loss lines in ``metrics.jsonl``.
        checkpoint_every: steps between checkpoints (the final step is always saved).
        eval_every: steps between cheap metrics (mode coverage, Frechet distance) in ``metrics.jsonl``;
            0 turns them off.
        eval_samples: samples the metrics during training are computed on (``ganbench train`` and ``run``).
        lr_schedule: ``constant`` (default) or ``linear``: every optimizer's learning rate decays linearly
            from its configured value to ``lr_floor`` times it over the first ``lr_decay_steps`` steps (0: all
            of them), then stays there (at step ``k``: ``lr * max(floor, 1 - (1 - floor) (k - 1) / D)``).
            With the defaults (floor 0, D = steps) it is Gulrajani et al.'s WGAN-GP and Miyato et al.'s
            SNGAN decay to 0 over training. A floor keeps a constant final stretch, over which the plateau
            rule can tell a converged run; a fixed D keeps the schedule of a longer run identical up to D.
        lr_floor: the final learning-rate multiplier of the linear schedule, in ``[0, 1]``.
        lr_decay_steps: the steps the linear decay takes (0: all ``steps``).
        precision: ``fp32`` (default) or ``bf16``: every training step runs under ``torch.autocast`` with
            bfloat16, on CUDA or the CPU (matrix products and convolutions in bf16; weights, optimizer states
            and the ops autocast keeps in float32 stay float32). bf16 has float32's exponent range, so no
            gradient scaling. Sampling and evaluation stay float32.
        channels_last: image models' weights and training batches in channels-last (NHWC) memory layout,
            which tensor-core GPUs (and oneDNN on the CPU) run convolutions faster in. The same values;
            rounding may differ, as between kernels. Image sets only; seeds then train one by one, not as
            one vectorised model.
    """

    steps: int = 2000
    batch_size: int = 64
    log_every: int = 50
    checkpoint_every: int = 500
    eval_every: int = 500
    eval_samples: int = 2500
    lr_schedule: str = "constant"
    lr_floor: float = 0.0
    lr_decay_steps: int = 0
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"train.lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {self.lr_schedule!r}")
        v = self.lr_floor
        if not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1):
            raise UserError(f"train.lr_floor must be a number in [0, 1]; got {v!r}")
        if self.precision not in PRECISIONS:
            raise UserError(f"train.precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        if not isinstance(self.channels_last, bool):
            raise UserError(f"train.channels_last must be true or false; got {self.channels_last!r}")
        for f in fields(self):
            if f.name in ("lr_schedule", "lr_floor", "precision", "channels_last"):
                continue
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise UserError(f"train.{f.name} must be an integer; got {v!r}")
            low = 0 if f.name in ("eval_every", "lr_decay_steps") else 1
            if v < low:
                raise UserError(f"train.{f.name} must be >= {low}; got {v}")

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def identity(self) -> dict:
        """The fields that identify a job's training: all, but settings in ``LATER_DEFAULTS`` only when set."""
        return {k: v for k, v in dataclasses.asdict(self).items() if not (k in LATER_DEFAULTS
                                                                         and v == LATER_DEFAULTS[k])}  # fmt: skip


@dataclass(frozen=True)
class BaselineConfig:
    """One reference (model, dataset) with all hyperparameters and its budget."""

    model: str
    dataset: str
    description: str = ""
    model_params: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    source: str | None = None  # the file it came from
    name: str = ""  # the label in run directories and leaderboards (default: the model name)

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.model)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", self.name):
            raise UserError(f"baseline name {self.name!r} must be letters, digits and _.+- (it names a folder)")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "model": self.model,
            "dataset": self.dataset,
            "description": self.description,
            "model_params": dict(self.model_params),
            "train": dataclasses.asdict(self.train),
            "source": self.source,
        }

    def summary(self) -> dict:
        """The row of ``ganbench list baselines``."""
        return {"name": self.name, "model": self.model, "dataset": self.dataset, "steps": self.train.steps,
                "batch_size": self.train.batch_size, "file": self.source, "description": self.description}


_TOP_KEYS = {"name", "model", "dataset", "description", "model_params", "train"}


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line) or re.match(rf"\s*\[\s*{re.escape(key)}\s*\]", line):
            return i
    return None


def _unknown_key(path: Path, text: str, key: str, where: str, allowed) -> UserError:
    line = _line_of(text, key)
    at = f"{path}:{line}" if line else str(path)
    return UserError(f"{at}: unknown key {where}{key!r}; allowed: {', '.join(sorted(allowed))}")


def load_baseline(path: str | Path) -> BaselineConfig:
    """Read and validate a baseline file; errors name the file, key and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read baseline file {path}: {e.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: not valid TOML: {e}") from None
    for key in raw:
        if key not in _TOP_KEYS:
            raise _unknown_key(path, text, key, "", _TOP_KEYS)
    for key in ("model", "dataset"):
        if not isinstance(raw.get(key), str):
            raise UserError(f"{path}: {key!r} must be a string naming a registered {key}")
    for key in ("name", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"{path}: {key!r} must be a string; got {raw[key]!r}")
    train_raw = raw.get("train", {})
    allowed_train = {f.name for f in fields(TrainConfig)}
    for key in train_raw:
        if key not in allowed_train:
            raise _unknown_key(path, text, key, "train.", allowed_train)
    try:
        train = TrainConfig(**train_raw)
    except UserError as e:
        raise UserError(f"{path}: {e}") from None

    recipe = get_recipe(raw["model"])
    params = raw.get("model_params", {})
    for key in params:
        if key not in recipe.parameters():
            raise _unknown_key(path, text, key, "model_params.", recipe.parameters())
    return BaselineConfig(raw["model"], raw["dataset"], raw.get("description", ""), params, train, str(path),
                          raw.get("name", ""))  # fmt: skip


def baseline_path(model: str, dataset: str) -> Path:
    return BASELINES_DIR / f"{model}_{dataset}.toml"


def find_baseline(model: str, dataset: str) -> BaselineConfig:
    """The committed baseline for (model, dataset), or defaults when none is committed.

    ``model`` is a registered model (``baselines/<model>_<dataset>.toml``) or the ``name`` of a committed
    baseline on ``dataset`` (``dcgan-tf`` on mnist is ``baselines/gan_mnist.toml``).

    Raises:
        UserError: ``model`` is neither (the registry's error, with the closest names).
    """
    path = baseline_path(model, dataset)
    if path.exists():
        return load_baseline(path)
    named = named_baseline(model, dataset)
    if named is not None:
        return named
    get_recipe(model)
    return BaselineConfig(model, dataset)


def named_baseline(name: str, dataset: str) -> BaselineConfig | None:
    """The committed baseline on ``dataset`` whose ``name`` is ``name`` and differs from its model, if any."""
    for path in sorted(BASELINES_DIR.glob(f"*_{dataset}.toml")):
        if path.stem[: -len(dataset) - 1] == name:
            continue  # named by its model: find_baseline's first lookup
        cfg = load_baseline(path)
        if cfg.dataset == dataset and cfg.name == name and cfg.name != cfg.model:
            return cfg
    return None


def list_baselines(directory: Path | None = None) -> list[BaselineConfig]:
    return [load_baseline(p) for p in sorted((directory or BASELINES_DIR).glob("*.toml"))]

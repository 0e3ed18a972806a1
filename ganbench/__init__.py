"""ganbench: benchmark generative image models (GANs, VAEs, autoencoders) under one recorded protocol."""

from importlib import import_module

__version__ = "0.1.0"

# Public names, imported on first use so that `import ganbench` stays cheap.
_LAZY = {
    "GenerativeModel": "ganbench.models.base",
    "build_model": "ganbench.models",
    "register_recipe": "ganbench.models",
    "list_models": "ganbench.models",
    "load_dataset": "ganbench.data",
    "list_datasets": "ganbench.data",
    "train": "ganbench.training",
    "score_model": "ganbench.evaluation.scoring",
    "default_protocol": "ganbench.evaluation.protocol",
    "leaderboard": "ganbench.results.leaderboard",
    "ModeTracker": "ganbench.evaluation.tracking",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganbench' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]

"""Model recipes and their registry: each reference model is a named recipe: an objective plus defaults that depend on the data kind.

``build_model(name, info, **params)`` builds one; ``params`` override the recipe's defaults and are
checked against the model class's keyword arguments (an unknown one is an error).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

from ganbench.data.base import DatasetInfo
from ganbench.errors import UserError
from ganbench.models.base import GenerativeModel
from ganbench.plugins import load_entry_point
from ganbench.registry import Registry


@dataclass(frozen=True)
class ModelRecipe:
    """A registered model: a class, fixed arguments, and per-data-kind defaults.

    Attributes:
        name: registry name.
        family: ``"gan"``, ``"vae"`` or ``"ae"``.
        cls: the ``GenerativeModel`` subclass.
        fixed: arguments the recipe pins (e.g. the objective).
        defaults: default arguments per data kind (``"points2d"``, ``"image"``).
        description: one line for ``ganbench list models``.
    """

    name: str
    family: str
    cls: Callable[..., GenerativeModel]
    fixed: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    description: str = ""

    def parameters(self) -> list[str]:
        """The keyword arguments a config may set."""
        sig = inspect.signature(self.cls)
        return [p for p in sig.parameters if p != "info" and p not in self.fixed]

    def resolve(self, kind: str, params: dict) -> dict:
        """Every keyword argument: the class defaults, then the recipe's for ``kind``, then ``params``.

        Unknown keys raise ``UserError``.
        """
        allowed = self.parameters()
        for key in params:
            if key not in allowed:
                raise UserError(
                    f"model {self.name!r} has no parameter {key!r}; its parameters are: {', '.join(allowed)}"
                )
        sig = inspect.signature(self.cls)
        base = {k: p.default for k, p in sig.parameters.items() if k in allowed and p.default is not p.empty}
        resolved = {**base, **self.defaults.get(kind, {}), **params}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in resolved.items()}

    def build(self, info: DatasetInfo, **params) -> GenerativeModel:
        resolved = self.resolve(info.kind, params)
        try:
            return self.cls(info, **self.fixed, **resolved)
        except UserError:
            raise
        except ValueError as e:  # a constructor's check of its parameters: the user's value, not a bug
            raise UserError(f"model {self.name!r} on {info.name}: {e}") from None

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "description": self.description,
                "parameters": self.parameters(), "defaults": self.defaults}  # fmt: skip


MODELS: Registry[ModelRecipe] = Registry("model")

# Reference models' options added after baseline files and runs existed, with their defaults. A baseline of
# the embedded sets names one only when it differs (scripts/make_baselines.py), so those files and the suite
# job ids hashed from them stay as they were; a run's recorded parameters without one had its default
# (scripts/budget_study.py).
LATER_OPTIONS = {"arch": "auto", "z_dist": "normal", "g_steps": 1, "g_latents": "fresh", "decoder_sd": 1.0}


def register_recipe(recipe: ModelRecipe) -> ModelRecipe:
    return MODELS.register(recipe.name, recipe)


def get_recipe(name: str) -> ModelRecipe:
    """A registered recipe, or one from the ``ganbench.models`` entry-point group, loaded on first use."""
    if name not in MODELS:
        obj = load_entry_point(name)
        if obj is not None:
            recipe = obj if isinstance(obj, ModelRecipe) else ModelRecipe(name, "plugin", obj, description="plugin")
            register_recipe(recipe)
    try:
        return MODELS.get(name)
    except KeyError as e:
        raise UserError(str(e)) from None


def build_model(name: str, info: DatasetInfo, **params) -> GenerativeModel:
    """Build the registered model ``name`` for dataset ``info``."""
    return get_recipe(name).build(info, **params)


def list_models() -> list[ModelRecipe]:
    return [MODELS.get(n) for n in MODELS.names()]

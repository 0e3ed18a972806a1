"""Reference models, each a named recipe: an objective plus defaults that depend on the data kind.

``build_model(name, info, **params)`` builds one; ``params`` override the recipe's defaults and are
checked against the model class's keyword arguments (an unknown one is an error). Recipes register
beside their classes (``gan``, ``autoencoders``); outside models plug in through the
``ganbench.models`` entry-point group.
"""

from ganbench.models import autoencoders, gan  # noqa: F401  (registers the reference models)
from ganbench.models.base import GenerativeModel
from ganbench.models.recipes import MODELS, ModelRecipe, build_model, get_recipe, list_models, register_recipe

__all__ = ["GenerativeModel", "ModelRecipe", "MODELS", "build_model", "get_recipe", "list_models",
           "register_recipe"]  # fmt: skip

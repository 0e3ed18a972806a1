"""Outside code: ``module:attr`` targets and the ``ganbench.models`` entry-point group.

Plugin code is imported only when the user names it (a ``module:attr`` on the command line, or an
entry-point name asked for by name); nothing is imported at start-up.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata
from pathlib import Path

from ganbench.errors import UserError

ENTRY_POINT_GROUP = "ganbench.models"


def import_target(spec: str):
    """Import ``module:attr`` (the current directory is importable, as with ``python -m``)."""
    if ":" not in spec:
        raise UserError(f"{spec!r} is not module:attr; name a factory or sampler like my_models:build_gan")
    module_name, attr = spec.split(":", 1)
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UserError(f"cannot import module {module_name!r} from {spec!r}: {e}") from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def entry_point_names() -> list[str]:
    return sorted(ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


def load_entry_point(name: str):
    """The object a ``ganbench.models`` entry point names, or None when there is none by that name."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            return ep.load()
    return None

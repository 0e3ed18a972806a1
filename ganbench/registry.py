"""A small named registry: a dict and a decorator.

Registering a name twice raises ``ValueError``; looking up an unknown name raises ``KeyError``
(a ``LookupError``) whose message lists the closest registered names.
"""

from __future__ import annotations

import difflib
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """An unknown registry name. The message suggests the closest registered names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Named entries of one kind (models, datasets, metrics, ...).

    Args:
        kind: what the entries are, used in error messages ("model", "dataset").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""

        def add(o: T) -> T:
            if name in self._entries:
                raise ValueError(f"A {self.kind} is already registered under the name {name!r}.")
            self._entries[name] = o
            return o

        return add(obj) if obj is not None else add

    def get(self, name: str) -> T:
        """Return the entry for ``name``, or raise ``UnknownNameError`` with suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"Unknown {self.kind} {name!r}.{hint} Available: {', '.join(sorted(self._entries))}."

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests and plugins that replace themselves)."""
        self._entries.pop(name, None)

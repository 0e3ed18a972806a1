"""Bounded in-process caches, all cleared by one call.

Loaded datasets, trained classifiers, extractors and real reference features are expensive to rebuild,
so each is kept in memory for the life of the process. Each such cache is a ``BoundedCache``: a
least-recently-used map with a maximum number of entries, so that a long process (a suite scoring many
datasets, a notebook) does not grow without limit. Every cache registers itself on creation;
``clear_caches()`` empties them all (tests use it to force a fresh load).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

__all__ = ["BoundedCache", "clear_caches", "registered_caches"]

V = TypeVar("V")

# Weak references: a cache made by a test or a short-lived object leaves the set when it is collected.
_REGISTERED: weakref.WeakSet[BoundedCache] = weakref.WeakSet()


class BoundedCache(Generic[V]):
    """A least-recently-used map of at most ``maxsize`` entries.

    Args:
        name: what the cache holds, for ``registered_caches()`` and ``repr``.
        maxsize: entries kept; adding one more evicts the least recently used.

    Raises:
        ValueError: ``maxsize`` is not a positive integer.
    """

    def __init__(self, name: str, maxsize: int) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise ValueError(f"BoundedCache {name!r}: maxsize must be a positive integer; got {maxsize!r}")
        self.name, self.maxsize = name, maxsize
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        _REGISTERED.add(self)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value under ``key``; on a miss, ``compute()`` it and keep it (evicting the oldest entry).

        ``compute`` raising leaves the cache unchanged.
        """
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = compute()
        self._entries[key] = value
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self._entries.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"BoundedCache({self.name!r}, {len(self)}/{self.maxsize})"


def registered_caches() -> list[BoundedCache]:
    """Every live cache, by name."""
    return sorted(_REGISTERED, key=lambda c: c.name)


def clear_caches() -> None:
    """Empty every registered cache (files on disk, such as trained classifiers, stay)."""
    for cache in list(_REGISTERED):
        cache.clear()

"""BoundedCache (LRU with a size bound) and clear_caches(), on toy caches and on ganbench's own."""

from __future__ import annotations

import pytest

from ganbench.caches import BoundedCache, clear_caches, registered_caches
from ganbench.data import load_dataset


def test_least_recently_used_entry_is_evicted():
    cache = BoundedCache("test lru", maxsize=2)
    calls = []

    def make(key):
        calls.append(key)
        return key.upper()

    assert cache.get_or_compute("a", lambda: make("a")) == "A"
    assert cache.get_or_compute("b", lambda: make("b")) == "B"
    assert cache.get_or_compute("a", lambda: make("a")) == "A"  # a hit: "a" is now the most recent
    cache.get_or_compute("c", lambda: make("c"))  # evicts "b", the least recently used
    assert "a" in cache and "c" in cache and "b" not in cache
    assert calls == ["a", "b", "c"]
    cache.get_or_compute("b", lambda: make("b"))  # computed again
    assert calls == ["a", "b", "c", "b"] and "a" not in cache


@pytest.mark.parametrize("maxsize", [1, 3])
def test_maxsize_is_respected(maxsize):
    cache = BoundedCache("test bound", maxsize=maxsize)
    for i in range(10):
        cache.get_or_compute(i, lambda: object())
        assert len(cache) == min(i + 1, maxsize)
    assert list(range(10 - maxsize, 10)) == [k for k in range(10) if k in cache]


def test_failed_compute_leaves_the_cache_unchanged():
    cache = BoundedCache("test failure", maxsize=1)
    cache.get_or_compute("kept", lambda: 1)
    with pytest.raises(RuntimeError):
        cache.get_or_compute("bad", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert "kept" in cache and "bad" not in cache


@pytest.mark.parametrize("maxsize", [0, -1, 1.5, True])
def test_bad_maxsize_is_refused(maxsize):
    with pytest.raises(ValueError, match="maxsize must be a positive integer"):
        BoundedCache("test bad", maxsize=maxsize)


def test_ganbench_caches_are_registered_and_bounded():
    import ganbench.evaluation.features  # noqa: F401  (creates the features and classifier caches)
    import ganbench.evaluation.tracking  # noqa: F401

    names = {c.name for c in registered_caches()}
    assert {"datasets", "real features", "classifier evaluators", "training-tracker extractors"} <= names
    assert all(c.maxsize >= 1 for c in registered_caches())


def test_clear_caches_clears_every_registered_cache():
    toy = BoundedCache("test clear", maxsize=4)
    toy.get_or_compute("k", lambda: 1)
    first = load_dataset("ring8")
    assert load_dataset("ring8") is first  # cached
    clear_caches()
    assert len(toy) == 0 and all(len(c) == 0 for c in registered_caches())
    assert load_dataset("ring8") is not first  # loaded anew


def test_training_tracker_keeps_one_extractor_per_dataset():
    """The tracker's cache on real use: one extractor for digits however often it measures."""
    from ganbench.evaluation.tracking import training_tracker

    digits = load_dataset("digits")

    class RealDigits:  # a "model" whose samples are real test images
        def sample(self, n, generator=None):
            return digits.test_float()[:n]

    clear_caches()
    tracker_cache = next(c for c in registered_caches() if c.name == "training-tracker extractors")
    first = training_tracker(RealDigits(), digits, step=1, n=200)
    second = training_tracker(RealDigits(), digits, step=2, n=200)
    assert first == second and first["modes_covered"] == 10  # real digits show all ten classes
    assert len(tracker_cache) == 1
    clear_caches()
    assert len(tracker_cache) == 0

"""The order raters see a study's items in: every item once, in a permutation of the rater's own."""

from __future__ import annotations

import hashlib
import random


def rater_order(study: dict, rater: str) -> list[str]:
    """The item ids in the order ``rater`` sees them: a permutation seeded by the order seed and the rater."""
    seed = int(hashlib.sha256(f"{study['rules']['order_seed']}:{rater}".encode()).hexdigest()[:16], 16)
    ids = [it["id"] for it in study["items"]]
    random.Random(seed).shuffle(ids)
    return ids


def next_item(order: list[str], done: list[str]) -> str | None:
    """The first item of ``order`` that is not in ``done`` (None when every item is judged)."""
    answered = set(done)
    return next((i for i in order if i not in answered), None)

"""The judgments log: one JSON line per judgment, appended under a lock with an fsync before the rater
is told it is stored, so a server killed at any moment loses nothing that was answered.

Several raters (server threads) and several servers on one study append safely: a thread lock, and an
``fcntl.flock`` on the log for other processes. Each append re-reads the log under the lock, so the
check "is this the rater's next item?" and the append are one step.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ganbench.runs import files


class JudgmentLog:
    """``<study>/judgments.jsonl``: ``append_next`` stores a rater's next answer, ``read`` returns them all."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def read(self) -> list[dict]:
        return files.read_jsonl(self.path)

    def answered(self, rater: str) -> list[str]:
        """The items ``rater`` has judged, in order."""
        return [j["item"] for j in self.read() if j.get("rater") == rater]

    def append_next(self, rater: str, item: str, answer: str, ms: int, next_item: Callable[[list[str]], str | None]
                    ) -> tuple[bool, list[str]]:  # fmt: skip
        """Append ``rater``'s judgment of ``item`` if ``item`` is ``next_item(answered so far)``.

        Returns ``(stored, the rater's answered items afterwards)``.
        """
        done = self.answered(rater)
        if next_item(done) != item:  # refused without touching the log (checked again under the lock)
            return False, done
        with self._lock, open(self.path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                _drop_torn_tail(f)
                done = self.answered(rater)
                if next_item(done) != item:
                    return False, done
                rec = {"rater": rater, "item": item, "answer": answer, "ms": ms, "t": round(time.time(), 3)}
                f.write((json.dumps(rec, sort_keys=True) + "\n").encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
                return True, [*done, item]
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _drop_torn_tail(f) -> None:
    """Cut a last line without its newline (a writer killed mid-append, never acknowledged)."""
    size = f.seek(0, os.SEEK_END)
    if size == 0:
        return
    f.seek(size - 1)
    if f.read(1) == b"\n":
        return
    f.seek(0)
    data = f.read()
    f.truncate(data.rfind(b"\n") + 1)
    f.seek(0, os.SEEK_END)

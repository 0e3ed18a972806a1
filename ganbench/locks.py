"""Per-job locks, so that two runners on one runs folder never run the same job at once.

A lock is a file created with ``O_CREAT | O_EXCL`` holding the owner's host and PID. A lock whose owner
is dead (same host, PID gone) is stale and taken over; a lock from another host is trusted until it is
older than ``STALE_AFTER_S`` (a host that died cannot be asked).
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

STALE_AFTER_S = 24 * 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(path: Path) -> bool:
    try:
        owner = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return True  # torn or vanished: its writer died between create and write
    if owner.get("host") == socket.gethostname():
        return not _alive(int(owner.get("pid", -1)))
    return age > STALE_AFTER_S


class JobLock:
    """``with JobLock(dir) as held:``; ``held`` is False when another live process holds the job."""

    def __init__(self, directory: str | Path) -> None:
        self.path = Path(directory) / "job.lock"
        self.held = False

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not _stale(self.path):
                    return False
                # Take over a dead owner's lock: rename it away first so two takers cannot both win.
                tomb = self.path.with_name(f"job.lock.stale-{os.getpid()}")
                try:
                    os.rename(self.path, tomb)
                    tomb.unlink()
                except OSError:
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}, f)
            self.held = True
            return True
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

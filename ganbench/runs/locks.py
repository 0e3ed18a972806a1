"""Per-job locks, so that two runners on one runs folder never run the same job at once.

A lock is a file, hard-linked into place (atomic, fails if it exists) with the owner's host and PID. A lock whose owner
is dead (same host, PID gone) is stale and taken over; a lock from another host is trusted until it is
older than ``STALE_AFTER_S`` (a host that died cannot be asked), unless it names the same logical task
(``GANBENCH_TASK_OWNER``: a Ray task id or Slurm array job, which a retry keeps): a retry of a task
only runs once the earlier attempt is gone, wherever that attempt ran.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from ganbench.runs.layout import RunDir

STALE_AFTER_S = 24 * 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _stale(path: Path) -> bool:
    try:
        owner = json.loads(path.read_text())
        age = time.time() - path.stat().st_mtime
    except (OSError, ValueError):
        return True  # vanished, or not written by ganbench: locks appear complete (hard link)
    if owner.get("host") == socket.gethostname():  # checked first: a live owner here is never stale
        return not _alive(int(owner.get("pid", -1)))
    task = os.environ.get("GANBENCH_TASK_OWNER")
    if task and owner.get("task") == task:  # an earlier attempt of this task, on another host
        return True
    return age > STALE_AFTER_S


class JobLock:
    """``with JobLock(dir) as held:``; ``held`` is False when another live process holds the job."""

    def __init__(self, directory: str | Path) -> None:
        self.path = RunDir(directory).lock
        self.held = False

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The lock appears with its content in one step (hard link of a written file): a reader never
        # sees an empty lock and mistakes a live owner for a dead one.
        tmp = self.path.with_name(f".{self.path.name}.{socket.gethostname()}.{os.getpid()}.tmp")
        self._content = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
                                    "task": os.environ.get("GANBENCH_TASK_OWNER")})  # fmt: skip
        tmp.write_text(self._content)
        try:
            for _ in range(2):
                try:
                    os.link(tmp, self.path)
                except FileExistsError:
                    judged = _read(self.path)
                    if not _stale(self.path):
                        return False
                    # Take over a dead owner's lock: rename it away first so two takers cannot both win,
                    # and put it back if what we moved is not the lock we judged dead (a taker was faster).
                    tomb = self.path.with_name(f"{self.path.name}.stale-{socket.gethostname()}-{os.getpid()}")
                    try:
                        os.rename(self.path, tomb)
                    except OSError:
                        return False
                    moved = _read(tomb)
                    if moved != judged:
                        try:
                            os.link(tomb, self.path)
                        except OSError:
                            pass
                        tomb.unlink(missing_ok=True)
                        return False
                    tomb.unlink(missing_ok=True)
                    continue
                self.held = True
                return True
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            if _read(self.path) == self._content:  # not a lock another runner took over meanwhile
                self.path.unlink(missing_ok=True)
            self.held = False

    def clear_if_stale(self) -> bool:
        """Remove the lock when its owner is dead (a runner killed after the job finished, before it let go);
        a live owner's lock stays. Returns whether a lock was removed."""
        if not self.path.exists():
            return False
        if not self.acquire():  # a live owner: leave it
            return False
        self.release()
        return True

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

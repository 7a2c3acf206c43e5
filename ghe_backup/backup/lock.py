"""The one-backup-at-a-time lock: ``fcntl.flock`` on a file on the data volume.

flock locks belong to an open file description, so the lock holds between processes and
between threads of one process, and the kernel releases it when its holder dies: a killed
backup never leaves a stuck lock behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

from .logs import log_event

log = logging.getLogger(__name__)

# Health probes take the lock for microseconds to look at it; a backup start waits this long
# for it before concluding that another backup holds it.
PATIENCE = 0.5


class BackupLock:
    """A non-blocking exclusive lock on ``path``; use ``acquire()`` or ``with``."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> bool:
        """Take the lock if it is free within ``wait`` seconds; False if another holder keeps it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)
            except BaseException:
                os.close(fd)
                raise
        # Record the holder for people looking at the volume; the lock itself is the flock, so a
        # failed note (a full disk) must neither fail the lock nor leave the descriptor behind.
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as err:
            log_event(log, "lock_holder_unrecorded", level=logging.WARNING, path=str(self.path), error=err.strerror)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_is_held(path: Path) -> bool:
    """True if some live holder (another process, or another BackupLock here) has the lock."""
    try:
        fd = os.open(path, os.O_RDONLY)  # read-only: the probe never rewrites the holder's pid
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a probe's lock
    return False

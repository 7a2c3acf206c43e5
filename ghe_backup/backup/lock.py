"""The one-backup-at-a-time lock: ``fcntl.flock`` on a file on the data volume.

flock locks belong to an open file description, so the lock holds between processes and
between threads of one process, and the kernel releases it when its holder dies: a killed
backup never leaves a stuck lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class BackupLock:
    """A non-blocking exclusive lock on ``path``; use ``acquire()`` or ``with``."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if it is free; False if another holder has it."""
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        # Record the holder for people looking at the volume; the lock itself is the flock.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
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
    if not path.exists():
        return False
    probe = BackupLock(path)
    if probe.acquire():
        probe.release()
        return False
    return True

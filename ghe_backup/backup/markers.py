"""backup-utils' run markers in ``GHE_DATA_DIR``: ``in-progress`` and ``in-progress-backup``.

Both hold ``<snapshot> <pid>`` while a run is live; backup-utils removes them in its exit trap.
A run that is killed leaves them: ``in-progress`` makes the next ``ghe-backup`` refuse to start
unless ``ps`` shows its pid is gone, and ``in-progress-backup`` (backup-utils >= 3.10) makes
``ghe-restore`` refuse until someone deletes it. Only the holder of the backup lock calls
``remove_stale_markers``, so no run of ours can be live; a marker is kept only while its pid is
a live backup-utils ``ghe-backup`` (someone ran it by hand, outside the lock).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .logs import log_event

log = logging.getLogger(__name__)
IN_PROGRESS = "in-progress"
IN_PROGRESS_BACKUP = "in-progress-backup"
MARKERS = (IN_PROGRESS, IN_PROGRESS_BACKUP)


@dataclass(frozen=True)
class Marker:
    path: Path
    pid: int | None  # None: empty, damaged, or an old-style symlink
    mtime: float


def read_marker(path: Path) -> Marker | None:
    """The marker at ``path``, or None if there is none."""
    try:
        mtime = path.lstat().st_mtime
    except FileNotFoundError:
        return None
    pid = None
    if not path.is_symlink():
        try:
            fields = path.read_text(errors="replace").split()
            pid = int(fields[1]) if len(fields) >= 2 and fields[1].isdigit() else None
        except OSError:
            pid = None
    return Marker(path, pid, mtime)


def backup_utils_running(pid: int, proc: Path = Path("/proc")) -> bool:
    """True if ``pid`` is a live process running backup-utils' ``ghe-backup``.

    A pid from a marker may come from an earlier container (another pid namespace): a live
    process with that number is only "the run" if its command line runs ``ghe-backup``.
    """
    try:
        argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        state = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and any(os.path.basename(arg) == b"ghe-backup" for arg in argv)


def remove_stale_markers(
    data_dir: Path, *, now: float, stale_age: float, written_since: float | None = None
) -> list[str]:
    """Remove markers no live run owns (call with the backup lock held); returns their names.

    A marker without a readable pid goes when it is older than ``stale_age``, or at once if it
    was written after ``written_since`` (by the run that just ended under our lock, e.g. on a
    full disk where backup-utils could create it but not write its pid).
    """
    removed = []
    for name in MARKERS:
        marker = read_marker(data_dir / name)
        if marker is None:
            continue
        if marker.pid is not None:
            stale = not backup_utils_running(marker.pid)
            reason = f"process {marker.pid} is not running ghe-backup"
        elif written_since is not None and marker.mtime >= written_since:
            stale, reason = True, "left without a pid by the run that just ended"
        else:
            stale = now - marker.mtime > stale_age
            reason = "no pid in it and older than STALE_MARKER_AGE"
        if not stale:
            continue
        try:
            marker.path.unlink()
        except FileNotFoundError:
            continue
        removed.append(name)
        log_event(
            log, "stale_marker_removed", path=str(marker.path), reason=reason, age_seconds=round(now - marker.mtime)
        )
    return removed

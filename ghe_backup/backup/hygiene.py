"""Clean up what interrupted backups leave in ``GHE_DATA_DIR``.

Two things go, nothing else, and only while this process holds the backup lock: run markers
(``in-progress``, ``in-progress-backup``) that no live backup-utils run owns (see ``markers``),
and snapshot directories still marked ``incomplete`` that are older than
``STALLED_SNAPSHOT_AGE``. Complete snapshots are never touched: backup-utils prunes those to
``GHE_NUM_SNAPSHOTS`` itself.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ghe_backup.errors import StageFailed

from .lock import PATIENCE, BackupLock
from .logs import log_event
from .markers import remove_stale_markers
from .snapshots import INCOMPLETE, list_snapshots

log = logging.getLogger(__name__)


class HygieneFailed(StageFailed):
    """The data volume failed the hygiene (an I/O error, a read-only part): one line, exit 1."""


@dataclass
class HygieneReport:
    removed_markers: list[str] = field(default_factory=list)
    removed_snapshots: list[str] = field(default_factory=list)
    skipped_reason: str | None = None


def clean_data_dir(
    data_dir: Path, *, now: float, stale_marker_age: float, stalled_snapshot_age: float
) -> HygieneReport:
    """Remove stale markers and stalled snapshots; the caller must hold the backup lock."""
    report = HygieneReport()
    report.removed_markers = remove_stale_markers(data_dir, now=now, stale_age=stale_marker_age)
    for snapshot in list_snapshots(data_dir):
        if snapshot.complete:
            continue
        try:  # the newer of the directory and its marker: the run's last sign of life
            last_touched = max(snapshot.path.stat().st_mtime, (snapshot.path / INCOMPLETE).stat().st_mtime)
        except FileNotFoundError:
            continue
        age = now - last_touched
        if age > stalled_snapshot_age:
            shutil.rmtree(snapshot.path, onerror=_raise_with_path)
            report.removed_snapshots.append(snapshot.name)
            log_event(log, "stalled_snapshot_removed", snapshot=snapshot.name, age_seconds=round(age))
    return report


def _raise_with_path(function, path, exc_info) -> None:
    """rmtree's error with the whole path of the file it failed on (it reports only the name)."""
    err = exc_info[1]
    raise OSError(getattr(err, "errno", None), getattr(err, "strerror", None) or str(err), path) from None


def run_hygiene(
    data_dir: Path,
    lock_path: Path,
    *,
    stale_marker_age: float,
    stalled_snapshot_age: float,
    now: float | None = None,
    lock_patience: float = PATIENCE,
) -> HygieneReport:
    """Take the backup lock and clean up; skip (and say so) while a backup holds it.

    An I/O error while cleaning up is ``HygieneFailed``, naming the file and the error.
    """
    lock = BackupLock(lock_path)
    try:
        acquired = lock.acquire(wait=lock_patience)
    except OSError as err:  # a read-only or full volume: report it, the service keeps running
        log_event(
            log,
            "hygiene_skipped",
            level=logging.WARNING,
            reason=f"cannot take the lock: {err.strerror}",
            lock=str(lock_path),
        )
        return HygieneReport(skipped_reason=f"cannot take the lock: {err.strerror}")
    if not acquired:
        log_event(log, "hygiene_skipped", reason="a backup holds the lock", lock=str(lock_path))
        return HygieneReport(skipped_reason="a backup holds the lock")
    try:
        return clean_data_dir(
            data_dir,
            now=time.time() if now is None else now,
            stale_marker_age=stale_marker_age,
            stalled_snapshot_age=stalled_snapshot_age,
        )
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise HygieneFailed(
            f"the hygiene of GHE_DATA_DIR={data_dir} failed: {err.strerror or err}{where}",
            hint="check the data volume (read-only after I/O errors? see 'The data volume is read-only' "
            "in docs/backup-program.md)",
        ) from None
    finally:
        lock.release()

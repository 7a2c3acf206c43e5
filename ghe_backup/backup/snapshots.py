"""Read backup-utils' snapshot layout in ``GHE_DATA_DIR``.

backup-utils writes one directory per run, named by its start time (``20261127T080000``),
touches ``incomplete`` inside it while running (and leaves it there when the run fails),
writes the appliance's GHES version to ``version`` inside it (``v3.21.0``) and points the
``current`` symlink at the newest complete snapshot. Names are read as UTC: backup-utils names
them in local time, so the runner starts it with ``TZ=UTC`` (and the image sets it too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SNAPSHOT_NAME = re.compile(r"^\d{8}T\d{6}$")
INCOMPLETE = "incomplete"
CURRENT = "current"
VERSION_FILE = "version"


@dataclass(frozen=True)
class Snapshot:
    name: str
    path: Path
    taken_at: datetime  # start time, from the directory name
    complete: bool
    ghes_version: str | None = None  # the appliance's version the snapshot was taken from


def read_ghes_version(path: Path) -> str | None:
    """The GHES version backup-utils recorded in a snapshot directory, if any."""
    try:
        text = (path / VERSION_FILE).read_text(errors="replace").strip()
    except OSError:
        return None
    return text.splitlines()[0][:64] if text else None


def snapshot_time(name: str) -> datetime:
    """The UTC start time encoded in a snapshot directory name."""
    return datetime.strptime(name, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def snapshot_name(when: datetime) -> str:
    """The directory name backup-utils gives a snapshot started at ``when`` (UTC)."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def list_snapshots(data_dir: Path) -> list[Snapshot]:
    """Snapshot directories in ``data_dir``, oldest first; other entries are ignored."""
    if not data_dir.is_dir():
        return []
    found = []
    for entry in data_dir.iterdir():
        if not SNAPSHOT_NAME.match(entry.name) or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            taken_at = snapshot_time(entry.name)
        except ValueError:  # e.g. month 13: not a snapshot backup-utils made
            continue
        found.append(Snapshot(entry.name, entry, taken_at, not (entry / INCOMPLETE).exists(), read_ghes_version(entry)))
    return sorted(found, key=lambda s: s.name)


def newest_complete(data_dir: Path) -> Snapshot | None:
    """The newest snapshot without an ``incomplete`` marker, or None."""
    complete = [s for s in list_snapshots(data_dir) if s.complete]
    return complete[-1] if complete else None

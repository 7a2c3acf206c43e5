"""The data volume: is it really a volume, can it be written, does it hold other snapshot chains.

Under Docker every bind mount is a mount point, so "is ``/data`` a mount" proves nothing: when
the EBS volume is not attached, Taupage bind-mounts the root disk's ``/data`` directory instead.
``/proc/self/mountinfo`` tells the two apart: a volume is mounted from the root of its file
system (field 4 is ``/``), a bind-mounted directory from a path inside another one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .snapshots import SNAPSHOT_NAME

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class MountEntry:
    mount_point: str
    root: str  # the directory of the source file system that is mounted here
    fstype: str
    source: str
    read_only: bool


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as a backslash and three octal digits
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 10:
            continue
        dash = fields.index("-", 6)
        options = fields[5].split(",")
        entries.append(
            MountEntry(
                _unescape(fields[4]),
                _unescape(fields[3]),
                fields[dash + 1],
                _unescape(fields[dash + 2]),
                "ro" in options,
            )
        )
    return entries


def mount_entry(mount: Path, mountinfo: Path = MOUNTINFO) -> MountEntry | None:
    """The topmost mount at ``mount`` (symlinks resolved), or None if it is not a mount point."""
    target = os.path.realpath(mount)
    try:
        entries = parse_mountinfo(mountinfo.read_text())
    except OSError:
        return None
    found = [e for e in entries if e.mount_point == target]
    return found[-1] if found else None


def not_a_volume(mount: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """Why ``mount`` is not a whole file system mounted there, or None if it is."""
    entry = mount_entry(mount, mountinfo)
    if entry is None:
        return "is not a mount point"
    if entry.root != "/":
        return f"is the directory {entry.root} of {entry.source} ({entry.fstype}) bind-mounted, not a volume"
    return None


def unwritable(path: Path) -> str | None:
    """Why nothing can be written under ``path`` (a read-only remount, permissions), or None."""
    probe = path if path.exists() else path.parent
    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return "is mounted read-only"
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not os.access(probe, os.W_OK | os.X_OK):
        return "is not writable by this user"
    return None


def other_chains(mount: Path, data_dir: Path) -> list[tuple[Path, int]]:
    """Directories on the volume besides ``data_dir`` that hold snapshots, with their count.

    backup-utils prunes only its own ``GHE_DATA_DIR``: a chain anywhere else (the original's
    ``/data/ghe-production-data`` after GHE_DATA_DIR changed) grows until the disk is full.
    """
    found = []
    own = os.path.realpath(data_dir)
    try:
        children = [c for c in mount.iterdir() if c.is_dir() and not c.is_symlink()]
    except OSError:
        return []
    for child in sorted(children):
        if os.path.realpath(child) == own:
            continue
        try:
            count = sum(1 for e in child.iterdir() if SNAPSHOT_NAME.match(e.name) and e.is_dir())
        except OSError:
            continue
        if count:
            found.append((child, count))
    return found

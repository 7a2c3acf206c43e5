"""What the unit tests read, as one hash: the key a recorded pass is remembered under.

The key covers the files git sees (tracked and untracked-but-not-ignored, as they are on disk,
so a dirty tree is hashed as it is; a tracked file deleted from the tree counts as deleted),
the lock file, the Python that runs the tests (version, implementation, the distributions
installed next to it) and the pytest selection. It does not cover ignored files (``.venv``
beyond its installed distributions, ``.state/``, ``.sandbox/``) or environment variables: the
unit selection must not depend on them (integration tests, which do, are never remembered).
Outside a git checkout there is no key: what the tests read cannot be listed, so the tests run.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ghe_backup.plumbing.command import CommandMissing, CommandTimedOut, run

#: Bump when what goes into the key changes, so older records stop matching.
KEY_VERSION = "1"
LOCK_FILE = "requirements.lock"
GIT_TIMEOUT = 60.0
SHORT = 12


@dataclass(frozen=True)
class GateKey:
    digest: str  # sha256 hex of everything below
    files: int  # how many files went in
    selection: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.digest[:SHORT]


def listed_files(root: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored files, repo-relative and sorted; None outside git."""
    try:
        listed = run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            what="git ls-files",
            cwd=root,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (CommandMissing, CommandTimedOut):
        return None
    if listed.returncode != 0:
        return None
    return sorted({name for name in listed.stdout.split("\0") if name and not _byte_code(name)})


def _byte_code(name: str) -> bool:
    """Python's byte-code caches: made by running the tests, never read as their input."""
    return name.endswith(".pyc") or "__pycache__" in name.split("/")


def file_entry(root: Path, name: str) -> bytes:
    """One file as it is on disk: kind, executable bit and content (a symlink by its target)."""
    path = root / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        return b"deleted"
    if stat.S_ISLNK(info.st_mode):
        return b"link\0" + os.readlink(path).encode()
    if stat.S_ISDIR(info.st_mode):  # a submodule or nested checkout: its own content is not ours to hash
        return b"dir"
    kind = b"exec" if info.st_mode & 0o111 else b"file"
    return kind + b"\0" + hashlib.sha256(path.read_bytes()).digest()


@functools.cache  # one interpreter per process; a run hashes twice (before and after the tests)
def python_identity() -> tuple[str, ...]:
    """The interpreter and the distributions installed for it (the lock, as actually installed).

    Each distribution as its metadata folder names it (``name-version.dist-info``): installing,
    upgrading or removing one renames its folder. Reading every METADATA file instead (what
    ``importlib.metadata`` does) cost 0.1-0.2 s of CPU on every deploy, for the same answer.
    """
    installed = set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as found:
                for item in found:
                    if item.name.endswith((".dist-info", ".egg-info")):
                        installed.add(item.name.rsplit(".", 1)[0].lower().replace("_", "-"))
        except OSError:  # not a folder (a zip, a missing path entry)
            continue
    return (sys.version, sys.implementation.cache_tag or "", *sorted(installed))


def gate_key(root: Path, selection: Iterable[str]) -> GateKey | None:
    """The hash of what a unit-test run with ``selection`` (pytest arguments) would read; None outside git."""
    files = listed_files(root)
    if files is None:
        return None
    chosen = tuple(selection)
    digest = hashlib.sha256(f"ghe-backup gate key v{KEY_VERSION}\0".encode())

    def part(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    for name in files:
        part("file", name.encode() + b"\0" + file_entry(root, name))
    part("lock", file_entry(root, LOCK_FILE))  # also when the lock is not tracked
    for line in python_identity():
        part("python", line.encode())
    for arg in chosen:
        part("selection", arg.encode())
    return GateKey(digest=digest.hexdigest(), files=len(files), selection=chosen)

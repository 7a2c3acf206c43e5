"""The image's build context and its content tag.

The context is the files git sees (tracked plus untracked, not ignored) under
``CONTEXT_PATHS`` minus ``CONTEXT_EXCLUDES``; ``.dockerignore`` mirrors this list for a
manual ``docker build``. The tag is the git short sha; when the context differs from that
commit, or the build uses non-default build arguments (another base image, the stand-in
backup-utils), a hash of the context's content and those arguments is appended, so one tag
never names two contents. Outside a git checkout the tag is ``nogit-<hash>``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ghe_backup.plumbing.command import CommandMissing, CommandTimedOut, run

CONTEXT_PATHS = ("Dockerfile", ".dockerignore", "requirements-image.txt", "ghe_backup")
#: Pipeline code that the image does not run (and whose changes must not rebuild it).
PIPELINE_PACKAGES = ("delivery", "edge", "plumbing", "sandbox")
CONTEXT_EXCLUDES = tuple(f"ghe_backup/{package}" for package in PIPELINE_PACKAGES)
SHORT_SHA = 12
SUFFIX = 10
#: A fixed mtime in the context archive: rebuilding unchanged files gives identical layers.
FIXED_MTIME = 315532800  # 1980-01-01
GIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class ContentTag:
    tag: str
    revision: str  # the full commit sha, or "unknown" outside git
    dirty: bool  # the context differs from the commit


def _git(root: Path, *args: str) -> str | None:
    """git's output, or None outside a checkout (or without git)."""
    try:
        result = run(["git", *args], what="git", cwd=root, timeout=GIT_TIMEOUT, check=False)
    except (CommandMissing, CommandTimedOut):
        return None
    return result.stdout if result.returncode == 0 else None


def _pathspecs() -> list[str]:
    return [*CONTEXT_PATHS, *(f":(exclude){p}" for p in CONTEXT_EXCLUDES)]


def _excluded(relative: str) -> bool:
    parts = relative.split("/")
    if "__pycache__" in parts or relative.endswith(".pyc"):
        return True
    return any(relative == e or relative.startswith(e + "/") for e in CONTEXT_EXCLUDES)


def context_files(root: Path) -> list[str]:
    """The context's files as sorted repo-relative paths (git's view, or a walk outside git)."""
    listed = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *_pathspecs())
    if listed is not None:
        names = {n for n in listed.split("\0") if n}
    else:
        names = set()
        for top in CONTEXT_PATHS:
            path = root / top
            if path.is_file():
                names.add(top)
            for folder, _, files in os.walk(path):
                names.update(str(Path(folder, f).relative_to(root)) for f in files)
    return sorted(n for n in names if not _excluded(n) and (root / n).is_file())


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def content_hash(root: Path, files: list[str], build_args: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        path = root / name
        digest.update(f"{name}\0{int(_executable(path))}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for key in sorted(build_args):
        digest.update(f"arg\0{key}={build_args[key]}\0".encode())
    return digest.hexdigest()[:SUFFIX]


def content_tag(root: Path, build_args: dict[str, str] | None = None) -> ContentTag:
    """The tag for the context at ``root`` built with ``build_args`` (non-default ones only)."""
    build_args = build_args or {}
    files = context_files(root)
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return ContentTag(tag=f"nogit-{content_hash(root, files, build_args)}", revision="unknown", dirty=True)
    revision = head.strip()
    status = _git(root, "status", "--porcelain", "-z", "--untracked-files=all", "--", *_pathspecs())
    dirty = bool(status and any(not _excluded(e[3:]) for e in status.split("\0") if len(e) > 3))
    if not dirty and not build_args:
        return ContentTag(tag=revision[:SHORT_SHA], revision=revision, dirty=False)
    return ContentTag(
        tag=f"{revision[:SHORT_SHA]}-{content_hash(root, files, build_args)}", revision=revision, dirty=dirty
    )


def context_archive(root: Path, files: list[str] | None = None) -> io.BytesIO:
    """The build context as an uncompressed tar: the listed files only, owned by root, fixed mtime."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in files if files is not None else context_files(root):
            path = root / name
            info = tarfile.TarInfo(name)
            info.size = path.stat().st_size
            info.mode = 0o755 if _executable(path) else 0o644
            info.mtime = FIXED_MTIME
            with open(path, "rb") as handle:
                archive.addfile(info, handle)
    buffer.seek(0)
    return buffer

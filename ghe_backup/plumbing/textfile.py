"""Read a small text file safely: a regular file only, bounded in size, UTF-8, never a hang.

For the files people edit and the pipeline reads before anything runs (config, ``invoke.yaml``):
a FIFO, a device such as ``/dev/zero``, a socket or a directory is refused from its ``stat``
before any read; a file over the limit is refused rather than read; bytes that are not UTF-8
name the line. Every problem is a one-line ``ConfigError`` (exit 2) naming the file.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path

from ghe_backup.errors import ConfigError

MAX_BYTES = 256 * 1024  # config files are a few KB; anything near this is not a config file
_NOT_A_FILE = [
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
]


def display_path(path: Path) -> str:
    """A path as users should see it: relative to the working directory when possible."""
    try:  # the name as given (a symbolic link is named, not followed), relative to where we are
        absolute, here = os.path.abspath(path), os.getcwd()
        return os.path.relpath(absolute, here) if os.path.commonpath([absolute, here]) == here else str(path)
    except (ValueError, OSError):
        return str(path)


def read_text(path: Path, limit: int = MAX_BYTES) -> str:
    """The file's text, if it is a regular UTF-8 file of at most ``limit`` bytes."""
    shown = display_path(path)
    try:
        _check_regular(os.stat(path), shown, limit)
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, opening still returns.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        broken = os.path.islink(path)
        raise ConfigError(
            f"{shown}: {'a symbolic link to a missing file' if broken else 'file not found'}",
            hint="create it, or fix the link" if broken else None,
        ) from None
    except PermissionError:
        raise ConfigError(f"{shown}: cannot read: permission denied", hint="make it readable") from None
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read: {err.strerror or err}") from None
    try:
        _check_regular(os.fstat(fd), shown, limit)  # what was opened, not what the name pointed at before
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise ConfigError(f"{shown}: cannot read: {err.strerror or err}") from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > limit:
        raise _too_large(shown, limit)
    return _decode(raw, shown)


def _check_regular(info: os.stat_result, shown: str, limit: int) -> None:
    for test, kind in _NOT_A_FILE:
        if test(info.st_mode):
            raise ConfigError(f"{shown}: is {kind}, not a file", hint="give a regular file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{shown}: is not a regular file", hint="give a regular file")
    if info.st_size > limit:
        raise _too_large(shown, limit)


def _too_large(shown: str, limit: int) -> ConfigError:
    return ConfigError(
        f"{shown}: larger than {limit // 1024} KB, too large for a config file", hint="is it the right file?"
    )


def _decode(raw: bytes, shown: str) -> str:
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{shown}: is UTF-16 or UTF-32 text", hint="save it as UTF-8")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]  # editors add it; it carries no meaning
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x})", hint="save it as UTF-8"
        ) from None

"""Reading small text files: regular files only, bounded, UTF-8; never a hang, never a traceback."""

from __future__ import annotations

import codecs
import os
import socket
import threading
import time

import pytest

from ghe_backup.errors import ConfigError, ExitCode
from ghe_backup.plumbing.textfile import display_path, read_text


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def error_of(path, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        read_text(path, **kwargs)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    return str(info.value)


def test_a_regular_file_is_read(here):
    (here / "a.yaml").write_text("a: 1\n")
    assert read_text(here / "a.yaml") == "a: 1\n"


def test_a_fifo_is_refused_at_once_without_a_writer(here):
    os.mkfifo(here / "a.yaml")
    started = time.monotonic()
    assert error_of(here / "a.yaml") == "a.yaml: is a named pipe (FIFO), not a file (give a regular file)"
    assert time.monotonic() - started < 1


def test_a_symlink_to_dev_zero_is_refused_and_named_as_the_link(here):
    (here / "a.yaml").symlink_to("/dev/zero")
    assert error_of(here / "a.yaml") == "a.yaml: is a character device, not a file (give a regular file)"


def test_a_directory_and_a_socket_are_refused(here):
    (here / "a.yaml").mkdir()
    assert error_of(here / "a.yaml") == "a.yaml: is a directory, not a file (give a regular file)"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(here / "b.yaml"))
    try:
        assert error_of(here / "b.yaml") == "b.yaml: is a socket, not a file (give a regular file)"
    finally:
        server.close()


def test_missing_files_and_broken_links(here):
    assert error_of(here / "a.yaml") == "a.yaml: file not found"
    (here / "b.yaml").symlink_to(here / "nowhere.yaml")
    assert error_of(here / "b.yaml") == "b.yaml: a symbolic link to a missing file (create it, or fix the link)"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(here):
    (here / "a.yaml").write_text("a: 1\n")
    (here / "a.yaml").chmod(0)
    assert error_of(here / "a.yaml") == "a.yaml: cannot read: permission denied (make it readable)"


def test_a_file_over_the_limit_is_refused_before_reading(here):
    (here / "a.yaml").write_text("#" * 2048)
    assert error_of(here / "a.yaml", limit=1024) == (
        "a.yaml: larger than 1 KB, too large for a config file (is it the right file?)"
    )


def test_a_file_growing_while_read_stops_at_the_limit(here, monkeypatch):
    """The size is checked again on what is read, not only on what fstat said."""
    (here / "a.yaml").write_text("a: 1\n")
    chunks = iter([b"x" * 1000, b"y" * 1000, b""])
    monkeypatch.setattr(os, "read", lambda fd, n: next(chunks))
    assert error_of(here / "a.yaml", limit=1024).startswith("a.yaml: larger than 1 KB")


def test_a_utf8_byte_order_mark_is_dropped(here):
    (here / "a.yaml").write_bytes(codecs.BOM_UTF8 + b"a: 1\n")
    assert read_text(here / "a.yaml") == "a: 1\n"


def test_utf16_and_bytes_that_are_not_utf8_are_refused_with_the_line(here):
    (here / "a.yaml").write_text("a: 1\n", encoding="utf-16")
    assert error_of(here / "a.yaml") == "a.yaml: is UTF-16 or UTF-32 text (save it as UTF-8)"
    (here / "b.yaml").write_bytes(b"a: 1\nb: caf\xe9\n")
    assert error_of(here / "b.yaml") == "b.yaml:2: not UTF-8 text (byte 0xe9) (save it as UTF-8)"


def test_a_fifo_swapped_in_after_the_check_does_not_hang(here, monkeypatch):
    """Opening is non-blocking, and what was opened is checked again."""
    os.mkfifo(here / "a.yaml")
    (here / "regular").write_text("")
    real_stat = os.stat
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: real_stat(here / "regular"))  # the first look saw a file
    result = {}
    worker = threading.Thread(target=lambda: result.update(error=error_of(here / "a.yaml")))
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert result["error"] == "a.yaml: is a named pipe (FIFO), not a file (give a regular file)"


def test_display_path_names_links_as_given_and_relative_to_here(here):
    (here / "config").mkdir()
    (here / "config" / "a.yaml").symlink_to("/dev/zero")
    assert display_path(here / "config" / "a.yaml") == "config/a.yaml"
    assert display_path(here.parent / "elsewhere.yaml") == str(here.parent / "elsewhere.yaml")

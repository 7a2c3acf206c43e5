"""The backup lock holds across processes and dies with its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import REPO_ROOT

from ghe_backup.backup.lock import BackupLock, lock_is_held

HOLDER = """
import sys
from pathlib import Path
from ghe_backup.backup.lock import BackupLock
lock = BackupLock(Path(sys.argv[1]))
print("locked" if lock.acquire() else "busy", flush=True)
sys.stdin.read()
"""


def _holder(path):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        cwd=REPO_ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    return proc, proc.stdout.readline().strip()


def test_lock_excludes_a_second_holder_in_the_same_process(tmp_path):
    path = tmp_path / "lock"
    first, second = BackupLock(path), BackupLock(path)
    assert not lock_is_held(path)
    assert first.acquire() and first.held
    assert lock_is_held(path)
    assert not second.acquire() and not second.held
    first.release()
    assert not lock_is_held(path)
    assert second.acquire()
    second.release()


def test_lock_holds_across_processes_and_is_freed_when_the_holder_dies(tmp_path):
    path = tmp_path / "data" / "lock"
    proc, answer = _holder(path)
    try:
        assert answer == "locked"
        assert lock_is_held(path)
        assert not BackupLock(path).acquire()
        other, other_answer = _holder(path)
        other.communicate("")
        assert other_answer == "busy"
        assert path.read_text().strip() == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean release: the kernel must free the lock
        proc.wait()
    assert not lock_is_held(path)
    assert BackupLock(path).acquire()


def test_probing_never_makes_a_waiting_acquire_fail(tmp_path):
    import threading

    path = tmp_path / "lock"
    path.touch()
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            lock_is_held(path)

    probers = [threading.Thread(target=probe) for _ in range(2)]
    for thread in probers:
        thread.start()
    try:
        for _ in range(30):
            lock = BackupLock(path)
            assert lock.acquire(wait=0.5)
            assert path.read_text().strip() == str(os.getpid())  # probes do not rewrite it
            lock.release()
    finally:
        stop.set()
        for thread in probers:
            thread.join()


def test_acquire_waits_for_a_short_holder(tmp_path):
    import threading

    path = tmp_path / "lock"
    holder = BackupLock(path)
    assert holder.acquire()
    threading.Timer(0.1, holder.release).start()
    assert not BackupLock(path).acquire()  # no patience: busy
    assert BackupLock(path).acquire(wait=2)


def test_a_full_disk_does_not_leak_the_lock(small_tmpfs):
    # The lock file is created on the full disk: the flock succeeds, writing the pid cannot.
    from conftest import fill_disk

    path = small_tmpfs / ".ghe-backup.lock"
    filler = fill_disk(small_tmpfs)
    lock = BackupLock(path)
    assert lock.acquire() and lock.held  # the flock is the lock; the pid is only for people
    assert lock_is_held(path)
    lock.release()
    assert not lock_is_held(path)
    filler.unlink()
    assert BackupLock(path).acquire()

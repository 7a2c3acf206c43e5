"""Hygiene on real directories with backdated mtimes and real processes: exactly the markers
no live backup-utils run owns and the stalled snapshots go; everything else stays."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ghe_backup.backup.hygiene import run_hygiene
from ghe_backup.backup.lock import BackupLock, lock_is_held

HOUR = 3600


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def _snapshot(data_dir: Path, name: str, age: float, *, complete: bool) -> Path:
    path = data_dir / name
    (path / "repositories").mkdir(parents=True)
    (path / "repositories" / "data").write_text("x")
    if not complete:
        (path / "incomplete").touch()
        _age(path / "incomplete", age)
    _age(path, age)
    return path


def _clean(settings, **kw):
    return run_hygiene(
        settings.data_dir, settings.lock_path, stale_marker_age=6 * HOUR, stalled_snapshot_age=24 * HOUR, **kw
    )


def _tree(data_dir: Path) -> set[str]:
    """Everything in the data dir but the lock file, which taking the lock creates."""
    return {str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.name != ".ghe-backup.lock"}


def test_exactly_stale_things_go(settings, data_dir):
    keep = [
        _snapshot(data_dir, "20261101T000000", 30 * 24 * HOUR, complete=True),  # old but complete
        _snapshot(data_dir, "20261126T080000", 2 * HOUR, complete=True),
        _snapshot(data_dir, "20261127T060000", 3 * HOUR, complete=False),  # failed recently
    ]
    gone = [
        _snapshot(data_dir, "20261120T080000", 7 * 24 * HOUR, complete=False),
        _snapshot(data_dir, "20261125T080000", 25 * HOUR, complete=False),
    ]
    (data_dir / "current").symlink_to("20261126T080000")
    (data_dir / "lost+found").mkdir()
    (data_dir / "in-progress").write_text("20261120T080000 4242\n")
    _age(data_dir / "in-progress", 7 * HOUR)

    report = _clean(settings)

    assert report.removed_markers == ["in-progress"] and report.skipped_reason is None
    assert sorted(report.removed_snapshots) == [p.name for p in gone]
    assert all(not p.exists() for p in gone) and not (data_dir / "in-progress").exists()
    assert all(p.is_dir() for p in keep)
    assert (data_dir / "20261126T080000" / "repositories" / "data").read_text() == "x"
    assert os.readlink(data_dir / "current") == "20261126T080000" and (data_dir / "lost+found").is_dir()


@pytest.fixture
def live_backup_utils():
    """A live process whose command line runs ghe-backup, as a hand-started backup-utils would."""
    proc = subprocess.Popen(["/opt/backup-utils/bin/ghe-backup", "60"], executable="sleep")
    deadline = time.monotonic() + 5
    while b"ghe-backup" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():  # exec is done
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_markers_of_a_live_backup_utils_run_and_a_recently_touched_snapshot_stay(settings, data_dir, live_backup_utils):
    (data_dir / "in-progress").write_text(f"20261127T080000 {live_backup_utils}\n")
    (data_dir / "in-progress-backup").write_text(f"20261127T080000 {live_backup_utils}\n")
    _age(data_dir / "in-progress", 30 * HOUR)  # a long run: its age does not matter, its process does
    # The directory is old, but its incomplete marker was touched an hour ago: still alive.
    stalled_looking = _snapshot(data_dir, "20261126T080000", 2 * 24 * HOUR, complete=False)
    _age(stalled_looking / "incomplete", HOUR)
    before = _tree(data_dir)
    report = _clean(settings)
    assert report.removed_markers == [] and report.removed_snapshots == []
    assert _tree(data_dir) == before


def test_markers_whose_process_is_gone_go_at_once(settings, data_dir):
    # A killed run leaves both; in-progress-backup (backup-utils >= 3.10) blocks ghe-restore.
    dead = _dead_pid()
    for name in ("in-progress", "in-progress-backup"):
        (data_dir / name).write_text(f"20261127T080000 {dead}\n")
    assert _clean(settings).removed_markers == ["in-progress", "in-progress-backup"]
    assert not (data_dir / "in-progress").exists() and not (data_dir / "in-progress-backup").exists()


def test_a_live_pid_that_is_not_backup_utils_does_not_keep_a_marker(settings, data_dir):
    # After a container restart the old run's pid may belong to anything in the new pid namespace.
    (data_dir / "in-progress").write_text(f"20261127T080000 {os.getpid()}\n")
    assert _clean(settings).removed_markers == ["in-progress"]


def test_a_marker_without_a_pid_goes_by_age(settings, data_dir):
    (data_dir / "in-progress").write_text("")  # what a full disk leaves
    assert _clean(settings).removed_markers == []
    _age(data_dir / "in-progress", 7 * HOUR)
    assert _clean(settings).removed_markers == ["in-progress"]


def test_nothing_goes_while_a_backup_holds_the_lock(settings, data_dir):
    (data_dir / "in-progress").write_text("20261120T080000 4242\n")
    _age(data_dir / "in-progress", 48 * HOUR)
    _snapshot(data_dir, "20261120T080000", 48 * HOUR, complete=False)
    before = _tree(data_dir)
    with BackupLock(settings.lock_path) as acquired:  # a separate open file: flock conflicts
        assert acquired
        report = _clean(settings, lock_patience=0.05)
    assert report.skipped_reason == "a backup holds the lock"
    assert _tree(data_dir) == before
    # Once the lock is free, the same call cleans up.
    assert _clean(settings).removed_markers == ["in-progress"]


@pytest.mark.process
def test_an_io_error_is_one_line_and_exit_1_not_a_traceback(backup_env, small_tmpfs):
    # A stalled snapshot on a part of the volume that turned read-only: the lock is taken (the data
    # directory itself is writable), removing the snapshot fails with EROFS from the kernel.
    import json

    from conftest import remount_read_only, run_cli

    data_dir = small_tmpfs / "ghe-data"
    stalled = data_dir / "20261001T000000"
    stalled.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(stalled)], check=True)
    try:
        (stalled / "incomplete").touch()
        _age(stalled / "incomplete", 48 * HOUR)
        _age(stalled, 48 * HOUR)
        remount_read_only(stalled)
        env = {**backup_env, "DATA_MOUNT": str(small_tmpfs), "GHE_DATA_DIR": str(data_dir)}
        result = run_cli(["hygiene"], env)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            f"ghe-backup-service: error: the hygiene of GHE_DATA_DIR={data_dir} failed: Read-only file system "
            f"({stalled / 'incomplete'}) (check the data volume (read-only after I/O errors? see 'The data volume "
            "is read-only' in docs/backup-program.md))"
        ]
        assert stalled.is_dir() and not lock_is_held(data_dir / ".ghe-backup.lock")  # released
        events = [json.loads(line)["event"] for line in result.stdout.splitlines() if line.startswith("{")]
        assert "stalled_snapshot_removed" not in events
    finally:
        subprocess.run(["umount", "-l", str(stalled)], check=False)

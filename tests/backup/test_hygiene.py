"""Hygiene on real directories with backdated mtimes: exactly the stale marker and the
stalled snapshots go; complete snapshots and everything else stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ghe_backup.backup.hygiene import run_hygiene
from ghe_backup.backup.lock import BackupLock

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
    return run_hygiene(settings.data_dir, settings.lock_path, stale_marker_age=6 * HOUR,
                       stalled_snapshot_age=24 * HOUR, **kw)


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

    assert report.removed_marker is True and report.skipped_reason is None
    assert sorted(report.removed_snapshots) == [p.name for p in gone]
    assert all(not p.exists() for p in gone) and not (data_dir / "in-progress").exists()
    assert all(p.is_dir() for p in keep)
    assert (data_dir / "20261126T080000" / "repositories" / "data").read_text() == "x"
    assert os.readlink(data_dir / "current") == "20261126T080000" and (data_dir / "lost+found").is_dir()


def test_fresh_marker_and_recently_touched_incomplete_snapshot_stay(settings, data_dir):
    (data_dir / "in-progress").write_text("20261127T080000 4242\n")
    _age(data_dir / "in-progress", 5 * HOUR)
    # The directory is old, but its incomplete marker was touched an hour ago: still alive.
    stalled_looking = _snapshot(data_dir, "20261126T080000", 2 * 24 * HOUR, complete=False)
    _age(stalled_looking / "incomplete", HOUR)
    before = _tree(data_dir)
    report = _clean(settings)
    assert report.removed_marker is False and report.removed_snapshots == []
    assert _tree(data_dir) == before


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
    assert _clean(settings).removed_marker is True

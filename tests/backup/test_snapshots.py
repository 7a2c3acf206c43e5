"""Reading backup-utils' snapshot layout."""

from __future__ import annotations

from datetime import UTC, datetime

from ghe_backup.backup.snapshots import list_snapshots, newest_complete, snapshot_name, snapshot_time


def test_names_round_trip_in_utc():
    when = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
    assert snapshot_name(when) == "20261127T080000"
    assert snapshot_time(snapshot_name(when)) == when


def test_list_ignores_everything_but_snapshot_dirs(data_dir):
    for name in ("20261125T080000", "20261126T080000", "20261127T080000"):
        (data_dir / name).mkdir()
    (data_dir / "20261127T080000" / "incomplete").touch()
    (data_dir / "current").symlink_to("20261126T080000")
    (data_dir / "in-progress").write_text("20261127T080000 123\n")
    (data_dir / "lost+found").mkdir()
    (data_dir / "20261399T000000").mkdir()  # month 13: not a backup-utils name
    (data_dir / "20260101T000000").write_text("a file, not a dir")
    found = list_snapshots(data_dir)
    assert [(s.name, s.complete) for s in found] == [
        ("20261125T080000", True),
        ("20261126T080000", True),
        ("20261127T080000", False),
    ]
    assert newest_complete(data_dir).name == "20261126T080000"


def test_empty_or_missing_data_dir(tmp_path):
    assert list_snapshots(tmp_path / "missing") == [] and newest_complete(tmp_path) is None

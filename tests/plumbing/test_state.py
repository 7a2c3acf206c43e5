"""The pipeline's state files: atomic JSON writes, tolerant reads."""

from __future__ import annotations

from ghe_backup.plumbing.state import read_json, write_json_atomic


def test_round_trip_and_no_temporary_files_left(tmp_path):
    path = tmp_path / ".state" / "x.json"
    write_json_atomic(path, {"b": 1, "a": [1, 2]})
    assert read_json(path) == {"a": [1, 2], "b": 1}
    write_json_atomic(path, {"c": 3})
    assert read_json(path) == {"c": 3}
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]


def test_missing_or_torn_files_read_as_the_default(tmp_path):
    assert read_json(tmp_path / "none.json", {}) == {}
    (tmp_path / "torn.json").write_text('{"a": ')
    assert read_json(tmp_path / "torn.json", []) == []

"""The state file: records runs, survives restarts, tolerates damage."""

from __future__ import annotations

import json
import logging

from ghe_backup.backup.state import RunRecord, load_state, record_run


def test_runs_accumulate_and_last_success_sticks(tmp_path):
    path = tmp_path / "state.json"
    assert load_state(path).last_run is None
    record_run(path, RunRecord(100.0, 160.0, 60.0, 0, "success"))
    record_run(path, RunRecord(200.0, 230.5, 30.5, 3, "failed"))
    state = load_state(path)
    assert state.last_run == RunRecord(200.0, 230.5, 30.5, 3, "failed")
    assert state.last_success_at == 160.0
    assert state.runs_total == {"success": 1, "failed": 1, "terminated": 0}
    assert json.loads(path.read_text())["last_run"]["exit_code"] == 3


def test_damaged_file_reads_as_empty_and_is_logged(tmp_path, caplog):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        state = load_state(path)
    assert state.last_run is None and "state_unreadable" in caplog.text
    record_run(path, RunRecord(1.0, 2.0, 1.0, 0, "success"))  # and it is repaired by the next run
    assert load_state(path).runs_total["success"] == 1


def test_a_full_disk_leaves_no_temp_files_and_raises_nothing(small_tmpfs, caplog):
    from conftest import fill_disk

    path = small_tmpfs / ".ghe-backup-state.json"
    record_run(path, RunRecord(1.0, 2.0, 1.0, 0, "success"))
    filler = fill_disk(small_tmpfs)
    with caplog.at_level(logging.WARNING):
        record_run(path, RunRecord(3.0, 4.0, 1.0, 1, "failed"))  # must not fail the run it records
    assert "state_unwritable" in caplog.text
    assert sorted(p.name for p in small_tmpfs.iterdir()) == [".ghe-backup-state.json", "filler"]
    assert load_state(path).last_run.result == "success"  # the old file is intact
    filler.unlink()
    record_run(path, RunRecord(5.0, 6.0, 1.0, 0, "success"))
    assert load_state(path).runs_total == {"success": 2, "failed": 0, "terminated": 0}

"""Running backup-utils (the stand-in) once: results recorded, one run at a time,
a shutdown lets a run finish or stops it cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from ghe_backup.backup.backup_config import write_backup_config
from ghe_backup.backup.lock import BackupLock, lock_is_held
from ghe_backup.backup.runner import BackupCommandMissing, BackupRunner
from ghe_backup.backup.snapshots import list_snapshots
from ghe_backup.backup.state import load_state

from conftest import REPO_ROOT, events, subprocess_env


@pytest.fixture
def runner(settings, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    write_backup_config(settings)
    return BackupRunner(settings, lock_patience=0.05)


def _starts(tmp_path) -> list[str]:
    record = tmp_path / "record"
    return [line for line in record.read_text().splitlines() if line.startswith("start")] if record.exists() else []


def test_success_is_recorded_with_exit_code_and_duration(runner, settings, caplog, tmp_path):
    caplog.set_level("INFO")
    outcome = runner.run_once()
    assert outcome.result == "success" and outcome.exit_code == 0 and outcome.duration_seconds > 0
    [snap] = list_snapshots(settings.data_dir)
    assert snap.complete
    state = load_state(settings.state_path)
    assert state.last_run.exit_code == 0 and state.last_run.result == "success"
    assert state.last_run.duration_seconds == pytest.approx(outcome.duration_seconds, abs=0.01)
    assert state.runs_total["success"] == 1
    lines = [e["line"] for e in events(caplog) if e["event"] == "backup_output"]
    assert "Completed backup of github.example.com in snapshot " + snap.name in lines  # via backup.config
    assert not lock_is_held(settings.lock_path)


def test_failure_is_recorded_and_leaves_incomplete(runner, settings, monkeypatch):
    monkeypatch.setenv("GHE_STANDIN_FAIL", "1")
    outcome = runner.run_once()
    assert outcome.result == "failed" and outcome.exit_code == 1
    state = load_state(settings.state_path)
    assert state.last_run.exit_code == 1 and state.runs_total == {"success": 0, "failed": 1, "terminated": 0}
    assert state.last_success_at is None
    assert [s.complete for s in list_snapshots(settings.data_dir)] == [False]


def test_missing_command_is_a_config_error(settings):
    with pytest.raises(BackupCommandMissing, match="GHE_BACKUP_COMMAND") as err:
        BackupRunner(replace(settings, backup_command="no-such-ghe-backup-xyz")).run_once()
    assert err.value.exit_code == 2


def test_a_held_lock_skips_the_run(runner, settings, tmp_path, caplog):
    with BackupLock(settings.lock_path):
        outcome = runner.run_once()
    assert outcome.result == "skipped"
    assert [e["reason"] for e in events(caplog) if e["event"] == "backup_skipped"] == ["another backup holds the lock"]
    assert _starts(tmp_path) == [] and load_state(settings.state_path).last_run is None


def _run_in_thread(runner):
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(runner.run_once()))
    thread.start()
    return thread, outcomes


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_stop_terminates_a_run_that_outlives_the_grace(runner, settings, monkeypatch):
    monkeypatch.setenv("GHE_STANDIN_SLEEP", "60")
    thread, outcomes = _run_in_thread(runner)
    _wait_for(lambda: (settings.data_dir / "in-progress").exists())
    started = time.monotonic()
    assert runner.stop(grace=0.2) is False
    thread.join(5)
    assert time.monotonic() - started < 5
    assert outcomes[0].result == "terminated" and outcomes[0].exit_code == 143
    assert load_state(settings.state_path).last_run.result == "terminated"
    assert not lock_is_held(settings.lock_path)
    assert not (settings.data_dir / "in-progress").exists()  # backup-utils' own trap ran
    assert runner.run_once().result == "skipped"  # no new run after stop


def test_stop_lets_a_short_run_finish(runner, settings, monkeypatch):
    monkeypatch.setenv("GHE_STANDIN_SLEEP", "0.3")
    thread, outcomes = _run_in_thread(runner)
    _wait_for(lambda: (settings.data_dir / "in-progress").exists())
    assert runner.stop(grace=10) is True
    thread.join(5)
    assert outcomes[0].result == "success"


def test_two_processes_racing_run_exactly_one_backup(backup_env, settings, tmp_path):
    record = tmp_path / "record"
    env = subprocess_env({**backup_env, "GHE_STANDIN_SLEEP": "1", "GHE_STANDIN_RECORD": str(record)})
    procs = [subprocess.Popen([sys.executable, "-m", "ghe_backup", "backup-once"], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    events = [[json.loads(line)["event"] for line in out.splitlines()] for out, _ in outputs]
    finished = [e for e in events if "backup_finished" in e]
    skipped = [e for e in events if "backup_skipped" in e]
    assert len(finished) == 1 and len(skipped) == 1, events
    assert len(_starts(tmp_path)) == 1
    assert len(list_snapshots(settings.data_dir)) == 1


def test_stop_during_hygiene_starts_no_backup(runner, settings, monkeypatch, tmp_path):
    import ghe_backup.backup.runner as runner_module

    real_clean = runner_module.clean_data_dir
    stopper = []

    def clean_then_stop(*args, **kwargs):
        real_clean(*args, **kwargs)
        stopper.append(threading.Thread(target=runner.stop, args=(0.0,), daemon=True))
        stopper[0].start()
        _wait_for(lambda: runner.run_once().reason == "shutting down")  # the flag is up

    monkeypatch.setattr(runner_module, "clean_data_dir", clean_then_stop)
    outcome = runner.run_once()
    assert outcome == runner_module.RunOutcome("skipped", reason="shutting down")
    assert _starts(tmp_path) == [] and list_snapshots(settings.data_dir) == []
    stopper[0].join(5)
    assert not stopper[0].is_alive() and not lock_is_held(settings.lock_path)

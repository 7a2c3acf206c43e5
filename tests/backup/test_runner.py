"""Running backup-utils (the stand-in) once: results recorded, one run at a time; a shutdown
or Ctrl-C signals it at once and waits for its clean-up; nothing of it outlives the lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest
from conftest import REPO_ROOT, events, subprocess_env

from ghe_backup.backup.backup_config import write_backup_config
from ghe_backup.backup.lock import BackupLock, lock_is_held
from ghe_backup.backup.runner import BackupCommandMissing, BackupRunner, RunHooks
from ghe_backup.backup.snapshots import list_snapshots
from ghe_backup.backup.state import load_state


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


def _record(tmp_path) -> list[str]:
    return (tmp_path / "record").read_text().splitlines()


@pytest.mark.process
def test_stop_signals_at_once_and_waits_for_backup_utils_clean_up(runner, settings, monkeypatch, tmp_path):
    # backup-utils' exit trap re-enables git gc on the appliance and removes its markers: that is
    # what a shutdown must wait for, not the hours a running backup still needs.
    monkeypatch.setenv("GHE_STANDIN_SLEEP", "60")
    monkeypatch.setenv("GHE_STANDIN_CLEANUP_SECONDS", "1.5")
    thread, outcomes = _run_in_thread(runner)
    _wait_for(lambda: (settings.data_dir / "in-progress-backup").exists())
    started = time.monotonic()
    assert runner.stop(grace=10) is True
    elapsed = time.monotonic() - started
    thread.join(5)
    assert 1.5 <= elapsed < 4, elapsed  # signalled at once, then its whole clean-up
    assert outcomes[0].result == "terminated" and outcomes[0].exit_code == 143
    record = _record(tmp_path)
    assert [line.split()[0] for line in record] == ["start", "cleanup-start", "cleanup-done", "end"]
    assert load_state(settings.state_path).last_run.result == "terminated"
    assert not lock_is_held(settings.lock_path)
    assert not (settings.data_dir / "in-progress").exists() and not (settings.data_dir / "in-progress-backup").exists()
    assert runner.run_once().result == "skipped"  # no new run after stop


@pytest.mark.process
def test_a_clean_up_that_outlives_the_grace_is_killed_and_its_markers_removed(runner, settings, monkeypatch, tmp_path):
    monkeypatch.setenv("GHE_STANDIN_SLEEP", "60")
    monkeypatch.setenv("GHE_STANDIN_CLEANUP_SECONDS", "60")
    thread, outcomes = _run_in_thread(runner)
    _wait_for(lambda: (settings.data_dir / "in-progress-backup").exists())
    started = time.monotonic()
    assert runner.stop(grace=0.5) is True
    thread.join(5)
    assert time.monotonic() - started < 4
    assert outcomes[0].result == "terminated" and outcomes[0].exit_code == -9
    assert "cleanup-done" not in " ".join(_record(tmp_path))  # SIGKILL: its trap never finished
    # ... so the markers it would have removed are ours to remove: ghe-restore refuses to run
    # while in-progress-backup exists, and the next backup while in-progress does.
    assert not (settings.data_dir / "in-progress").exists() and not (settings.data_dir / "in-progress-backup").exists()
    assert not lock_is_held(settings.lock_path)


def test_what_backup_utils_leaves_running_in_its_group_is_stopped(settings, data_dir):
    # A background child that keeps the output pipe open used to hold the run (and the lock).
    runner = BackupRunner(replace(settings, backup_command="sh -c 'sleep 60 & echo started'"), lock_patience=0.05)
    started = time.monotonic()
    outcome = runner.run_once()
    assert outcome.result == "success" and time.monotonic() - started < 5
    assert not lock_is_held(settings.lock_path)


def test_snapshot_names_are_utc_whatever_tz_the_container_has(runner, settings, monkeypatch):
    # backup-utils names snapshots with `date +%Y%m%dT%H%M%S`, in local time; /health reads UTC.
    monkeypatch.setenv("TZ", "XYZ-5:45")  # POSIX: UTC+05:45, no tzdata needed
    before = time.time()
    assert runner.run_once().result == "success"
    [snap] = list_snapshots(settings.data_dir)
    assert before - 2 <= snap.taken_at.timestamp() <= time.time() + 1, snap.name


def test_a_run_records_the_ghes_version_and_alerts_when_it_is_unsupported(runner, settings, monkeypatch, caplog):
    caplog.set_level("INFO")
    monkeypatch.setenv("GHE_STANDIN_GHES_VERSION", "v3.18.7")
    outcome = runner.run_once()
    assert outcome.result == "success" and outcome.ghes_version == "v3.18.7"
    [alert] = [e for e in events(caplog) if e["event"] == "ghes_version_unsupported"]
    assert alert["level"] == "error" and alert["ghes_version"] == "v3.18.7" and alert["supported"] == "3.19-3.21"
    finished = [e for e in events(caplog) if e["event"] == "backup_finished"]
    assert finished[-1]["ghes_version"] == "v3.18.7"


@pytest.mark.process
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_during_backup_once_stops_backup_utils_before_the_lock_is_released(
    backup_env, settings, tmp_path, signum
):
    # Ctrl-C reaches only backup-once (backup-utils runs in its own session): the backup used to
    # keep running, orphaned, after the lock was released.
    record = tmp_path / "record"
    env = subprocess_env(
        {
            **backup_env,
            "GHE_STANDIN_SLEEP": "60",
            "GHE_STANDIN_CLEANUP_SECONDS": "0.5",
            "GHE_STANDIN_RECORD": str(record),
        }
    )
    settings.data_dir.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ghe_backup", "backup-once"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: record.exists() and (settings.data_dir / "in-progress").exists())
    backup_pid = int(record.read_text().split()[1])
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 1, err
    assert err.strip().splitlines()[-1].startswith("ghe-backup-service: error: backup terminated with exit code 143")
    assert "Traceback" not in err
    assert _record(tmp_path)[-1] == f"end {backup_pid} 143" and not _alive(backup_pid)
    assert not lock_is_held(settings.lock_path) and not (settings.data_dir / "in-progress").exists()
    assert load_state(settings.state_path).last_run.result == "terminated"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.process
def test_two_processes_racing_run_exactly_one_backup(backup_env, settings, tmp_path):
    record = tmp_path / "record"
    env = subprocess_env({**backup_env, "GHE_STANDIN_SLEEP": "1", "GHE_STANDIN_RECORD": str(record)})
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ghe_backup", "backup-once"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
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


def test_after_a_full_disk_the_next_run_backs_up(settings, small_tmpfs, monkeypatch, tmp_path):
    # Disk full during a run must not stop backups for good: once space is freed, the next
    # scheduled run backs up (it used to be skipped for "another backup holds the lock").
    from conftest import fill_disk

    monkeypatch.setenv("GHE_STANDIN_RECORD", str(tmp_path / "record"))
    on_volume = replace(settings, data_mount=small_tmpfs, data_dir=small_tmpfs / "ghe-data")
    on_volume.data_dir.mkdir()
    write_backup_config(on_volume)
    runner = BackupRunner(on_volume, lock_patience=0.05)
    filler = fill_disk(small_tmpfs)
    assert runner.run_once().result == "failed"
    assert not lock_is_held(on_volume.lock_path)
    filler.unlink()
    outcome = runner.run_once()
    assert outcome.result == "success", outcome
    assert [s.complete for s in list_snapshots(on_volume.data_dir)][-1] is True
    assert not lock_is_held(on_volume.lock_path)


def test_a_command_that_cannot_start_is_a_failed_run_and_the_lock_is_released(settings, data_dir, tmp_path):
    finished = []
    script = tmp_path / "ghe-backup"
    script.write_text("#!/no/such/interpreter\n")  # executable, but exec fails
    script.chmod(0o755)
    runner = BackupRunner(
        replace(settings, backup_command=str(script)), lock_patience=0.05, hooks=RunHooks(finished=finished.append)
    )
    outcome = runner.run_once()
    assert outcome.result == "failed" and "No such file or directory" in outcome.reason
    assert finished == [outcome] and not lock_is_held(settings.lock_path)

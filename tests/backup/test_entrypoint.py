"""The service end to end in a subprocess: start, back up on schedule with the stand-in,
answer /health and /metrics, stop cleanly on SIGTERM or SIGINT (also in the middle of a
backup), and keep answering on a data volume that turned read-only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace

import pytest
from conftest import REPO_ROOT, free_port, parse_prometheus, subprocess_env

from ghe_backup.backup.entrypoint import prepare
from ghe_backup.backup.lock import lock_is_held
from ghe_backup.backup.snapshots import newest_complete
from ghe_backup.backup.sshkey import KeyDecryptError
from ghe_backup.backup.state import load_state


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def _wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def service(backup_env, settings, tmp_path):
    """Start `python -m ghe_backup run` with a schedule of every second; yields a controller."""
    settings.ssh_key_path.parent.mkdir(parents=True)
    settings.ssh_key_path.write_text("already installed\n")  # kept: no KMS needed here
    port = free_port()
    log_path = tmp_path / "service.log"
    procs = []

    def start(**extra):
        env = {**backup_env, "BACKUP_SCHEDULE": "* * * * * *", "HEALTH_PORT": str(port), **extra}
        with log_path.open("w") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ghe_backup", "run"],
                    env=subprocess_env(env),
                    cwd=REPO_ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return procs[-1], f"http://127.0.0.1:{port}", log_path

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _events(log_path):
    return [json.loads(line) for line in log_path.read_text().splitlines()]


@pytest.mark.process
def test_service_backs_up_reports_health_and_stops_cleanly(service, settings):
    proc, url, log_path = service()
    # A finished run, not just a snapshot directory: backup-utils creates it a moment before
    # it marks it incomplete.
    _wait_for(lambda: load_state(settings.state_path).runs_total["success"] >= 1)
    snapshot = newest_complete(settings.data_dir).name
    _wait_for(lambda: _get(url + "/health")[0] == 200)
    code, body = _get(url + "/health")
    assert code == 200 and json.loads(body)["last_snapshot"] >= snapshot
    _, samples = parse_prometheus(_get(url + "/metrics")[1])
    assert samples[("ghe_backup_snapshots_kept", ())] >= 1

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    events = _events(log_path)  # every line is JSON: json.loads would have raised
    names = [e["event"] for e in events]
    for expected in (
        "service_starting",
        "ssh_key_kept",
        "backup_config_written",
        "health_server_started",
        "backup_started",
        "backup_finished",
        "shutdown_requested",
        "service_stopped",
    ):
        assert expected in names
    assert names[-1] == "service_stopped"
    assert "GHE_HOSTNAME=github.example.com\n" in settings.backup_config_path.read_text()
    assert not lock_is_held(settings.lock_path)
    assert load_state(settings.state_path).runs_total["success"] >= 1


@pytest.mark.process
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_long_backup_stops_it_cleanly(service, settings, signum, tmp_path):
    record = tmp_path / "record"
    proc, url, log_path = service(GHE_STANDIN_SLEEP="60", GHE_STANDIN_RECORD=str(record))
    _wait_for(lambda: (settings.data_dir / "in-progress").exists())
    _wait_for(lambda: json.loads(_get(url + "/health")[1])["backup_running"] is True)
    started = time.monotonic()
    proc.send_signal(signum)
    assert proc.wait(15) == 0
    assert time.monotonic() - started < 5
    assert load_state(settings.state_path).last_run.result == "terminated"
    assert not (settings.data_dir / "in-progress").exists() and not lock_is_held(settings.lock_path)
    pid = int(record.read_text().split()[1])
    assert f"end {pid} 143" in record.read_text() and not _alive(pid)  # backup-utils ended with us
    stopped = [e for e in _events(log_path) if e["event"] == "service_stopped"]
    assert stopped == [dict(stopped[0], backup_was_running=True)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.process
def test_a_read_only_data_volume_keeps_the_service_answering(backup_env, small_tmpfs, tmp_path):
    # ext4's errors=remount-ro after an I/O error: no traceback, no restart loop, but a health
    # answer that says so, and no backup attempts that could make things worse.
    from conftest import remount_read_only

    data_dir = small_tmpfs / "ghe-data"
    (data_dir / "20261101T000000").mkdir(parents=True)
    remount_read_only(small_tmpfs)
    home = tmp_path / "home" / ".ssh"
    home.mkdir(parents=True)
    (home / "id_rsa").write_text("already installed\n")
    port = free_port()
    env = {
        **backup_env,
        "DATA_MOUNT": str(small_tmpfs),
        "GHE_DATA_DIR": str(data_dir),
        "REQUIRE_DATA_MOUNT": "1",
        "BACKUP_SCHEDULE": "* * * * * *",
        "HEALTH_PORT": str(port),
    }
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ghe_backup", "run"],
            env=subprocess_env(env),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(lambda: "backup_not_started" in log_path.read_text())  # a scheduled run was refused
        code, body = _get(url + "/health")
        answer = json.loads(body)
        assert code == 200 and "data_volume_unwritable" in answer["alerts"], body
        assert any("is mounted read-only" in problem for problem in answer["problems"])
        _, samples = parse_prometheus(_get(url + "/metrics")[1])
        assert samples[("ghe_backup_data_volume_writable", ())] == 0
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    text = log_path.read_text()
    assert "Traceback" not in text
    events = _events(log_path)
    assert "data_volume_unwritable" in [e["event"] for e in events]
    assert "backup_started" not in [e["event"] for e in events]


def test_prepare_fails_fast_with_a_clear_error_and_writes_nothing(settings):
    with pytest.raises(KeyDecryptError, match="TAUPAGE_CONFIG"):
        prepare(settings)  # no key installed, no Taupage user data
    assert not settings.backup_config_path.exists() and not settings.data_dir.exists()


def test_prepare_checks_settings_before_the_key_step(settings):
    from ghe_backup.backup.backup_config import BackupConfigError
    from ghe_backup.backup.hostspec import HostnameError
    from ghe_backup.backup.runner import BackupCommandMissing
    from ghe_backup.backup.schedule import ScheduleError

    # Each of these would otherwise fail later, at the key step (no Taupage user data here).
    for bad, error in (
        ({"schedule": "whenever"}, ScheduleError),
        ({"backup_command": "no-such-ghe-backup"}, BackupCommandMissing),
        ({"ghe_hostname": "bad_host"}, HostnameError),
        ({"ghe_hostname": "github.example.com:22"}, HostnameError),
        ({"known_hosts": None}, BackupConfigError),
        ({"data_dir": settings.data_mount.parent / "root-disk"}, BackupConfigError),
    ):
        with pytest.raises(error):
            prepare(replace(settings, **bad))
    assert not settings.ssh_key_path.exists() and not settings.backup_config_path.exists()

"""The command line: --version, one-line errors with named exit codes, and subcommands."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from conftest import free_port, run_cli

import ghe_backup
from ghe_backup.__main__ import main
from ghe_backup.backup.health import HealthMonitor, HealthServer
from ghe_backup.backup.schedule import next_run
from ghe_backup.backup.status import Thresholds, collect_status


@pytest.fixture
def env(backup_env, monkeypatch):
    for name, value in backup_env.items():
        monkeypatch.setenv(name, value)
    return backup_env


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"ghe-backup-service {ghe_backup.__version__}\n"


@pytest.mark.process
def test_version_as_a_module():
    result = run_cli(["--version"], {})
    assert result.returncode == 0 and result.stdout == f"ghe-backup-service {ghe_backup.__version__}\n"


def test_errors_are_one_line_with_the_exit_code(env, monkeypatch, capsys):
    monkeypatch.delenv("BACKUP_SCHEDULE")
    assert main(["schedule"]) == 2
    err = capsys.readouterr().err
    assert err == "ghe-backup-service: error: BACKUP_SCHEDULE is not set (set a cron expression, e.g. '0 */2 * * *')\n"
    assert main(["--debug", "schedule"]) == 2
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.process
def test_bad_setting_as_a_subprocess(env):
    result = run_cli(["render-config", "--stdout"], {**env, "GHE_NUM_SNAPSHOTS": "0"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        == "ghe-backup-service: error: GHE_NUM_SNAPSHOTS=0 is out of range (set GHE_NUM_SNAPSHOTS >= 1)"
    )


def test_render_config(env, capsys):
    assert main(["render-config", "--stdout"]) == 0
    assert "GHE_HOSTNAME=github.example.com\n" in capsys.readouterr().out
    assert main(["render-config"]) == 0
    assert "GHE_NUM_SNAPSHOTS=3" in Path(env["GHE_BACKUP_CONFIG"]).read_text()


def test_schedule_prints_the_next_due_times(env, capsys):
    before = datetime.now().astimezone()
    assert main(["schedule", "--count", "3"]) == 0
    times = [datetime.fromisoformat(line) for line in capsys.readouterr().out.split()]
    assert len(times) == 3 and times[0] >= next_run(env["BACKUP_SCHEDULE"], before)
    assert times[1] == next_run(env["BACKUP_SCHEDULE"], times[0]) and times[2] == next_run(
        env["BACKUP_SCHEDULE"], times[1]
    )


def test_backup_once_exit_codes(env, monkeypatch, capsys):
    assert main(["backup-once"]) == 0
    monkeypatch.setenv("GHE_STANDIN_FAIL", "1")
    assert main(["backup-once"]) == 1
    assert "backup failed with exit code 1" in capsys.readouterr().err


def test_health_command(env, settings, data_dir, capsys):
    def status(started_at):
        return lambda: collect_status(
            settings.data_dir, settings.lock_path, settings.state_path, now=1e9, started_at=started_at
        )

    for started_at, expected in ((1e9, 0), (0, 1)):  # in grace: healthy; long after start: degraded
        server = HealthServer(
            HealthMonitor(status(started_at), Thresholds(3600)), host="127.0.0.1", port=0, poll_interval=0.01
        ).start()
        try:
            assert main(["health", "--url", f"http://127.0.0.1:{server.port}/health"]) == expected
            assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == (
                "healthy" if expected == 0 else "degraded"
            )
        finally:
            server.stop()
    assert main(["health", "--url", f"http://127.0.0.1:{free_port()}/health", "--timeout", "1"]) == 3
    assert "did not answer" in capsys.readouterr().err


@pytest.mark.parametrize("bind, asked", [("127.0.0.2", "127.0.0.2"), ("0.0.0.0", "127.0.0.1")])
def test_the_health_command_asks_where_the_server_listens(env, settings, data_dir, monkeypatch, capsys, bind, asked):
    # The server binds HEALTH_BIND; the command used to ask 127.0.0.1 whatever it was.
    def status():
        return collect_status(settings.data_dir, settings.lock_path, settings.state_path, now=1e9, started_at=1e9)

    server = HealthServer(HealthMonitor(status, Thresholds(3600)), host=bind, port=0, poll_interval=0.01).start()
    try:
        monkeypatch.setenv("HEALTH_BIND", bind)
        monkeypatch.setenv("HEALTH_PORT", str(server.port))
        assert main(["health"]) == 0, capsys.readouterr().err
        assert json.loads(capsys.readouterr().out.splitlines()[-1])["status"] == "healthy"
    finally:
        server.stop()
    assert main(["health", "--timeout", "1"]) == 3
    assert f"health endpoint http://{asked}:{server.port}/health did not answer" in capsys.readouterr().err


def test_the_health_url_of_an_ipv6_bind():
    from ghe_backup.backup.cli import health_url

    assert health_url("::", 8080) == "http://[::1]:8080/health"
    assert health_url("fd00::5", 8080) == "http://[fd00::5]:8080/health"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"GHE_HOSTNAME": "github.example.com:22"},
            "GHE_HOSTNAME='github.example.com:22' names port 22, but backup-utils only connects to the appliance's "
            "administrative SSH port 122 (use github.example.com or github.example.com:122)",
        ),
        ({"GHE_KNOWN_HOSTS": ""}, "GHE_KNOWN_HOSTS is not set: the appliance's host key must be pinned"),
        ({"GHE_EXTRA_SSH_OPTS": "-o StrictHostKeyChecking=no"}, "GHE_EXTRA_SSH_OPTS sets stricthostkeychecking"),
        ({"RSYNC_BWLIMIT": "fast"}, "RSYNC_BWLIMIT='fast' is not a transfer rate"),
    ],
)
def test_new_settings_fail_with_one_line_and_exit_2(env, changes, message, monkeypatch, capsys):
    # in the program's own process (test_bad_setting_as_a_subprocess runs one as a real process)
    for name, value in changes.items():
        monkeypatch.setenv(name, value)
    assert main(["render-config", "--stdout"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.strip().splitlines()
    assert line.startswith(f"ghe-backup-service: error: {message}")

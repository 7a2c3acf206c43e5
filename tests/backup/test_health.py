"""Health over real HTTP on 127.0.0.1: always 200 while the service runs, with the alerts
(stale, low disk, ...) in its status, its metrics and its log; and from the first second of a
fresh service whose newest snapshot is old and whose disk is low."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from conftest import REPO_ROOT, events, free_port, parse_prometheus, subprocess_env

from ghe_backup.backup.health import HealthMonitor, HealthServer
from ghe_backup.backup.snapshots import snapshot_name
from ghe_backup.backup.state import RunRecord, record_run
from ghe_backup.backup.status import BackupStatus, Thresholds, collect_status, evaluate_health

HOUR = 3600


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


class Clock:
    def __init__(self, now: float):
        self.now = now


@pytest.fixture
def served(settings, data_dir):
    """A health server over the temp data dir, with a clock the test moves."""
    clock = Clock(datetime(2026, 11, 27, 8, 0, tzinfo=UTC).timestamp())
    started_at = clock.now

    def status():
        return collect_status(
            settings.data_dir, settings.lock_path, settings.state_path, now=clock.now, started_at=started_at
        )

    server = HealthServer(
        HealthMonitor(status, Thresholds(max_snapshot_age=2 * HOUR)), host="127.0.0.1", port=0, poll_interval=0.01
    ).start()
    yield clock, f"http://127.0.0.1:{server.port}"
    server.stop()


def _snapshot(data_dir, at: float, *, complete=True, ghes="v3.20.3") -> str:
    name = snapshot_name(datetime.fromtimestamp(at, UTC))
    (data_dir / name).mkdir()
    (data_dir / name / "version").write_text(f"{ghes}\n")
    if not complete:
        (data_dir / name / "incomplete").touch()
    return name


def test_stale_backups_are_reported_but_health_stays_200(served, data_dir, caplog):
    clock, url = served
    caplog.set_level("INFO")
    first = _snapshot(data_dir, clock.now - 30 * 60)
    code, body = _get(url + "/health")
    answer = json.loads(body)
    assert code == 200 and answer["status"] == "healthy" and answer["alerts"] == []
    assert answer["last_snapshot"] == first and answer["last_snapshot_age_seconds"] == 1800
    assert answer["ghes_version"] == "v3.20.3"

    clock.now += 2 * HOUR  # the snapshot is now 2.5 h old
    code, body = _get(url + "/health")
    answer = json.loads(body)
    assert code == 200 and answer["status"] == "degraded" and answer["alerts"] == ["stale"]
    assert answer["problems"] == [f"newest complete snapshot {first} is 9000s old (MAX_SNAPSHOT_AGE=7200)"]
    _get(url + "/health")  # asked again: logged once
    raised = [e for e in events(caplog) if e["event"] == "alert_raised"]
    assert [(e["kind"], e["level"]) for e in raised] == [("stale", "error")]

    _snapshot(data_dir, clock.now - 60, complete=False)  # a failed run does not count
    assert json.loads(_get(url + "/health")[1])["alerts"] == ["stale"]

    second = _snapshot(data_dir, clock.now - 10)
    code, body = _get(url + "/health")
    assert code == 200 and json.loads(body)["last_snapshot"] == second and json.loads(body)["status"] == "healthy"
    assert [e["kind"] for e in events(caplog) if e["event"] == "alert_cleared"] == ["stale"]


def test_metrics_over_http_parse_and_track_the_volume(served, settings, data_dir):
    clock, url = served
    names = [_snapshot(data_dir, clock.now - h * HOUR, ghes=f"v3.{18 + h}.0") for h in (3, 2, 1)]
    _snapshot(data_dir, clock.now - 0.5 * HOUR, complete=False)
    record_run(settings.state_path, RunRecord(clock.now - 1900, clock.now - 100, 1800.25, 0, "success"))
    code, text = _get(url + "/metrics")
    assert code == 200
    _, samples = parse_prometheus(text)
    assert samples[("ghe_backup_snapshots_kept", ())] == 3
    assert samples[("ghe_backup_snapshots_incomplete", ())] == 1
    assert samples[("ghe_backup_last_success_timestamp_seconds", ())] == clock.now - HOUR
    assert samples[("ghe_backup_last_run_duration_seconds", ())] == 1800.25
    assert samples[("ghe_backup_last_run_exit_code", ())] == 0
    usage = shutil.disk_usage(data_dir)
    assert samples[("ghe_backup_data_volume_size_bytes", ())] == usage.total
    assert 0 < samples[("ghe_backup_data_volume_free_bytes", ())] <= usage.total
    assert samples[("ghe_backup_data_volume_writable", ())] == 1
    # The GHES version of each snapshot, and of the newest: 3.19 is supported by the pin.
    versions = {
        dict(labels)["snapshot"]: dict(labels)["version"]
        for (name, labels) in samples
        if name == "ghe_backup_snapshot_ghes_version_info"
    }
    assert versions[names[0]] == "v3.21.0" and versions[names[-1]] == "v3.19.0" and len(versions) == 4
    assert samples[("ghe_backup_ghes_version_info", (("version", "v3.19.0"),))] == 1
    assert samples[("ghe_backup_ghes_version_supported", ())] == 1
    assert samples[("ghe_backup_alert", (("kind", "ghes_version_unsupported"),))] == 0
    assert names[-1] in _get(url + "/health")[1]


def test_an_unsupported_ghes_version_is_an_alert_not_a_silent_success(served, data_dir, caplog):
    clock, url = served
    caplog.set_level("INFO")
    name = _snapshot(data_dir, clock.now - 60, ghes="v3.22.1")  # newer than the pinned backup-utils knows
    answer = json.loads(_get(url + "/health")[1])
    assert answer["status"] == "degraded" and answer["alerts"] == ["ghes_version_unsupported"]
    assert f"snapshot {name} is of GitHub Enterprise Server v3.22.1, outside 3.19-3.21" in answer["problems"][0]
    _, samples = parse_prometheus(_get(url + "/metrics")[1])
    assert samples[("ghe_backup_alert", (("kind", "ghes_version_unsupported"),))] == 1
    assert samples[("ghe_backup_ghes_version_supported", ())] == 0
    assert [e["kind"] for e in events(caplog) if e["event"] == "alert_raised"] == ["ghes_version_unsupported"]


def test_unknown_paths_are_404(served):
    assert _get(served[1] + "/nope")[0] == 404


def _status(**changes) -> BackupStatus:
    base = {
        "now": 10 * HOUR,
        "started_at": 9 * HOUR,
        "newest_complete": None,
        "complete_count": 0,
        "incomplete_count": 0,
        "free_bytes": 50,
        "total_bytes": 100,
        "backup_running": False,
    }
    return BackupStatus(**{**base, **changes})


def test_no_snapshot_is_fine_only_during_the_grace_period():
    limits = Thresholds(max_snapshot_age=2 * HOUR)
    assert evaluate_health(_status(), limits).healthy
    late = evaluate_health(_status(now=11.5 * HOUR), limits)
    assert late.status == "degraded" and [a.message for a in late.alerts] == [
        "no complete snapshot 9000s after start (MAX_SNAPSHOT_AGE=7200)"
    ]


@pytest.mark.parametrize(
    ("free", "limits", "kind", "problem"),
    [
        (4, Thresholds(2 * HOUR, min_free_percent=5), "low_disk", "data volume is 4.0% free (MIN_FREE_PERCENT=5)"),
        (40, Thresholds(2 * HOUR, min_free_bytes=41), "low_disk", "data volume has 40 bytes free (MIN_FREE_BYTES=41)"),
        (None, Thresholds(2 * HOUR), "disk_unreadable", "data volume usage cannot be read"),
    ],
)
def test_a_nearly_full_volume_is_an_alert(free, limits, kind, problem):
    report = evaluate_health(_status(free_bytes=free), limits)
    assert [(a.kind, a.message) for a in report.alerts] == [(kind, problem)]
    ok = evaluate_health(_status(free_bytes=60), replace(limits, min_free_bytes=min(limits.min_free_bytes, 60)))
    assert ok.healthy


def test_a_busy_port_is_a_clear_config_error():
    import socket

    from ghe_backup.errors import ConfigError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve /health on 127.0.0.1:{port}.*HEALTH_PORT"):
            HealthServer(HealthMonitor(lambda: None, Thresholds(60)), host="127.0.0.1", port=port)


@pytest.mark.process
def test_a_fresh_service_with_an_old_snapshot_and_a_low_disk_answers_200_as_soon_as_it_listens(
    backup_env, settings, data_dir, tmp_path
):
    # The situation of a deploy that fixes stale backups: Taupage needs a 200 within ~60 s.
    settings.ssh_key_path.parent.mkdir(parents=True)
    settings.ssh_key_path.write_text("already installed\n")
    old = _snapshot(data_dir, time.time() - 30 * 86400)
    port = free_port()
    env = {**backup_env, "HEALTH_PORT": str(port), "MAX_SNAPSHOT_AGE": "3600", "MIN_FREE_PERCENT": "99.9"}
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ghe_backup", "run"],
            env=subprocess_env(env),
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        while True:
            try:
                code, body = _get(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                # Well inside Taupage's minute even on a loaded machine; that nothing slow comes before
                # the health server is test_key_decryption_and_hygiene_do_not_delay_the_health_server.
                assert time.monotonic() - started < 20.0, "no answer within 20 s"
                time.sleep(0.02)
        answer = json.loads(body)
        assert code == 200 and answer["status"] in ("starting", "degraded"), body
        assert {"stale", "low_disk"} <= set(answer["alerts"]) and answer["last_snapshot"] == old
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
    logged = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert {e["kind"] for e in logged if e["event"] == "alert_raised"} >= {"stale", "low_disk"}


def test_key_decryption_and_hygiene_do_not_delay_the_health_server(settings, monkeypatch):
    import ghe_backup.backup.entrypoint as entrypoint

    entered, release = threading.Event(), threading.Event()

    def slow_kms(_settings):  # KMS (or the metadata service) taking its time
        entered.set()
        assert release.wait(10)

    monkeypatch.setattr(entrypoint, "install_ssh_key", slow_kms)
    port = free_port()
    stop = threading.Event()
    service = threading.Thread(
        target=entrypoint.run_service,
        args=(replace(settings, health_port=port),),
        kwargs={"stop": stop, "handle_signals": False},
    )
    service.start()
    try:
        assert entered.wait(5)
        code, body = _get(f"http://127.0.0.1:{port}/health")
        assert code == 200 and json.loads(body)["status"] == "starting"
        _, samples = parse_prometheus(_get(f"http://127.0.0.1:{port}/metrics")[1])
        assert samples[("ghe_backup_ready", ())] == 0
        release.set()
        deadline = time.monotonic() + 5
        while json.loads(_get(f"http://127.0.0.1:{port}/health")[1])["status"] == "starting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        release.set()
        stop.set()
        service.join(10)
    assert not service.is_alive()

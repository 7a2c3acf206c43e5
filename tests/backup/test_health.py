"""Health over real HTTP on 127.0.0.1: unhealthy and healthy again as snapshots age and
new ones arrive; the data-volume thresholds; and the grace period before a first snapshot."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from ghe_backup.backup.health import (
    BackupStatus,
    HealthServer,
    Thresholds,
    collect_status,
    evaluate_health,
)
from ghe_backup.backup.snapshots import snapshot_name
from ghe_backup.backup.state import RunRecord, record_run

from conftest import parse_prometheus

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
    clock = Clock(datetime(2026, 11, 27, 8, 0, tzinfo=timezone.utc).timestamp())
    started_at = clock.now

    def status():
        return collect_status(settings.data_dir, settings.lock_path, settings.state_path,
                              now=clock.now, started_at=started_at)

    server = HealthServer(status, Thresholds(max_snapshot_age=2 * HOUR), host="127.0.0.1", port=0).start()
    yield clock, f"http://127.0.0.1:{server.port}"
    server.stop()


def _snapshot(data_dir, at: float, *, complete=True) -> str:
    name = snapshot_name(datetime.fromtimestamp(at, timezone.utc))
    (data_dir / name).mkdir()
    if not complete:
        (data_dir / name / "incomplete").touch()
    return name


def test_health_follows_snapshot_age(served, data_dir):
    clock, url = served
    first = _snapshot(data_dir, clock.now - 30 * 60)
    code, body = _get(url + "/health")
    assert code == 200 and json.loads(body)["status"] == "healthy"
    assert json.loads(body)["last_snapshot"] == first and json.loads(body)["last_snapshot_age_seconds"] == 1800

    clock.now += 2 * HOUR  # the snapshot is now 2.5 h old
    code, body = _get(url + "/health")
    answer = json.loads(body)
    assert code == 503 and answer["status"] == "unhealthy"
    assert answer["problems"] == [f"newest complete snapshot {first} is 9000s old (MAX_SNAPSHOT_AGE=7200)"]

    _snapshot(data_dir, clock.now - 60, complete=False)  # a failed run does not count
    assert _get(url + "/health")[0] == 503

    second = _snapshot(data_dir, clock.now - 10)
    code, body = _get(url + "/health")
    assert code == 200 and json.loads(body)["last_snapshot"] == second


def test_metrics_over_http_parse_and_track_the_volume(served, settings, data_dir):
    clock, url = served
    names = [_snapshot(data_dir, clock.now - h * HOUR) for h in (5, 3, 1)]
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
    assert names[-1] in _get(url + "/health")[1]


def test_unknown_paths_are_404(served):
    assert _get(served[1] + "/nope")[0] == 404


def _status(**changes) -> BackupStatus:
    base = dict(now=10 * HOUR, started_at=9 * HOUR, newest_complete=None, complete_count=0, incomplete_count=0,
                free_bytes=50, total_bytes=100, backup_running=False)
    return BackupStatus(**{**base, **changes})


def test_no_snapshot_is_healthy_only_during_the_grace_period():
    limits = Thresholds(max_snapshot_age=2 * HOUR)
    assert evaluate_health(_status(), limits).healthy
    late = evaluate_health(_status(now=11.5 * HOUR), limits)
    assert not late.healthy and late.problems == ["no complete snapshot 9000s after start (MAX_SNAPSHOT_AGE=7200)"]


@pytest.mark.parametrize(
    ("free", "limits", "problem"),
    [
        (4, Thresholds(2 * HOUR, min_free_percent=5), "data volume is 4.0% free (MIN_FREE_PERCENT=5)"),
        (40, Thresholds(2 * HOUR, min_free_bytes=41), "data volume has 40 bytes free (MIN_FREE_BYTES=41)"),
        (None, Thresholds(2 * HOUR), "data volume usage cannot be read"),
    ],
)
def test_a_nearly_full_volume_is_unhealthy(free, limits, problem):
    report = evaluate_health(_status(free_bytes=free), limits)
    assert report.problems == [problem]
    ok = evaluate_health(_status(free_bytes=60), replace(limits, min_free_bytes=min(limits.min_free_bytes, 60)))
    assert ok.healthy


def test_a_busy_port_is_a_clear_config_error(settings):
    import socket

    from ghe_backup.errors import ConfigError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot serve /health on 127.0.0.1:{port}.*HEALTH_PORT"):
            HealthServer(lambda: None, Thresholds(60), host="127.0.0.1", port=port)

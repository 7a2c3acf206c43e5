"""/metrics text: it parses strictly as Prometheus exposition and says what the status says."""

from __future__ import annotations

import pytest
from conftest import parse_prometheus

from ghe_backup.backup.metrics import render_metrics
from ghe_backup.backup.snapshots import Snapshot, snapshot_time
from ghe_backup.backup.state import BackupState, RunRecord
from ghe_backup.backup.status import Alert, BackupStatus, HealthReport


def _status(**changes) -> BackupStatus:
    snap = Snapshot("20261127T080000", None, snapshot_time("20261127T080000"), True)
    base = {
        "now": 1_800_000_000.0,
        "started_at": 1_799_990_000.0,
        "newest_complete": snap,
        "complete_count": 4,
        "incomplete_count": 1,
        "free_bytes": 123_456_789,
        "total_bytes": 1_000_000_000,
        "backup_running": True,
        "state": BackupState(
            last_run=RunRecord(1.0, 3601.5, 3600.5, 0, "success"),
            last_success_at=3601.5,
            runs_total={"success": 7, "failed": 2, "terminated": 1},
        ),
        "skipped_total": 3,
    }
    return BackupStatus(**{**base, **changes})


def test_metrics_parse_and_carry_the_status():
    types, samples = parse_prometheus(render_metrics(_status(), HealthReport((Alert("stale", "x"),))))
    value = lambda name, **labels: samples[(f"ghe_backup_{name}", tuple(sorted(labels.items())))]  # noqa: E731
    assert value("last_success_timestamp_seconds") == snapshot_time("20261127T080000").timestamp()
    assert value("last_run_duration_seconds") == 3600.5
    assert value("last_run_exit_code") == 0 and value("last_run_success") == 1
    assert value("last_run_timestamp_seconds") == 3601.5
    assert value("snapshots_kept") == 4 and value("snapshots_incomplete") == 1
    assert value("data_volume_free_bytes") == 123_456_789 and value("data_volume_size_bytes") == 1e9
    assert value("runs_total", result="failed") == 2 and value("runs_total", result="success") == 7
    assert value("runs_skipped_total") == 3 and value("backup_running") == 1 and value("healthy") == 0
    assert types["ghe_backup_runs_total"] == "counter" and types["ghe_backup_healthy"] == "gauge"
    assert value("alert", kind="stale") == 1 and value("alert", kind="low_disk") == 0
    assert value("ready") == 1


def test_samples_without_data_are_left_out():
    status = _status(newest_complete=None, complete_count=0, state=BackupState(), free_bytes=None)
    _, samples = parse_prometheus(render_metrics(status, HealthReport(())))
    names = {name for name, _ in samples}
    assert not {n for n in names if "last_" in n or "bytes" in n or "ghes_version" in n}
    assert ("ghe_backup_snapshots_kept", ()) in samples and samples[("ghe_backup_healthy", ())] == 1


@pytest.mark.parametrize(
    "broken",
    [
        "ghe_backup_x 1",  # no final newline
        "ghe-backup 1\n",  # bad name
        'x{a="1",a="2"} 1\n',  # repeated label
        "x{a=1} 1\n",  # unquoted label value
        "x one\n",  # bad value
        "x 1\nx 2\n",  # duplicate series
        "x 1\n# TYPE x gauge\n",  # TYPE after samples
        '# TYPE x gauge\nx 1\n# TYPE y gauge\ny 1\nx{a="b"} 2\n',  # family split
        "# TYPE x wibble\nx 1\n",  # unknown type
    ],
)
def test_the_parser_is_strict(broken):
    with pytest.raises((AssertionError, ValueError)):
        parse_prometheus(broken)

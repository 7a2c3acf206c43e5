"""Render the backup status as Prometheus text exposition format (version 0.0.4).

Samples without data (no run yet, no snapshot yet) are left out rather than faked as 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .backup_utils import VERSION, ghes_supported, supported_range
from .status import ALERT_KINDS

if TYPE_CHECKING:
    from .status import BackupStatus, HealthReport

PREFIX = "ghe_backup"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(
            f"{PREFIX}_{name}{{{label_text}}} {_number(value)}" if labels else f"{PREFIX}_{name} {_number(value)}"
        )
    return lines


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_metrics(status: BackupStatus, report: HealthReport) -> str:
    """The /metrics body."""
    lines: list[str] = []
    newest = status.newest_complete
    last = status.state.last_run
    lines += _family("up", "gauge", "1 while the backup service answers.", [({}, 1)])
    lines += _family(
        "ready", "gauge", "1 once the service has started (key, config, hygiene done).", [({}, int(status.ready))]
    )
    lines += _family("healthy", "gauge", "1 if /health reports no alert, else 0.", [({}, int(report.healthy))])
    lines += _family(
        "alert",
        "gauge",
        "1 while the alert of this kind is raised (see /health).",
        [({"kind": kind}, int(kind in report.kinds)) for kind in ALERT_KINDS],
    )
    lines += _family(
        "backup_utils_info",
        "gauge",
        "The pinned backup-utils and the GHES releases it supports.",
        [({"version": VERSION, "supported_ghes": supported_range()}, 1)],
    )
    if newest is not None and newest.ghes_version:
        lines += _family(
            "ghes_version_info",
            "gauge",
            "GHES version of the newest complete snapshot.",
            [({"version": newest.ghes_version}, 1)],
        )
        supported = ghes_supported(newest.ghes_version)
        if supported is not None:
            lines += _family(
                "ghes_version_supported",
                "gauge",
                "1 if the pinned backup-utils supports the newest snapshot's GHES version.",
                [({}, int(supported))],
            )
    lines += _family(
        "snapshot_ghes_version_info",
        "gauge",
        "GHES version each snapshot was taken from.",
        [({"snapshot": s.name, "version": s.ghes_version}, 1) for s in status.snapshots if s.ghes_version],
    )
    lines += _family(
        "last_success_timestamp_seconds",
        "gauge",
        "Start time (unix seconds) of the newest complete snapshot.",
        [({}, newest.taken_at.timestamp())] if newest else [],
    )
    if last is not None:
        lines += _family(
            "last_run_timestamp_seconds",
            "gauge",
            "End time (unix seconds) of the last backup run.",
            [({}, last.finished_at)],
        )
        lines += _family(
            "last_run_duration_seconds", "gauge", "Duration of the last backup run.", [({}, last.duration_seconds)]
        )
        lines += _family(
            "last_run_exit_code", "gauge", "Exit code of backup-utils in the last run.", [({}, last.exit_code)]
        )
        lines += _family(
            "last_run_success",
            "gauge",
            "1 if the last backup run succeeded, else 0.",
            [({}, int(last.result == "success"))],
        )
    lines += _family(
        "runs_total",
        "counter",
        "Finished backup runs by result, kept on the data volume.",
        [({"result": r}, n) for r, n in sorted(status.state.runs_total.items())],
    )
    lines += _family(
        "runs_skipped_total",
        "counter",
        "Backup starts skipped since this process started.",
        [({}, status.skipped_total)],
    )
    lines += _family("backup_running", "gauge", "1 while a backup holds the lock.", [({}, int(status.backup_running))])
    lines += _family("snapshots_kept", "gauge", "Complete snapshots in GHE_DATA_DIR.", [({}, status.complete_count)])
    lines += _family(
        "snapshots_incomplete", "gauge", "Snapshots marked incomplete in GHE_DATA_DIR.", [({}, status.incomplete_count)]
    )
    lines += _family(
        "data_volume_writable",
        "gauge",
        "1 if the data directory can be written.",
        [({}, int(status.unwritable is None))],
    )
    if status.free_bytes is not None:
        lines += _family("data_volume_free_bytes", "gauge", "Free bytes on the data volume.", [({}, status.free_bytes)])
        lines += _family(
            "data_volume_size_bytes", "gauge", "Size of the data volume in bytes.", [({}, status.total_bytes or 0)]
        )
    return "\n".join(lines) + "\n"

"""What the service reports: the backup status read from the volume, and the alerts in it.

An alert never makes the service "down": ``/health`` answers 200 whenever the process runs, so a
platform health check (Taupage fails an instance without a 200 in about 60 s) never blocks the
deploy that is meant to fix the alert. Alerts are reported in ``/health``'s ``status`` and
``alerts``, in ``/metrics`` (``ghe_backup_alert{kind}``) and in the log (``alert_raised``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .backup_utils import ghes_supported, supported_range
from .lock import lock_is_held
from .snapshots import Snapshot, list_snapshots
from .state import BackupState, load_state
from .volume import other_chains, unwritable

#: Every alert kind, so /metrics can show each as 0 or 1.
ALERT_KINDS = (
    "stale",
    "no_snapshot",
    "low_disk",
    "disk_unreadable",
    "data_volume_unwritable",
    "ghes_version_unsupported",
    "other_snapshot_chain",
)


@dataclass(frozen=True)
class Thresholds:
    max_snapshot_age: float
    min_free_bytes: int = 0
    min_free_percent: float = 0.0

    @classmethod
    def from_settings(cls, settings) -> Thresholds:
        return cls(settings.max_snapshot_age, settings.min_free_bytes, settings.min_free_percent)


@dataclass(frozen=True)
class BackupStatus:
    """Everything /health and /metrics report, read at one moment."""

    now: float
    started_at: float
    newest_complete: Snapshot | None
    complete_count: int
    incomplete_count: int
    free_bytes: int | None
    total_bytes: int | None
    backup_running: bool
    state: BackupState = field(default_factory=BackupState)
    skipped_total: int = 0
    snapshots: tuple[Snapshot, ...] = ()
    unwritable: str | None = None  # why the data directory cannot be written
    other_chains: tuple[tuple[Path, int], ...] = ()
    ready: bool = True  # False while the service is still starting (key, config, hygiene)


@dataclass(frozen=True)
class Alert:
    kind: str  # one of ALERT_KINDS
    message: str  # one readable sentence


@dataclass(frozen=True)
class HealthReport:
    alerts: tuple[Alert, ...]
    ready: bool = True

    @property
    def healthy(self) -> bool:
        return not self.alerts

    @property
    def status(self) -> str:
        if not self.ready:
            return "starting"
        return "healthy" if self.healthy else "degraded"

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(a.kind for a in self.alerts)


def collect_status(
    data_dir: Path,
    lock_path: Path,
    state_path: Path,
    *,
    now: float,
    started_at: float,
    skipped_total: int = 0,
    data_mount: Path | None = None,
    ready: bool = True,
) -> BackupStatus:
    """Read snapshots, disk usage, lock and state for ``data_dir``."""
    snapshots = list_snapshots(data_dir)
    complete = [s for s in snapshots if s.complete]
    try:
        usage = shutil.disk_usage(data_dir if data_dir.exists() else data_dir.parent)
        free, total = usage.free, usage.total
    except OSError:
        free = total = None
    return BackupStatus(
        now=now,
        started_at=started_at,
        newest_complete=complete[-1] if complete else None,
        complete_count=len(complete),
        incomplete_count=len(snapshots) - len(complete),
        free_bytes=free,
        total_bytes=total,
        backup_running=lock_is_held(lock_path),
        state=load_state(state_path),
        skipped_total=skipped_total,
        snapshots=tuple(snapshots),
        unwritable=unwritable(data_dir),
        other_chains=tuple(other_chains(data_mount, data_dir)) if data_mount is not None else (),
        ready=ready,
    )


def evaluate_health(status: BackupStatus, limits: Thresholds) -> HealthReport:
    """The alerts in a status, each with one readable sentence."""
    alerts = []
    newest = status.newest_complete
    max_age = int(limits.max_snapshot_age)
    if newest is not None:
        age = status.now - newest.taken_at.timestamp()
        if age > limits.max_snapshot_age:
            alerts.append(
                Alert(
                    "stale", f"newest complete snapshot {newest.name} is {int(age)}s old (MAX_SNAPSHOT_AGE={max_age})"
                )
            )
    elif status.now - status.started_at > limits.max_snapshot_age:
        alerts.append(
            Alert(
                "no_snapshot",
                f"no complete snapshot {int(status.now - status.started_at)}s after start (MAX_SNAPSHOT_AGE={max_age})",
            )
        )
    if status.free_bytes is None or not status.total_bytes:
        alerts.append(Alert("disk_unreadable", "data volume usage cannot be read"))
    else:
        percent = 100.0 * status.free_bytes / status.total_bytes
        if status.free_bytes < limits.min_free_bytes:
            alerts.append(
                Alert(
                    "low_disk",
                    f"data volume has {status.free_bytes} bytes free (MIN_FREE_BYTES={limits.min_free_bytes})",
                )
            )
        elif percent < limits.min_free_percent:
            alerts.append(
                Alert("low_disk", f"data volume is {percent:.1f}% free (MIN_FREE_PERCENT={limits.min_free_percent:g})")
            )
    if status.unwritable:
        alerts.append(
            Alert(
                "data_volume_unwritable",
                f"the data directory {status.unwritable}: no backup can run (see the disk-full and read-only runbooks)",
            )
        )
    if newest is not None and newest.ghes_version and ghes_supported(newest.ghes_version) is False:
        alerts.append(
            Alert(
                "ghes_version_unsupported",
                f"snapshot {newest.name} is of GitHub Enterprise Server {newest.ghes_version}, "
                f"outside {supported_range()} that the pinned backup-utils supports",
            )
        )
    for path, count in status.other_chains:
        alerts.append(
            Alert(
                "other_snapshot_chain",
                f"{path} holds {count} snapshots that GHE_DATA_DIR does not include: "
                "nothing prunes them (see 'Moving from the original's data directory')",
            )
        )
    return HealthReport(tuple(alerts), ready=status.ready)

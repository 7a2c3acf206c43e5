"""Health and metrics over HTTP: ``GET /health`` (200 or 503, JSON) and ``GET /metrics``.

Healthy means: the newest complete snapshot is at most ``MAX_SNAPSHOT_AGE`` seconds old and
the data volume has at least ``MIN_FREE_BYTES`` and ``MIN_FREE_PERCENT`` free. Before the
first snapshot the service counts as healthy for a grace period of ``MAX_SNAPSHOT_AGE`` from
its start, then unhealthy. The answer is computed from the data volume on every request.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from ghe_backup.errors import ConfigError

from .lock import lock_is_held
from .logs import log_event
from .metrics import render_metrics
from .settings import Settings
from .snapshots import Snapshot, list_snapshots
from .state import BackupState, load_state

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    max_snapshot_age: float
    min_free_bytes: int = 0
    min_free_percent: float = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Thresholds":
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


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    problems: list[str]


def collect_status(data_dir: Path, lock_path: Path, state_path: Path, *, now: float,
                   started_at: float, skipped_total: int = 0) -> BackupStatus:
    """Read snapshots, disk usage, lock and state for ``data_dir``."""
    snapshots = list_snapshots(data_dir)
    complete = [s for s in snapshots if s.complete]
    try:
        usage = shutil.disk_usage(data_dir)
        free, total = usage.free, usage.total
    except OSError:
        free = total = None
    return BackupStatus(
        now=now, started_at=started_at,
        newest_complete=complete[-1] if complete else None,
        complete_count=len(complete), incomplete_count=len(snapshots) - len(complete),
        free_bytes=free, total_bytes=total,
        backup_running=lock_is_held(lock_path),
        state=load_state(state_path), skipped_total=skipped_total,
    )


def evaluate_health(status: BackupStatus, limits: Thresholds) -> HealthReport:
    """Decide health from a status; each problem is one readable sentence."""
    problems = []
    newest = status.newest_complete
    if newest is not None:
        age = status.now - newest.taken_at.timestamp()
        if age > limits.max_snapshot_age:
            problems.append(
                f"newest complete snapshot {newest.name} is {int(age)}s old "
                f"(MAX_SNAPSHOT_AGE={int(limits.max_snapshot_age)})"
            )
    elif status.now - status.started_at > limits.max_snapshot_age:
        problems.append(
            f"no complete snapshot {int(status.now - status.started_at)}s after start "
            f"(MAX_SNAPSHOT_AGE={int(limits.max_snapshot_age)})"
        )
    if status.free_bytes is None or not status.total_bytes:
        problems.append("data volume usage cannot be read")
    else:
        percent = 100.0 * status.free_bytes / status.total_bytes
        if status.free_bytes < limits.min_free_bytes:
            problems.append(f"data volume has {status.free_bytes} bytes free (MIN_FREE_BYTES={limits.min_free_bytes})")
        if percent < limits.min_free_percent:
            problems.append(f"data volume is {percent:.1f}% free (MIN_FREE_PERCENT={limits.min_free_percent:g})")
    return HealthReport(not problems, problems)


def health_body(status: BackupStatus, report: HealthReport) -> dict:
    """The JSON answer of /health."""
    newest = status.newest_complete
    last = status.state.last_run
    return {
        "status": "healthy" if report.healthy else "unhealthy",
        "problems": report.problems,
        "last_snapshot": newest.name if newest else None,
        "last_snapshot_age_seconds": round(status.now - newest.taken_at.timestamp()) if newest else None,
        "snapshots_kept": status.complete_count,
        "backup_running": status.backup_running,
        "last_run": {"result": last.result, "exit_code": last.exit_code,
                     "duration_seconds": last.duration_seconds} if last else None,
        "free_bytes": status.free_bytes,
    }


class HealthServer:
    """A threaded HTTP server for /health and /metrics; ``port=0`` picks a free port."""

    def __init__(self, status_source: Callable[[], BackupStatus], limits: Thresholds,
                 host: str = "0.0.0.0", port: int = 8080):
        handler = type("Handler", (_Handler,), {"status_source": staticmethod(status_source), "limits": limits})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            raise ConfigError(f"cannot serve /health on {host}:{port}: {err.strerror}",
                              hint="set HEALTH_PORT to a free port or HEALTH_BIND to a local address") from None
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> "HealthServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="health-server", daemon=True)
        self._thread.start()
        log_event(log, "health_server_started", port=self.port)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    status_source: Callable[[], BackupStatus]
    limits: Thresholds

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path not in ("/health", "/metrics"):
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        try:
            status = self.status_source()
            report = evaluate_health(status, self.limits)
        except Exception as err:  # a broken volume must answer 503, not hang up
            log_event(log, "health_check_error", level=logging.ERROR, error_type=type(err).__name__, error=str(err))
            self._send(503, "application/json", json.dumps({"status": "unhealthy", "problems": [str(err)]}).encode())
            return
        if path == "/health":
            body = json.dumps(health_body(status, report)).encode()
            self._send(200 if report.healthy else 503, "application/json", body)
        else:
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(status, report).encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # probes hit these endpoints every few seconds; keep the log for events

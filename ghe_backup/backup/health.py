"""Health and metrics over HTTP: ``GET /health`` (JSON) and ``GET /metrics`` (Prometheus).

``/health`` answers 200 whenever the service runs, from its first second: its ``status`` says
``starting``, ``healthy`` or ``degraded`` and ``alerts`` says why (see ``status``). The platform's
start-up check therefore only asks "is the program up", never "are backups fresh", and a
deploy that fixes stale backups is not failed for them. ``HealthMonitor`` logs each alert when
it is raised and when it clears, whether or not anyone polls.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ghe_backup.errors import ConfigError

from .backup_utils import VERSION, supported_range
from .logs import log_event
from .metrics import render_metrics
from .status import BackupStatus, HealthReport, Thresholds, evaluate_health

log = logging.getLogger(__name__)
SERIOUS = {"data_volume_unwritable", "ghes_version_unsupported", "no_snapshot", "stale"}


class HealthMonitor:
    """Reads the status, evaluates it, and logs alerts as they are raised and cleared."""

    def __init__(self, status_source: Callable[[], BackupStatus], limits: Thresholds):
        self.status_source, self.limits = status_source, limits
        self._lock = threading.Lock()
        self._kinds: frozenset[str] = frozenset()

    def check(self) -> tuple[BackupStatus, HealthReport]:
        status = self.status_source()
        report = evaluate_health(status, self.limits)
        with self._lock:
            raised, cleared = report.kinds - self._kinds, self._kinds - report.kinds
            self._kinds = report.kinds
        for alert in report.alerts:
            if alert.kind in raised:
                level = logging.ERROR if alert.kind in SERIOUS else logging.WARNING
                log_event(log, "alert_raised", level=level, kind=alert.kind, message=alert.message)
        for kind in sorted(cleared):
            log_event(log, "alert_cleared", kind=kind)
        return status, report

    def run(self, stop: threading.Event, interval: float = 60.0) -> None:
        """Check every ``interval`` seconds until ``stop`` (the first check at once)."""
        while True:
            try:
                self.check()
            except Exception as err:  # a broken volume must not end the monitor
                log_event(log, "health_check_error", level=logging.ERROR, error_type=type(err).__name__, error=str(err))
            if stop.wait(interval):
                return


def health_body(status: BackupStatus, report: HealthReport) -> dict:
    """The JSON answer of /health."""
    newest = status.newest_complete
    last = status.state.last_run
    return {
        "status": report.status,
        "alerts": sorted(report.kinds),
        "problems": [a.message for a in report.alerts],
        "last_snapshot": newest.name if newest else None,
        "last_snapshot_age_seconds": round(status.now - newest.taken_at.timestamp()) if newest else None,
        "ghes_version": newest.ghes_version if newest else None,
        "snapshots_kept": status.complete_count,
        "backup_running": status.backup_running,
        "last_run": {"result": last.result, "exit_code": last.exit_code, "duration_seconds": last.duration_seconds}
        if last
        else None,
        "free_bytes": status.free_bytes,
        "backup_utils": {"version": VERSION, "supported_ghes": supported_range()},
    }


class HealthServer:
    """A threaded HTTP server for /health and /metrics; ``port=0`` picks a free port."""

    def __init__(self, monitor: HealthMonitor, host: str = "0.0.0.0", port: int = 8080, poll_interval: float = 0.1):
        """``poll_interval``: how often the serving loop looks for ``stop()`` (what stopping may wait)."""
        self._poll_interval = poll_interval
        handler = type("Handler", (_Handler,), {"monitor": monitor})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as err:
            raise ConfigError(
                f"cannot serve /health on {host}:{port}: {err.strerror}",
                hint="set HEALTH_PORT to a free port or HEALTH_BIND to a local address",
            ) from None
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name="health-server",
            daemon=True,
        )
        self._thread.start()
        log_event(log, "health_server_started", port=self.port)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(5)
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    monitor: HealthMonitor

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in ("/health", "/metrics"):
            self._send(404, "text/plain; charset=utf-8", b"not found\n")
            return
        try:
            status, report = self.monitor.check()
        except Exception as err:  # a broken volume: say so, and still answer (the process is up)
            log_event(log, "health_check_error", level=logging.ERROR, error_type=type(err).__name__, error=str(err))
            if path == "/health":
                body = {"status": "error", "alerts": ["status_unreadable"], "problems": [str(err)]}
                self._send(200, "application/json", json.dumps(body).encode())
            else:
                self._send(503, "text/plain; charset=utf-8", f"status unreadable: {err}\n".encode())
            return
        if path == "/health":
            self._send(200, "application/json", json.dumps(health_body(status, report)).encode())
        else:
            self._send(200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(status, report).encode())

    def _send(self, code: int, content_type: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:
        pass  # probes hit these endpoints every few seconds; keep the log for events

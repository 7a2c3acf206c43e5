"""The container's main program: key -> config -> hygiene -> scheduler and health server.

``run_service`` prepares everything (failing fast with a clear error on bad settings), then
runs backups on the schedule until SIGTERM or SIGINT. On shutdown a running backup is
signalled at once and gets ``SHUTDOWN_GRACE`` seconds for its own clean-up; the lock is
released either way and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from ghe_backup import __version__
from ghe_backup.errors import ConfigError

from .backup_config import render_backup_config, write_backup_config
from .health import HealthServer, Thresholds, collect_status
from .hygiene import run_hygiene
from .logs import log_event
from .runner import BackupRunner, RunOutcome, backup_command
from .schedule import Scheduler, parse_schedule
from .settings import Settings
from .sshkey import install_ssh_key

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> None:
    """Check the settings, install the SSH key, write backup.config and clean the data dir."""
    parse_schedule(settings.schedule)
    backup_command(settings)
    render_backup_config(settings)  # validate before the key step calls KMS
    install_ssh_key(settings)
    path = write_backup_config(settings)
    log_event(log, "backup_config_written", path=str(path), ghe_hostname=settings.ghe_hostname,
              data_dir=str(settings.data_dir), num_snapshots=settings.num_snapshots)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create GHE_DATA_DIR={settings.data_dir}: {err.strerror}",
                          hint="check the data volume's permissions") from None
    run_hygiene(settings.data_dir, settings.lock_path, stale_marker_age=settings.stale_marker_age,
                stalled_snapshot_age=settings.stalled_snapshot_age)


class _SkipCounter:
    """Counts skipped starts for /metrics: lock busy, or a due time missed while running."""

    def __init__(self, runner: BackupRunner):
        self.runner, self.skipped, self.scheduler = runner, 0, None

    def run_once(self) -> RunOutcome:
        outcome = self.runner.run_once()
        self.skipped += outcome.result == "skipped"
        return outcome

    @property
    def total(self) -> int:
        return self.skipped + (self.scheduler.missed_total if self.scheduler else 0)


def run_service(settings: Settings, *, stop: threading.Event | None = None, handle_signals: bool = True) -> int:
    """Run the backup service until ``stop`` is set (by SIGTERM/SIGINT when ``handle_signals``)."""
    started_at = time.time()
    log_event(log, "service_starting", version=__version__, schedule=settings.schedule,
              data_dir=str(settings.data_dir))
    prepare(settings)
    stop = stop or threading.Event()
    if handle_signals:
        def request_stop(signum, _frame):
            log_event(log, "shutdown_requested", signal=signal.Signals(signum).name)
            stop.set()
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    runner = BackupRunner(settings)
    counter = _SkipCounter(runner)
    scheduler = Scheduler(settings.schedule, counter.run_once, stop)
    counter.scheduler = scheduler

    def status():
        return collect_status(settings.data_dir, settings.lock_path, settings.state_path,
                              now=time.time(), started_at=started_at, skipped_total=counter.total)

    server = HealthServer(status, Thresholds.from_settings(settings), settings.health_bind,
                          settings.health_port).start()
    worker = threading.Thread(target=scheduler.run, name="scheduler", daemon=True)
    worker.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        was_running = runner.stop(settings.shutdown_grace)
        worker.join(5)
        server.stop()
        log_event(log, "service_stopped", backup_was_running=was_running)
    return 0

"""The container's main program: health server -> key -> config -> hygiene -> scheduled backups.

``run_service`` serves ``/health`` before anything slow (KMS, hygiene of a large volume), so the
platform's start-up check gets its 200 within the first second. Bad settings still stop the
program with exit 2; a data volume that turned read-only does not: the service keeps answering,
reports the alert and skips backups until the volume is writable again. On SIGTERM or SIGINT a
running backup is signalled at once and given ``SHUTDOWN_GRACE`` seconds for its own clean-up;
the lock is released either way and the process exits 0.
"""

from __future__ import annotations

import errno
import logging
import signal
import threading
import time

from ghe_backup import __version__
from ghe_backup.errors import ConfigError

from .backup_config import render_backup_config, write_backup_config
from .health import HealthMonitor, HealthServer
from .hygiene import HygieneFailed, run_hygiene
from .lock import lock_is_held
from .logs import log_event
from .runner import BackupRunner, RunOutcome, backup_command
from .schedule import Scheduler, parse_schedule
from .settings import Settings
from .sshkey import install_ssh_key
from .state_table import StateTable, interrupted_update, last_good, open_state_table, refresh_update, run_hooks
from .status import Thresholds, collect_status
from .volume import unwritable

log = logging.getLogger(__name__)
MONITOR_INTERVAL = 60.0  # seconds between alert checks when nobody polls /health
#: Seconds the last state-table update gets at shutdown. Short, because on Taupage the whole
#: stop must fit Docker's default stop timeout: SHUTDOWN_GRACE (5 s there) + this + under 1 s
#: for the rest must stay below DOCKER_STOP_TIMEOUT (docs/backup-program.md, "The stop timeout").
FLUSH_TIMEOUT = 3.0
#: Docker's default stop timeout, the one Taupage stops the container with (it cannot set another).
DOCKER_STOP_TIMEOUT = 10.0


def prepare(settings: Settings) -> None:
    """Check the settings, install the SSH key, write backup.config and clean the data dir."""
    parse_schedule(settings.schedule)
    backup_command(settings)
    render_backup_config(settings)  # validate before the key step calls KMS
    install_ssh_key(settings)
    path = write_backup_config(settings)
    log_event(
        log,
        "backup_config_written",
        path=str(path),
        ghe_hostname=settings.ghe_hostname,
        data_dir=str(settings.data_dir),
        num_snapshots=settings.num_snapshots,
    )
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno != errno.EROFS:
            raise ConfigError(
                f"cannot create GHE_DATA_DIR={settings.data_dir}: {err.strerror}",
                hint="check the data volume's permissions",
            ) from None
    problem = unwritable(settings.data_dir)
    if problem:  # e.g. ext4 remounted read-only after I/O errors: report it, do not restart-loop
        log_event(log, "data_volume_unwritable", level=logging.ERROR, data_dir=str(settings.data_dir), problem=problem)
        return
    try:
        run_hygiene(
            settings.data_dir,
            settings.lock_path,
            stale_marker_age=settings.stale_marker_age,
            stalled_snapshot_age=settings.stalled_snapshot_age,
        )
    except HygieneFailed as err:  # as before each run: logged, and the service goes on
        log_event(log, "hygiene_failed", level=logging.WARNING, error=err.message)


def record_startup(settings: Settings, table: StateTable | None) -> None:
    """Tell the account what the volume holds, and close a run that died with its container."""
    if table is None:
        return
    good, now = last_good(settings.data_dir), time.time()
    if good is not None:
        table.send(refresh_update(now, table.host, good))
    if not lock_is_held(settings.lock_path):
        table.send(interrupted_update(now, table.host, good))


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
    stop = stop or threading.Event()
    if handle_signals:

        def request_stop(signum, _frame):
            log_event(log, "shutdown_requested", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    log_event(log, "service_starting", version=__version__, schedule=settings.schedule, data_dir=str(settings.data_dir))

    ready = threading.Event()
    table = open_state_table(settings)
    runner = BackupRunner(settings, hooks=run_hooks(settings, table))
    counter = _SkipCounter(runner)

    def status():
        return collect_status(
            settings.data_dir,
            settings.lock_path,
            settings.state_path,
            now=time.time(),
            started_at=started_at,
            skipped_total=counter.total,
            data_mount=settings.data_mount,
            ready=ready.is_set(),
        )

    monitor = HealthMonitor(status, Thresholds.from_settings(settings))
    server = HealthServer(monitor, settings.health_bind, settings.health_port).start()
    threading.Thread(target=monitor.run, args=(stop, MONITOR_INTERVAL), name="alerts", daemon=True).start()
    worker = None
    was_running = False
    try:
        prepare(settings)
        ready.set()
        record_startup(settings, table)
        scheduler = Scheduler(settings.schedule, counter.run_once, stop)
        counter.scheduler = scheduler
        worker = threading.Thread(target=scheduler.run, name="scheduler", daemon=True)
        worker.start()
        while not stop.wait(1.0):
            pass
    finally:
        stopping_since = time.monotonic()
        was_running = runner.stop(settings.shutdown_grace)
        if worker is not None:
            worker.join(5)
        if table is not None:
            table.flush(FLUSH_TIMEOUT)
        server.stop()
        log_event(
            log,
            "service_stopped",
            backup_was_running=was_running,
            shutdown_seconds=round(time.monotonic() - stopping_since, 3),
        )
    return 0

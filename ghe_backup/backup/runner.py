"""Run backup-utils' ``ghe-backup`` once, under the backup lock, and record the result.

This is the one place that starts the backup command. It runs in its own process group so a
shutdown can stop backup-utils with everything it started (ssh, rsync). Its output is logged
line by line; its exit code and duration go to the state file.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

from ghe_backup.errors import ConfigError

from .hygiene import clean_data_dir
from .lock import PATIENCE, BackupLock
from .logs import log_event
from .settings import Settings
from .state import RunRecord, record_run

log = logging.getLogger(__name__)
TERMINATE_WAIT = 10.0  # seconds between SIGTERM and SIGKILL for the backup's process group


class BackupCommandMissing(ConfigError):
    """The backup-utils command is not installed where we look for it."""


@dataclass(frozen=True)
class RunOutcome:
    result: str  # "success", "failed", "terminated" or "skipped"
    exit_code: int | None = None
    duration_seconds: float = 0.0
    reason: str | None = None


def backup_command(settings: Settings) -> list[str]:
    """The backup command as argv, its program resolved on PATH."""
    argv = shlex.split(settings.backup_command)
    program = shutil.which(argv[0]) if argv else None
    if program is None:
        raise BackupCommandMissing(
            f"backup command {settings.backup_command!r} not found",
            hint="install backup-utils on PATH or set GHE_BACKUP_COMMAND to its ghe-backup",
        )
    return [program, *argv[1:]]


class BackupRunner:
    """Runs one backup at a time; ``stop()`` lets a running one finish or stops it cleanly."""

    def __init__(self, settings: Settings, *, lock_patience: float = PATIENCE):
        self.settings = settings
        self.lock_patience = lock_patience
        self._mutex = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._proc: subprocess.Popen | None = None
        self._terminated = False

    def run_once(self) -> RunOutcome:
        """Run the backup unless one is running (here or in another process)."""
        argv = backup_command(self.settings)
        with self._mutex:
            if self._stopping:
                return self._skipped("shutting down")
            lock = BackupLock(self.settings.lock_path)
            if not lock.acquire(wait=self.lock_patience):
                return self._skipped("another backup holds the lock")
            self._idle.clear()
            self._terminated = False
        try:
            return self._run_locked(argv)
        finally:
            lock.release()
            self._idle.set()

    def _skipped(self, reason: str) -> RunOutcome:
        log_event(log, "backup_skipped", level=logging.WARNING, reason=reason)
        return RunOutcome("skipped", reason=reason)

    def _run_locked(self, argv: list[str]) -> RunOutcome:
        s = self.settings
        clean_data_dir(
            s.data_dir, now=time.time(), stale_marker_age=s.stale_marker_age,
            stalled_snapshot_age=s.stalled_snapshot_age,
        )
        env = dict(os.environ, GHE_BACKUP_CONFIG=str(s.backup_config_path))
        with self._mutex:
            if self._stopping:  # stop() came while hygiene ran: start nothing new
                return self._skipped("shutting down")
            started_at, t0 = time.time(), time.monotonic()
            log_event(log, "backup_started", command=argv)
            self._proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, text=True, errors="replace", start_new_session=True,
            )
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            log_event(log, "backup_output", line=line.rstrip("\n"))
        exit_code = self._proc.wait()
        with self._mutex:
            self._proc = None
        duration = time.monotonic() - t0
        result = "success" if exit_code == 0 else "terminated" if self._terminated else "failed"
        record_run(s.state_path, RunRecord(started_at, time.time(), round(duration, 3), exit_code, result))
        level = logging.INFO if result == "success" else logging.ERROR
        log_event(log, "backup_finished", level=level, result=result, exit_code=exit_code,
                  duration_seconds=round(duration, 3))
        return RunOutcome(result, exit_code, duration)

    def terminate(self) -> None:
        """Send SIGTERM to the running backup's process group, if any."""
        self._signal(signal.SIGTERM)

    def _signal(self, signum: int) -> None:
        with self._mutex:
            if self._proc is None or self._proc.poll() is not None:
                return
            self._terminated = True
            try:
                os.killpg(self._proc.pid, signum)
            except ProcessLookupError:
                return
        log_event(log, "backup_signalled", level=logging.WARNING, signal=signal.Signals(signum).name)

    def stop(self, grace: float) -> bool:
        """Start no more runs; give a running one ``grace`` seconds, then stop it. True if it finished by itself."""
        with self._mutex:
            self._stopping = True
        if self._idle.wait(grace):
            return True
        self.terminate()
        if not self._idle.wait(TERMINATE_WAIT):
            self._signal(signal.SIGKILL)
            self._idle.wait(5)
        return False

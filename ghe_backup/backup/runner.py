"""Run backup-utils' ``ghe-backup`` once, under the backup lock, and record the result.

This is the one place that starts the backup command. It runs in its own process group so a
shutdown can signal backup-utils with everything it started (ssh, rsync) and nothing else; its
output is logged line by line; its exit code and duration go to the state file. The lock is
released only after the whole group is gone and the markers a killed run leaves are removed.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ghe_backup.errors import ConfigError

from .backup_utils import ghes_supported, supported_range
from .hygiene import clean_data_dir
from .lock import PATIENCE, BackupLock
from .logs import log_event
from .markers import remove_stale_markers
from .settings import Settings
from .snapshots import newest_complete
from .state import RunRecord, record_run
from .volume import unwritable

log = logging.getLogger(__name__)
KILL_WAIT = 10.0  # seconds to wait for the run to end after SIGKILL
LEFTOVER_WAIT = 2.0  # seconds group members that outlive backup-utils get between SIGTERM and SIGKILL


class BackupCommandMissing(ConfigError):
    """The backup-utils command is not installed where we look for it."""


@dataclass(frozen=True)
class RunOutcome:
    result: str  # "success", "failed", "terminated" or "skipped"
    exit_code: int | None = None
    duration_seconds: float = 0.0
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    ghes_version: str | None = None  # of the newest complete snapshot after the run


@dataclass(frozen=True)
class RunHooks:
    """Who else hears of runs (the account's state table); called on the running thread."""

    started: Callable[[float], None] = lambda started_at: None
    finished: Callable[[RunOutcome], None] = lambda outcome: None


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


def backup_environment(settings: Settings) -> dict[str, str]:
    """backup-utils names snapshots in local time and we read the names as UTC: force UTC."""
    return dict(os.environ, GHE_BACKUP_CONFIG=str(settings.backup_config_path), TZ="UTC")


class BackupRunner:
    """Runs one backup at a time; ``stop()`` signals a running one and waits for its clean-up."""

    def __init__(self, settings: Settings, *, lock_patience: float = PATIENCE, hooks: RunHooks = RunHooks()):
        self.settings = settings
        self.lock_patience = lock_patience
        self.hooks = hooks
        self._mutex = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._stopping = False
        self._proc: subprocess.Popen | None = None
        self._terminated = False

    @property
    def running(self) -> bool:
        return not self._idle.is_set()

    def run_once(self) -> RunOutcome:
        """Run the backup unless one is running (here or in another process)."""
        argv = backup_command(self.settings)
        with self._mutex:
            if self._stopping:
                return self._skipped("shutting down")
            problem = unwritable(self.settings.data_dir)
            lock = BackupLock(self.settings.lock_path)
            try:
                acquired = problem is None and lock.acquire(wait=self.lock_patience)
            except OSError as err:
                acquired, problem = False, f"cannot take the backup lock ({err.strerror})"
            if problem is not None:
                return self._not_started(f"GHE_DATA_DIR={self.settings.data_dir} {problem}")
            if not acquired:
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
        outcome = RunOutcome("skipped", reason=reason)
        self.hooks.finished(outcome)
        return outcome

    def _not_started(self, reason: str) -> RunOutcome:
        log_event(log, "backup_not_started", level=logging.ERROR, reason=reason)
        now = time.time()
        outcome = RunOutcome("failed", reason=reason, started_at=now, finished_at=now)
        self.hooks.finished(outcome)
        return outcome

    def _run_locked(self, argv: list[str]) -> RunOutcome:
        s = self.settings
        try:
            clean_data_dir(
                s.data_dir,
                now=time.time(),
                stale_marker_age=s.stale_marker_age,
                stalled_snapshot_age=s.stalled_snapshot_age,
            )
        except OSError as err:  # a full or failing volume: backup-utils reports the rest
            log_event(log, "hygiene_failed", level=logging.WARNING, error=err.strerror)
        with self._mutex:
            if self._stopping:  # stop() came while hygiene ran: start nothing new
                return self._skipped("shutting down")
            started_at, t0 = time.time(), time.monotonic()
            log_event(log, "backup_started", command=argv)
            # Before backup-utils runs: it creates its snapshot directory a moment before it
            # marks it incomplete, so the volume is read for the start's record now.
            self.hooks.started(started_at)
            try:
                proc = self._proc = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=backup_environment(s),
                    text=True,
                    errors="replace",
                    start_new_session=True,
                )
            except OSError as err:
                outcome = RunOutcome(
                    "failed",
                    reason=f"cannot start {argv[0]}: {err.strerror}",
                    started_at=started_at,
                    finished_at=time.time(),
                )
                log_event(log, "backup_not_started", level=logging.ERROR, reason=outcome.reason)
                self.hooks.finished(outcome)
                return outcome
        reader = threading.Thread(target=self._log_output, args=(proc.stdout,), name="backup-output", daemon=True)
        reader.start()
        exit_code = proc.wait()
        self._end_group(proc.pid, reader)
        with self._mutex:
            self._proc = None
        remove_stale_markers(s.data_dir, now=time.time(), stale_age=s.stale_marker_age, written_since=started_at)
        duration = time.monotonic() - t0
        result = "success" if exit_code == 0 else "terminated" if self._terminated else "failed"
        finished_at = time.time()
        record_run(s.state_path, RunRecord(started_at, finished_at, round(duration, 3), exit_code, result))
        newest = newest_complete(s.data_dir)
        version = newest.ghes_version if newest else None
        log_event(
            log,
            "backup_finished",
            level=logging.INFO if result == "success" else logging.ERROR,
            result=result,
            exit_code=exit_code,
            duration_seconds=round(duration, 3),
            snapshot=newest.name if newest else None,
            ghes_version=version,
        )
        if version is not None and ghes_supported(version) is False:
            log_event(
                log,
                "ghes_version_unsupported",
                level=logging.ERROR,
                ghes_version=version,
                supported=supported_range(),
                snapshot=newest.name,
            )
        outcome = RunOutcome(
            result, exit_code, duration, started_at=started_at, finished_at=finished_at, ghes_version=version
        )
        self.hooks.finished(outcome)
        return outcome

    @staticmethod
    def _log_output(stream) -> None:
        for line in stream:
            log_event(log, "backup_output", line=line.rstrip("\n"))

    def _end_group(self, pgid: int, reader: threading.Thread) -> None:
        """Stop what backup-utils left running in its group, so its output pipe closes."""
        for signum, wait in ((signal.SIGTERM, LEFTOVER_WAIT), (signal.SIGKILL, LEFTOVER_WAIT)):
            if not _group_alive(pgid):
                break
            log_event(log, "backup_leftovers_signalled", level=logging.WARNING, signal=signal.Signals(signum).name)
            _killpg(pgid, signum)
            deadline = time.monotonic() + wait
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        reader.join(LEFTOVER_WAIT)

    def terminate(self) -> None:
        """Send SIGTERM to the running backup's process group, if any."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """Send SIGKILL to the running backup's process group, if any (no clean-up)."""
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with self._mutex:
            if self._proc is None:
                return
            self._terminated = True
            sent = _killpg(self._proc.pid, signum)
        if sent:
            log_event(log, "backup_signalled", level=logging.WARNING, signal=signal.Signals(signum).name)

    def stop(self, grace: float) -> bool:
        """Start no more runs; SIGTERM a running one at once and give its clean-up ``grace``
        seconds before SIGKILL. True if a backup was running."""
        with self._mutex:
            self._stopping = True
        if self._idle.is_set():
            return False
        # A multi-hour backup will not finish within a stop timeout: what backup-utils needs is
        # time for its exit trap (re-enable git gc on the appliance, remove its markers).
        self.terminate()
        if not self._idle.wait(grace):
            self._signal(signal.SIGKILL)
            self._idle.wait(KILL_WAIT)
        return True


def _killpg(pgid: int, signum: int) -> bool:
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_alive(pgid: int, proc: Path = Path("/proc")) -> bool:
    """True while a process of the group is alive; zombies waiting for init do not count."""
    if not _killpg(pgid, 0):
        return False
    try:
        stats = [entry / "stat" for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return True
    for stat in stats:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False

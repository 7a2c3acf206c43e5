"""When backups run: the cron expression in ``BACKUP_SCHEDULE``, evaluated in UTC.

Each account gets its own schedule so two accounts never back up the same appliance at
the same time (staging at odd hours, prod at even hours); ``find_overlaps`` checks that.
``Scheduler`` calls the backup at each due time; a due time that passes while a backup is
still running is skipped and logged, never queued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from croniter import croniter

from ghe_backup.errors import ConfigError

from .logs import log_event

log = logging.getLogger(__name__)
MAX_SLEEP = 30.0  # re-read the clock at least this often (clock changes, suspend)


class ScheduleError(ConfigError):
    """``BACKUP_SCHEDULE`` is missing or not a cron expression."""


def parse_schedule(expression: str | None) -> str:
    """Check a cron expression (5 fields, or 6 with seconds last) and return it."""
    if not expression:
        raise ScheduleError("BACKUP_SCHEDULE is not set", hint="set a cron expression, e.g. '0 */2 * * *'")
    if len(expression.split()) not in (5, 6) or not croniter.is_valid(expression):
        raise ScheduleError(
            f"BACKUP_SCHEDULE={expression!r} is not a valid cron expression",
            hint="use five fields: minute hour day-of-month month day-of-week, e.g. '0 */2 * * *'",
        )
    return expression


def next_run(expression: str, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    return croniter(expression, after.astimezone(UTC)).get_next(datetime)


def runs_between(expression: str, start: datetime, end: datetime) -> list[datetime]:
    """All due times in ``(start, end]``."""
    runs, it = [], croniter(expression, start.astimezone(UTC))
    while (due := it.get_next(datetime)) <= end:
        runs.append(due)
    return runs


def find_overlaps(
    schedules: Mapping[str, str], start: datetime, end: datetime, max_duration: timedelta
) -> list[tuple[str, datetime, str, datetime]]:
    """Pairs of runs of different schedules that would overlap if each ran ``max_duration``."""
    runs = sorted((due, name) for name, expression in schedules.items() for due in runs_between(expression, start, end))
    # Any overlap between two schedules shows up between neighbours in time order.
    return [
        (a_name, a_due, b_name, b_due)
        for (a_due, a_name), (b_due, b_name) in zip(runs, runs[1:], strict=False)
        if a_name != b_name and b_due < a_due + max_duration
    ]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Call ``job`` at each due time of ``expression`` until ``stop`` is set."""

    def __init__(
        self, expression: str, job: Callable[[], object], stop: threading.Event, clock: Callable[[], datetime] = _utcnow
    ):
        self.expression = parse_schedule(expression)
        self.job, self.stop, self.clock = job, stop, clock
        self.missed_total = 0

    def run(self) -> None:
        due = next_run(self.expression, self.clock())
        log_event(log, "backup_scheduled", next_run=due.isoformat(), schedule=self.expression)
        while not self.stop.is_set():
            remaining = (due - self.clock()).total_seconds()
            if remaining > 0:
                self.stop.wait(min(remaining, MAX_SLEEP))
                continue
            try:
                self.job()
            except Exception as err:  # one failed run must not end the schedule
                log_event(log, "backup_error", level=logging.ERROR, error=str(err), error_type=type(err).__name__)
            finished = self.clock()
            missed = runs_between(self.expression, due, finished)
            if missed:
                self.missed_total += len(missed)
                log_event(
                    log,
                    "backup_skipped",
                    level=logging.WARNING,
                    reason="previous backup still running",
                    missed=[m.isoformat() for m in missed],
                )
            due = next_run(self.expression, finished)
            log_event(log, "backup_scheduled", next_run=due.isoformat(), schedule=self.expression)

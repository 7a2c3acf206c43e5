"""Schedules: next runs for the shipped staging and prod schedules, no overlap between
them, and the scheduler loop (with a fake clock) runs, skips and stops as it should."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import events

from ghe_backup.backup.schedule import (
    ScheduleError,
    Scheduler,
    find_overlaps,
    next_run,
    parse_schedule,
    runs_between,
)

# Two schedules in the shape accounts use (even and odd hours); tests/test_shipped_config.py
# checks the operators' own accounts never overlap.
STAGING = "0 1-23/2 * * *"
PROD = "0 */2 * * *"
START = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
MAX_BACKUP = timedelta(minutes=59)


def test_next_run_for_the_shipped_schedules():
    assert next_run(STAGING, START) == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert next_run(PROD, START) == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # strictly after
    assert next_run(PROD, START - timedelta(seconds=1)) == START
    assert next_run(STAGING, datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == datetime(2027, 1, 1, 1, 0, tzinfo=UTC)


def test_staging_runs_at_odd_hours_and_prod_at_even_hours():
    staging, prod = runs_between(STAGING, START, START + WEEK), runs_between(PROD, START, START + WEEK)
    assert len(staging) == len(prod) == 7 * 12
    assert {t.hour % 2 for t in staging} == {1} and {t.hour % 2 for t in prod} == {0}
    assert {(t.minute, t.second) for t in staging + prod} == {(0, 0)}


def test_shipped_schedules_never_overlap_over_a_week():
    assert find_overlaps({"staging": STAGING, "prod": PROD}, START, START + WEEK, MAX_BACKUP) == []


def test_overlap_check_finds_real_clashes():
    # Backups longer than the one-hour gap would overlap: every neighbouring pair of the
    # week's 168 alternating runs clashes.
    assert (
        len(find_overlaps({"staging": STAGING, "prod": PROD}, START, START + WEEK, timedelta(minutes=61)))
        == 2 * 7 * 12 - 1
    )
    clash = find_overlaps({"prod": PROD, "other": "30 */2 * * *"}, START, START + timedelta(days=1), MAX_BACKUP)
    assert clash and clash[0][0] == "prod" and clash[0][3] - clash[0][1] == timedelta(minutes=30)


@pytest.mark.parametrize("bad", [None, "", "every two hours", "0 25 * * *", "* * * *", "0 0 * * * * * *"])
def test_bad_schedules_name_the_variable(bad):
    with pytest.raises(ScheduleError, match="BACKUP_SCHEDULE"):
        parse_schedule(bad)


class FakeTime:
    """A clock that only moves when the scheduler waits or a job takes time."""

    def __init__(self, start: datetime):
        self.now = start
        self.stopped = False
        self.waits: list[float] = []

    def clock(self) -> datetime:
        return self.now

    # the threading.Event interface the scheduler uses
    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self.now += timedelta(seconds=timeout)
        return self.stopped

    def set(self) -> None:
        self.stopped = True


def test_scheduler_runs_at_due_times_and_skips_missed_ones(caplog):
    fake = FakeTime(START + timedelta(minutes=30))  # 08:30
    calls: list[datetime] = []
    durations = iter([timedelta(minutes=10), timedelta(hours=4, minutes=30), timedelta(minutes=5)])

    def job():
        calls.append(fake.now)
        fake.now += next(durations)
        if len(calls) == 3:
            fake.set()

    scheduler = Scheduler(PROD, job, fake, clock=fake.clock)
    caplog.set_level("INFO")
    scheduler.run()
    t = lambda h, m=0: datetime(2026, 11, 27, h, m, tzinfo=UTC)  # noqa: E731
    # 10:00 runs 10 min; 12:00 runs until 16:30, so 14:00 and 16:00 are skipped; next is 18:00.
    assert calls == [t(10), t(12), t(18)]
    assert scheduler.missed_total == 2
    [skip] = [e for e in events(caplog) if e["event"] == "backup_skipped"]
    assert skip["reason"] == "previous backup still running"
    assert skip["missed"] == [t(14).isoformat(), t(16).isoformat()]
    assert max(fake.waits) <= 30  # the clock is re-read at least every 30 s


def test_scheduler_survives_a_failing_job(caplog):
    fake = FakeTime(START)
    calls = []

    def job():
        calls.append(fake.now)
        if len(calls) == 2:
            fake.set()
        raise RuntimeError("boom")

    Scheduler(STAGING, job, fake, clock=fake.clock).run()
    errors = [e for e in events(caplog) if e["event"] == "backup_error"]
    assert len(calls) == 2 and [e["error"] for e in errors] == ["boom", "boom"]

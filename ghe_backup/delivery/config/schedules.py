"""Backup schedules: each is a cron expression the container accepts and that fires, and no two
accounts back up within one backup slot of each other.

Two accounts back up the same appliance; a backup takes up to about an hour, so two runs that
start closer than ``SLOT`` would overlap (prod on even hours and staging on odd hours do not).
Times are UTC, as in the container. The check looks at one period of the pair of schedules (a
day when both fire every day, a week when they depend on the weekday, else a year) and walks
the sparser one, so it costs a few hundred cron steps for any realistic pair. The answers are
remembered per expression (pure functions of their strings): a run checks each account once, the
tests check the same schedules hundreds of times.
"""

from __future__ import annotations

import datetime as dt
import functools

from ghe_backup.errors import ConfigError

SLOT = dt.timedelta(minutes=59)
#: A Monday at midnight: fixed, so every run gives the same answer.
EPOCH = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
DAY, WEEK, YEAR = dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(days=366)


def schedule_problem(expression: object) -> str | None:
    """Why ``expression`` cannot be a backup schedule, or None."""
    if not isinstance(expression, str) or not expression.strip():
        return "missing or empty: the container refuses to start without a schedule"
    return _cron_problem(expression)


@functools.lru_cache(maxsize=256)
def _cron_problem(expression: str) -> str | None:
    from ghe_backup.backup.schedule import parse_schedule  # croniter: loaded when a schedule is checked

    try:
        parse_schedule(expression)  # the container's own rule: 5 fields (6 with seconds), valid
    except ConfigError:
        return "is not a cron expression the container accepts"
    if _first(expression, EPOCH, years=1) is None:
        return "never fires within a year (a day that does not exist?)"
    return None


@functools.lru_cache(maxsize=256)
def longest_gap(expression: str) -> dt.timedelta:
    """The longest time between two runs, over one period of the schedule."""
    from croniter import croniter

    end = EPOCH + _period(expression, expression)
    it = croniter(expression, EPOCH - dt.timedelta(seconds=1))
    previous, gap = None, dt.timedelta(0)
    for _ in range(5000):  # a denser schedule has no long gap worth finding
        when = it.get_next(dt.datetime)
        if previous is not None:
            gap = max(gap, when - previous)
        if when > end:
            break
        previous = when
    return gap


@functools.lru_cache(maxsize=256)
def first_overlap(a: str, b: str) -> tuple[dt.datetime, dt.datetime] | None:
    """A run of ``a`` and a run of ``b`` that start within ``SLOT`` of each other, or None."""
    from croniter import croniter

    end = EPOCH + _period(a, b) + SLOT
    iterators = {a: croniter(a, EPOCH - SLOT), b: croniter(b, EPOCH - SLOT)}
    runs: dict[str, list[dt.datetime]] = {a: [], b: []}
    done = None
    while done is None:  # advance both in step; the first to pass the end is the sparser
        for expression, it in iterators.items():
            when = it.get_next(dt.datetime)
            if when > end:
                done = expression
                break
            runs[expression].append(when)
    other = b if done == a else a
    for when in runs[done]:
        near = croniter(other, when - SLOT).get_next(dt.datetime)
        if near < when + SLOT:
            return (when, near) if done == a else (near, when)
    return None


def _period(a: str, b: str) -> dt.timedelta:
    """How long until both schedules repeat: a day, a week, or (day of month or month used) a year."""
    fields = [expression.split() for expression in (a, b)]
    if any(f[2] != "*" or f[3] != "*" for f in fields):
        return YEAR
    return DAY if all(f[4] in ("*", "?") for f in fields) else WEEK


def _first(expression: str, start: dt.datetime, years: int) -> dt.datetime | None:
    from croniter import CroniterBadDateError, croniter

    try:
        return croniter(expression, start, max_years_between_matches=years).get_next(dt.datetime)
    except (CroniterBadDateError, ValueError, KeyError):
        return None

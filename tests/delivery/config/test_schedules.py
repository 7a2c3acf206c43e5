"""Backup schedules: valid for the container, firing, fresh enough, and never two accounts at once."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from ghe_backup.delivery.config import schedules


@pytest.mark.parametrize(
    "a, b",
    [
        ("0 */2 * * *", "0 1-23/2 * * *"),  # the shipped prod and staging: even and odd hours
        ("0 3 * * *", "0 5 * * *"),
        ("0 3 * * mon", "0 3 * * tue"),  # the same hour on other weekdays
        ("0 0 1 * *", "0 0 15 * *"),  # monthly, two weeks apart
    ],
)
def test_schedules_an_hour_or_more_apart_do_not_overlap(a, b):
    assert schedules.first_overlap(a, b) is None
    assert schedules.first_overlap(b, a) is None


@pytest.mark.parametrize(
    "a, b, first",
    [
        ("0 */2 * * *", "30 */2 * * *", (dt.datetime(2026, 1, 5, 0, 0), dt.datetime(2026, 1, 5, 0, 30))),
        ("0 */2 * * *", "0 * * * *", (dt.datetime(2026, 1, 5, 0, 0), dt.datetime(2026, 1, 5, 0, 0))),
        (
            "50 23 * * *",
            "10 0 * * *",
            (dt.datetime(2026, 1, 4, 23, 50), dt.datetime(2026, 1, 5, 0, 10)),
        ),  # across midnight
        (
            "0 3 * * 1",
            "30 3 5 1 *",
            (dt.datetime(2026, 1, 5, 3, 0), dt.datetime(2026, 1, 5, 3, 30)),
        ),  # Jan 5 2026 is a Monday
        ("0 2 * * *", "* * * * *", None),  # every minute clashes with anything
    ],
)
def test_overlaps_are_found_with_an_example(a, b, first):
    found = schedules.first_overlap(a, b)
    assert found is not None
    if first:
        assert tuple(t.replace(tzinfo=None) for t in found) == first


def test_a_rare_clash_within_a_year_is_found_quickly():
    started = time.monotonic()
    # the 13th falls on a Friday in 2026 (February, March, November): a clash a few times a year
    assert schedules.first_overlap("0 4 13 * *", "20 4 * * fri") is not None
    assert time.monotonic() - started < 1


def test_a_dense_and_a_sparse_schedule_are_checked_by_the_sparse_one_in_milliseconds():
    started = time.monotonic()
    assert schedules.first_overlap("* * * 1 *", "0 12 1 7 *") is None  # every minute of January vs July 1
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("0 */2 * * *", None),
        ("0 25 * * *", "is not a cron expression the container accepts"),
        ("0 0 30 2 *", "never fires within a year (a day that does not exist?)"),
        ("", "missing or empty: the container refuses to start without a schedule"),
        (None, "missing or empty: the container refuses to start without a schedule"),
    ],
)
def test_schedule_problems(expression, problem):
    assert schedules.schedule_problem(expression) == problem


@pytest.mark.parametrize(
    "expression, hours",
    [("0 */2 * * *", 2), ("0 1-23/2 * * *", 2), ("0 3 * * *", 24), ("0 3 * * mon", 168), ("0 9-17 * * *", 16)],
)
def test_longest_gap(expression, hours):
    assert schedules.longest_gap(expression) == dt.timedelta(hours=hours)

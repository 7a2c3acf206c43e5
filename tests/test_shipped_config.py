"""The operators' own config (config/, senza/): it validates, and no two accounts' backups overlap.

The only tests that read the shipped files; everything else uses tests/data/tree/.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

from croniter import croniter

from ghe_backup.delivery.config import load_accounts

REPO = Path(__file__).resolve().parents[1]
#: A backup of one appliance runs up to this long; two accounts starting closer than that overlap.
BACKUP_SLOT = dt.timedelta(minutes=59)


def schedules():
    return {
        name: account.component("AppServer")["TaupageConfig"]["environment"]["BACKUP_SCHEDULE"]
        for name, account in load_accounts(REPO).items()
    }


def starts(expression: str, days: int = 7) -> list[dt.datetime]:
    begin = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday
    it = croniter(expression, begin - dt.timedelta(seconds=1))
    found = []
    while (when := it.get_next(dt.datetime)) < begin + dt.timedelta(days=days):
        found.append(when)
    return found


def test_every_shipped_overlay_validates():
    assert load_accounts(REPO)  # raises ConfigError with file:line otherwise


def test_no_two_accounts_back_up_at_the_same_time():
    found = {name: starts(expression) for name, expression in schedules().items()}
    for (a, times_a), (b, times_b) in itertools.combinations(found.items(), 2):
        clashes = [(x, y) for x in times_a for y in times_b if abs(x - y) < BACKUP_SLOT]
        assert not clashes, f"{a} and {b} back up within {BACKUP_SLOT} of each other, e.g. {clashes[0]}"


def test_the_backup_program_agrees_no_two_accounts_overlap():
    from ghe_backup.backup.schedule import find_overlaps

    begin = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    assert find_overlaps(schedules(), begin, begin + dt.timedelta(days=7), BACKUP_SLOT) == []

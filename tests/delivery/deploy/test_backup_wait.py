"""One rule tells a live backup run from a dead container's ``running`` flag, for the deploy's wait
and ``inv status`` alike: the record's last sign of life against its heartbeat interval."""

from __future__ import annotations

import datetime as dt

import pytest

from ghe_backup.delivery.deploy.backup_wait import DEAD, IDLE, RUNNING, run_state, running_backup

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def ago(**delta) -> str:
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(**fields):
    return {"pk": "backup", "sk": "status", "running": True, "run_started": ago(hours=9), **fields}


@pytest.mark.parametrize(
    "item, state",
    [
        (None, IDLE),
        (record(running=False, heartbeat=ago(hours=30)), IDLE),
        # a nine-hour run whose program beats every 5 min: alive while it keeps beating
        (record(heartbeat=ago(minutes=4), heartbeat_seconds=300, updated=ago(minutes=4)), RUNNING),
        (record(heartbeat=ago(minutes=14), heartbeat_seconds=300), RUNNING),  # two beats missed: still alive
        (record(heartbeat=ago(minutes=16), heartbeat_seconds=300), DEAD),  # three missed: its container is gone
        (record(heartbeat=ago(minutes=16), heartbeat_seconds=3600), RUNNING),  # the interval is the record's
        # a record of a program from before heartbeats: it wrote only at the start (or a skip's update)
        (record(updated=ago(hours=9)), RUNNING),
        (record(run_started=ago(hours=25)), DEAD),
        (record(heartbeat_seconds="300", heartbeat=ago(minutes=20)), DEAD),  # numbers as the store gives them
    ],
    ids=["none", "ended", "beating", "two-missed", "three-missed", "longer-interval", "legacy", "legacy-day", "text"],
)
def test_the_run_state_of_a_record(item, state):
    assert run_state(item, NOW) == state


class Store:
    def __init__(self, item):
        self.item = item

    def get(self, pk, sk):
        return self.item


def test_the_deploy_waits_for_a_beating_run_and_not_for_a_silent_one():
    beating = record(heartbeat=ago(minutes=3), heartbeat_seconds=300)
    assert running_backup(Store(beating), NOW) == beating
    assert running_backup(Store(record(heartbeat=ago(minutes=40), heartbeat_seconds=300)), NOW) is None


def test_inv_status_reads_the_same_rule():
    from ghe_backup.delivery.deploy.status import account_status
    from support.fakes import FakeAccount, FakeStore
    from support.targets import make_target

    target = make_target("prod")
    account, store = FakeAccount(account_id=target.settings.account_id), FakeStore()
    store.put(record(heartbeat=ago(minutes=40), heartbeat_seconds=300, last_result="succeeded"))
    assert account_status(target, account, store, now=NOW).backup_run == DEAD
    store.put(record(heartbeat=ago(minutes=1), heartbeat_seconds=300, last_result="succeeded"))
    assert account_status(target, account, store, now=NOW).backup_run == RUNNING

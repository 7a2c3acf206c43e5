"""The deploy lock on its own: one holder, staleness, release rules, waiting."""

from __future__ import annotations

import pytest

from ghe_backup.delivery.deploy import lock
from ghe_backup.delivery.target import Actor
from ghe_backup.errors import ExitCode, Locked, UsageError
from support.fakes import FakeClock, FakeStore

ALICE, BOB = Actor("alice", "laptop", 1), Actor("bob", "ci-runner", 2, ci_url="https://ci.example/job/1")


def test_exactly_one_of_two_takes_it():
    store = FakeStore()
    mine = lock.acquire(store, "prod", ALICE, operation="deploy", ttl=3600)
    with pytest.raises(Locked) as excinfo:
        lock.acquire(store, "prod", BOB, operation="deploy", ttl=3600)
    assert excinfo.value.exit_code == ExitCode.LOCKED
    assert "held by alice on laptop (pid 1) for deploy since" in str(excinfo.value)
    assert lock.read(store, "prod").holder.token == mine.token


def test_release_only_lets_go_of_our_own_hold():
    store = FakeStore()
    mine = lock.acquire(store, "prod", ALICE, operation="manual", ttl=3600, reason="appliance upgrade")
    stranger = lock.new_holder("prod", BOB, operation="deploy", ttl=3600)
    assert not lock.release(store, stranger) and lock.read(store, "prod").held
    status = lock.read(store, "prod")
    assert status.holder.reason == "appliance upgrade" and not status.stale
    with pytest.raises(Locked, match="not by bob"):
        lock.release_as(store, "prod", BOB, force=False)
    assert lock.release_as(store, "prod", ALICE, force=False).token == mine.token
    assert not lock.read(store, "prod").held and lock.release_as(store, "prod", ALICE, force=False) is None


def test_age_and_staleness():
    holder = lock.new_holder("prod", ALICE, operation="deploy", ttl=600, now=1000.0)
    assert holder.age(1300.0) == 300 and not holder.stale(1300.0) and holder.stale(1601.0)
    assert "(5m ago)" in holder.describe(1300.0) and "(3h05m ago)" in holder.describe(1000.0 + 3 * 3600 + 300)


def test_waiting_gives_up_at_its_limit():
    store, clock = FakeStore(), FakeClock()
    lock.acquire(store, "prod", BOB, operation="deploy", ttl=3600)
    said = []
    with pytest.raises(Locked, match="held by bob"):
        lock.acquire(
            store,
            "prod",
            ALICE,
            operation="deploy",
            ttl=3600,
            wait=10,
            clock=clock,
            sleep=clock.sleep,
            report=said.append,
        )
    assert 10 <= clock.now - 1000 < 13 and len(said) == 1 and "waiting up to 10s" in said[0]


@pytest.mark.parametrize("value", ["soon", "-5", "30", None])
def test_ttl_must_be_sensible(value):
    with pytest.raises(UsageError):
        lock.check_ttl(value)
    assert lock.check_ttl("86400") == 86400

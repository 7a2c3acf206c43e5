"""plumbing.deferred: checks left for a run's first change run once, and their failure sticks."""

from __future__ import annotations

import threading

import pytest

from ghe_backup.errors import ConfigError
from ghe_backup.plumbing import deferred


@pytest.fixture(autouse=True)
def fresh():
    deferred.reset()
    yield
    deferred.reset()


def test_pending_checks_run_once_in_order_at_the_first_change():
    ran = []
    deferred.defer(lambda: ran.append("a"))
    deferred.defer(lambda: ran.append("b"))
    assert ran == [] and deferred.pending()
    deferred.before_change()
    deferred.before_change()
    assert ran == ["a", "b"] and not deferred.pending()


def test_nothing_pending_is_a_no_op():
    deferred.before_change()


def test_a_failure_is_raised_to_every_caller_and_later_checks_do_not_run():
    ran = []

    def refused():
        raise ConfigError("prod: Lizzy refused the token (401)")

    deferred.defer(refused)
    deferred.defer(lambda: ran.append("later"))
    for _ in range(2):
        with pytest.raises(ConfigError, match="refused the token"):
            deferred.before_change()
    assert ran == []


def test_threads_wait_for_the_one_run_of_the_checks_and_all_see_its_failure():
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_refusal():
        calls.append(1)
        started.set()
        release.wait(5)
        raise ConfigError("staging: Lizzy refused the token (401)")

    deferred.defer(slow_refusal)
    outcomes = []

    def account():
        try:
            deferred.before_change()
            outcomes.append("changed")
        except ConfigError:
            outcomes.append("refused")

    threads = [threading.Thread(target=account) for _ in range(3)]
    for t in threads:
        t.start()
    assert started.wait(5)
    release.set()
    for t in threads:
        t.join(5)
    assert calls == [1] and outcomes == ["refused"] * 3


def test_reset_forgets_checks_and_failures():
    deferred.defer(lambda: (_ for _ in ()).throw(ConfigError("x")))
    with pytest.raises(ConfigError):
        deferred.before_change()
    deferred.reset()
    deferred.before_change()

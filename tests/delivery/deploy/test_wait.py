"""Stack versions, terminal states and the wait loop (a scripted reader, no services)."""

from __future__ import annotations

import datetime as dt

import pytest

from ghe_backup.delivery.deploy.versions import stack_version
from ghe_backup.delivery.deploy.wait import DeadlineExceeded, StackFailed, failure_reason, outcome, wait_for_stack
from ghe_backup.plumbing.cloudformation import VERSION_PATTERN, Observation, StackEvent, TransientError, version_of

NOW = dt.datetime(2026, 11, 27, 8, 30, 5, tzinfo=dt.UTC)


def test_versions_are_valid_unique_and_name_the_tag():
    version = stack_version("sha-3f2a9c1b7e44.dirty", NOW)
    assert VERSION_PATTERN.match(version) and version == "sha3f2a9c1b7d261127083005"
    again = stack_version("sha-3f2a9c1b7e44.dirty", NOW, taken={version})
    assert again != version and VERSION_PATTERN.match(again)
    assert version_of("ghe-backup", f"ghe-backup-{version}") == version
    assert version_of("ghe-backup", "ghe-backup-data-1") is None


@pytest.mark.parametrize(
    "status,goal,expected",
    [
        ("CREATE_COMPLETE", "create", "done"),
        ("CREATE_IN_PROGRESS", "create", "waiting"),
        ("CREATE_FAILED", "create", "failed"),
        ("ROLLBACK_IN_PROGRESS", "create", "failed"),
        ("ROLLBACK_COMPLETE", "create", "failed"),
        ("DELETE_COMPLETE", "create", "failed"),
        (None, "create", "failed"),
        ("DELETE_IN_PROGRESS", "delete", "waiting"),
        ("DELETE_FAILED", "delete", "failed"),
        (None, "delete", "done"),
        ("CREATE_IN_PROGRESS", "settle", "waiting"),
        ("ROLLBACK_COMPLETE", "settle", "done"),
    ],
)
def test_outcomes(status, goal, expected):
    assert outcome(status, goal) == expected


def test_the_reason_is_the_first_failure_not_the_rollback():
    events = [
        StackEvent("3", "t3", "ghe-backup-x", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed: AppServer"),
        StackEvent("2", "t2", "AppServer", "CREATE_FAILED", "Role app-ghe-backup not found"),
        StackEvent("1", "t1", "ghe-backup-x", "CREATE_IN_PROGRESS", "User Initiated"),
    ]
    assert failure_reason(events) == "AppServer: Role app-ghe-backup not found"


class Script:
    """A StackReader that plays back observations, raising the exceptions among them."""

    def __init__(self, *steps):
        self.steps, self.calls = list(steps), 0

    def observe(self, stack, *, with_events):
        self.calls += 1
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, Exception):
            raise step
        return step


def wait(reader, goal="create", seconds=5.0, fake=None):
    """The wait on a clock that moves only when it sleeps (``FakeTime``)."""
    lines, fake = [], fake or FakeTime()
    seen = wait_for_stack(
        reader,
        "ghe-backup-v1",
        goal=goal,
        deadline=fake.now + seconds,
        max_interval=0.05,
        report=lines.append,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    return seen, lines


def test_waits_through_transient_faults_and_reports_changes_and_events():
    event = StackEvent("e1", "2026-11-27T08:30:05", "AppServer", "CREATE_COMPLETE")
    reader = Script(
        Observation("CREATE_IN_PROGRESS"),
        TransientError("503"),
        Observation("CREATE_IN_PROGRESS"),
        Observation("CREATE_COMPLETE", events=(event,)),
    )
    seen, lines = wait(reader)
    assert seen.status == "CREATE_COMPLETE"
    assert lines == [
        "ghe-backup-v1: CREATE_IN_PROGRESS",
        "ghe-backup-v1: CREATE_COMPLETE",
        "  08:30:05 AppServer CREATE_COMPLETE",
    ]


def test_a_terminal_failure_stops_at_once_with_the_reason():
    failed = StackEvent("e2", "2026-11-27T08:30:06", "AppServer", "CREATE_FAILED", "Role x not found")
    reader = Script(Observation("CREATE_IN_PROGRESS"), Observation("ROLLBACK_IN_PROGRESS", events=(failed,)))
    with pytest.raises(StackFailed) as excinfo:
        wait(reader)
    assert excinfo.value.status == "ROLLBACK_IN_PROGRESS" and "AppServer: Role x not found" in str(excinfo.value)


def test_the_deadline_names_the_status_still_in_progress():
    fake = FakeTime()
    with pytest.raises(DeadlineExceeded) as excinfo:
        wait(Script(Observation("DELETE_IN_PROGRESS")), goal="delete", seconds=0.3, fake=fake)
    assert "ghe-backup-v1 is still DELETE_IN_PROGRESS" in str(excinfo.value)
    assert 1000.3 <= fake.now < 1000.3 + 0.05  # it waited until the deadline and no longer


class FakeTime:
    """A clock that only moves when the wait sleeps or a read takes time."""

    def __init__(self):
        self.now, self.sleeps = 1000.0, []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class SlowReader:
    """In progress for ``polls`` reads, then complete; each read takes ``seconds`` of fake time."""

    def __init__(self, fake, seconds, polls):
        self.fake, self.seconds, self.polls, self.starts = fake, seconds, polls, []

    def observe(self, stack, *, with_events):
        self.starts.append(self.fake.now)
        self.fake.now += self.seconds
        return Observation("CREATE_IN_PROGRESS" if len(self.starts) <= self.polls else "CREATE_COMPLETE")


def fake_wait(reader, fake, *, deadline=600.0, max_interval=2.0):
    return wait_for_stack(
        reader,
        "ghe-backup-v1",
        goal="create",
        deadline=fake.now + deadline,
        max_interval=max_interval,
        report=lambda line: None,
        events_every=1000,
        clock=fake.clock,
        sleep=fake.sleep,
    )


def test_polls_at_a_fixed_rate_sleeping_only_what_the_read_left_of_the_interval():
    fake = FakeTime()
    reader = SlowReader(fake, seconds=0.5, polls=8)
    fake_wait(reader, fake)
    # backoff 0.25, 0.5, 1, 2 (cap), 2, ...: each minus the 0.5 s the read took, never negative
    assert fake.sleeps == [0.0, 0.0, 0.5, 1.5, 1.5, 1.5, 1.5, 1.5]
    steady = [b - a for a, b in zip(reader.starts[3:8], reader.starts[4:9], strict=True)]
    assert steady == [2.0] * 5  # start to start


def test_a_read_slower_than_the_interval_is_followed_at_once():
    fake = FakeTime()
    fake_wait(SlowReader(fake, seconds=2.5, polls=5), fake)
    assert fake.sleeps == [0.0] * 5


def test_no_sleep_runs_past_the_deadline():
    fake = FakeTime()
    with pytest.raises(DeadlineExceeded):
        fake_wait(SlowReader(fake, seconds=0.1, polls=10**6), fake, deadline=5.0)
    assert max(fake.sleeps) <= 1.9 and sum(fake.sleeps) <= 5.0
    assert fake.now <= 1000.0 + 5.0 + 0.1

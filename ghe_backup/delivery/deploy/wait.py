"""Waiting for a stack: what its state means for the goal, and polling it until an end.

``wait_for_stack`` polls a ``StackReader`` with tenacity at a fixed rate: the interval, measured
from the start of one read to the start of the next, grows exponentially from 0.25 s to
``poll_max_interval`` and then stays there; an overall deadline; retries of transient read
faults only. A terminal
failure (``*_FAILED``, ``ROLLBACK_*``, a ``DELETE_*`` while creating) stops at once with the
reason from the stack events; progress is reported as status changes and new events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception, retry_if_result, wait_exponential

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.cloudformation import Observation, StackEvent, TransientError


class StackReader(Protocol):
    def observe(self, stack: str, *, with_events: bool) -> Observation: ...


class StackFailed(StageFailed):
    def __init__(self, stack: str, status: str | None, reason: str):
        self.stack, self.status, self.reason = stack, status, reason
        super().__init__(f"{stack} {status or 'vanished'}: {reason or 'no reason given in the stack events'}")


class DeadlineExceeded(StageFailed):
    def __init__(self, stack: str, status: str | None, waited: float):
        self.stack, self.status = stack, status
        super().__init__(
            f"deadline exceeded after {waited:.0f}s: {stack} is still {status}",
            hint="deploy_timeout in the account's pipeline settings; see docs/deploy.md#a-stuck-stack",
        )


# -- states ---------------------------------------------------------------------------------


def is_in_progress(status: str | None) -> bool:
    return bool(status) and status.endswith("_IN_PROGRESS") and not status.startswith("ROLLBACK")


def outcome(status: str | None, goal: str) -> str:
    """'done', 'failed' or 'waiting' for a stack being created ('create'), deleted ('delete') or
    left alone until it is no longer in progress ('settle')."""
    if goal == "settle":
        return "waiting" if is_in_progress(status) else "done"
    if goal == "delete":
        if status in (None, "DELETE_COMPLETE"):
            return "done"
        return "failed" if status == "DELETE_FAILED" else "waiting"
    if status == "CREATE_COMPLETE":
        return "done"
    if status is None or status.endswith("_FAILED") or status.startswith(("ROLLBACK", "DELETE", "UPDATE_ROLLBACK")):
        return "failed"
    return "waiting" if is_in_progress(status) else "done" if status.endswith("_COMPLETE") else "failed"


def failure_reason(events: tuple[StackEvent, ...] | list[StackEvent]) -> str:
    """The first failure in the events (oldest first): the cause, not the rollback it triggered."""
    for event in sorted(events, key=lambda e: e.time):
        if event.reason and (event.status.endswith("_FAILED") or "ROLLBACK" in event.status):
            return f"{event.resource}: {event.reason}"
    return ""


# -- waiting --------------------------------------------------------------------------------


@dataclass
class Progress:
    """What was shown already, so only changes are reported."""

    report: Callable[[str], None]
    status: str | None = "unknown"
    seen: set[str] = field(default_factory=set)
    polls: int = 0

    def update(self, stack: str, seen: Observation) -> None:
        self.polls += 1
        if seen.status != self.status:
            self.report(f"{stack}: {seen.status or 'deleted'}")
            self.status = seen.status
        for event in sorted(seen.events, key=lambda e: e.time):
            if event.id not in self.seen:
                self.seen.add(event.id)
                reason = f" ({event.reason})" if event.reason else ""
                self.report(f"  {event.time[11:19]} {event.resource} {event.status}{reason}")


class FixedRate:
    """A tenacity ``wait``: the next read starts ``interval`` after the last one started.

    The interval backs off exponentially (``initial`` doubling to ``max_interval``); the time the
    read itself took is subtracted (never below zero), so a slow read does not stretch the cadence,
    and no sleep runs past ``deadline``.
    """

    def __init__(
        self, max_interval: float, deadline: Callable[[], float], clock: Callable[[], float], initial: float = 0.25
    ):
        self.interval = wait_exponential(multiplier=initial, min=min(initial, max_interval), max=max_interval)
        self.deadline, self.clock = deadline, clock
        self.read_started = clock()

    def started(self) -> None:
        self.read_started = self.clock()

    def __call__(self, state: RetryCallState) -> float:
        now = self.clock()
        pause = self.interval(state) - (now - self.read_started)
        return max(0.0, min(pause, self.deadline() - now))


def wait_for_stack(
    reader: StackReader,
    stack: str,
    *,
    goal: str,
    deadline: float | Callable[[], float],
    max_interval: float,
    report: Callable[[str], None],
    events_every: int = 15,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Observation:
    """Poll until ``stack`` reaches a terminal state for ``goal``; raise StackFailed or DeadlineExceeded.

    ``deadline`` is a ``clock()`` (``time.monotonic()``) value, or a function giving it (it may move
    closer, e.g. after an interrupt). One read per poll, started every
    ``max_interval`` seconds at steady state (see ``FixedRate``), so a terminal state is seen at
    most ``max_interval`` plus one read after it happens. Events are read every ``events_every``
    polls and whenever the status changes: at the 2 s default that is 30 status reads and 2 event
    reads a minute.
    """
    progress = Progress(report)
    started = clock()
    last: list[Observation] = [Observation(status="unknown")]
    limit = deadline if callable(deadline) else (lambda: deadline)
    rate = FixedRate(max_interval, limit, clock)

    def poll() -> Observation:
        rate.started()
        with_events = progress.polls % events_every == 0
        seen = reader.observe(stack, with_events=with_events)
        if seen.status != progress.status and not with_events and seen.status is not None:
            seen = reader.observe(stack, with_events=True)
        progress.update(stack, seen)
        last[0] = seen
        return seen

    retrying = Retrying(
        wait=rate,
        stop=lambda state: clock() >= limit(),
        retry=retry_if_result(lambda seen: outcome(seen.status, goal) == "waiting")
        | retry_if_exception(lambda err: isinstance(err, TransientError)),
        sleep=sleep,
        reraise=False,
    )
    try:
        seen = retrying(poll)
    except RetryError as err:
        attempt = err.last_attempt
        if attempt.failed:
            raise Unreachable(
                f"could not read {stack}: {attempt.exception()}", hint="retried until the deadline"
            ) from None
        raise DeadlineExceeded(stack, last[0].status, clock() - started) from None
    if outcome(seen.status, goal) == "failed":
        if not seen.events:
            seen = reader.observe(stack, with_events=True) if seen.status else seen
        raise StackFailed(stack, seen.status, seen.reason or failure_reason(seen.events))
    return seen

"""SIGINT and SIGTERM during a deploy: never leave an account without a backup instance by surprise.

The first signal asks the deploy to stop at the next safe point: before any change, it stops
there (nothing changed); once the account is being changed, a delete in progress finishes and
the previous version is restored, a create in progress is finished. The time that may take is
bounded (``GRACE``). A second signal stops at once, saying what state the account is in and what
to run. Either way the deploy lock is released and the history says ``interrupted`` and what was
left running. Handlers only record (or, the second time, unwind): a signal never cuts a request
to an agent or to AWS in half.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ghe_backup.errors import ExitCode, GheBackupError

#: After the first signal, at most this long to leave the account with a running version.
GRACE = 300.0
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(GheBackupError):
    """The deploy was stopped by a signal; the message says what runs in the account (``left``)."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, message: str, *, hint: str | None = None, left: str = ""):
        super().__init__(message, hint=hint)
        self.left = left


class StoppedAtOnce(KeyboardInterrupt):
    """A second signal: unwind now (``finally`` blocks run: the lock is released)."""


class Interrupts:
    """The signals a deploy has received; one for the whole run (all accounts)."""

    def __init__(self, report: Callable[[str], None] = lambda line: None, clock: Callable[[], float] = time.monotonic):
        self.report, self.clock = report, clock
        self.received: list[str] = []
        self.first_at: float | None = None
        self._changing = 0  # accounts past their first change; before that a signal stops at once
        self._lock = threading.Lock()

    @property
    def requested(self) -> bool:
        return bool(self.received)

    def deadline(self, deadline: float) -> float:
        """``deadline``, shortened to the grace period once a signal came."""
        return deadline if self.first_at is None else min(deadline, self.first_at + GRACE)

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """The account is being changed: a signal now asks for a safe stop instead of stopping."""
        with self._lock:
            self._changing += 1
        try:
            yield
        finally:
            with self._lock:
                self._changing -= 1

    def checkpoint(self, what: str) -> None:
        """Before a change: stop here if a signal came (nothing of ``what`` was done)."""
        if self.requested:
            raise Interrupted(f"interrupted ({self.received[0]}) before {what}", hint="nothing was changed")

    def receive(self, name: str) -> None:
        self.received.append(name)
        if len(self.received) > 1:
            raise StoppedAtOnce(name)
        self.first_at = self.clock()
        if not self._changing:
            self.report(f"{name}: stopping before any change; press Ctrl-C again to stop at once")
            return
        self.report(
            f"{name}: finishing safely (at most {GRACE:.0f}s): a running delete or create ends and the account keeps "
            "a backup instance; press Ctrl-C again to stop at once"
        )

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Handle SIGINT and SIGTERM for the ``with`` block (only possible in the main thread)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum: int, frame: Any) -> None:
            self.receive(signal.Signals(signum).name)

        previous = {sig: signal.signal(sig, handler) for sig in SIGNALS}
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

"""Checks a run defers until it first changes something.

The deploy's preflight asks each account's Lizzy agent whether it accepts the token only when the
run is about to change something: run the tests, build, upload or copy an image, or change an
account. Every answer of the agent runs senza (about a second), so a deploy that finds everything
up to date no longer waits for it, while a rejected token still fails before any test runs, any
layer is built or uploaded, or any stack is touched.

The edge registers the checks (``defer``); stages call ``before_change`` right before their first
change. The first call runs every pending check once; a failure is raised to that caller and to
every later one (an account deploying in another thread does not go ahead either).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_lock = threading.Lock()
_pending: list[Callable[[], None]] = []
_failure: list[BaseException] = []


def defer(check: Callable[[], None]) -> None:
    """Run ``check`` before the run's first change (raising stops the change)."""
    with _lock:
        _pending.append(check)


def before_change() -> None:
    """Run the pending checks (once a run); raise the failure of one, now and on every later call."""
    with _lock:
        while _pending and not _failure:
            check = _pending.pop(0)
            try:
                check()
            except BaseException as err:  # noqa: BLE001 (remembered, raised below and to every later caller)
                _failure.append(err)
        if _failure:
            raise _failure[0]


def pending() -> bool:
    with _lock:
        return bool(_pending)


def reset() -> None:
    """Forget every check and failure (a new run starts)."""
    with _lock:
        _pending.clear()
        _failure.clear()

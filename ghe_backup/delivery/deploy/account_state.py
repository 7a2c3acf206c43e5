"""What the account's state table says, for the tasks that only read or manage it: ``inv lock.*``
and ``inv history`` (the deploy itself goes through ``run``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.delivery.deploy import history, lock
from ghe_backup.delivery.target import Actor, Target
from ghe_backup.errors import GheBackupError
from ghe_backup.plumbing.progress import say


def open_store(target: Target) -> Any:
    from ghe_backup.plumbing.statestore import StateTable

    return StateTable(target.access(), target.settings.state_table, target.name)


def lock_statuses(targets: list[Target], store_of: Callable[[Target], Any] = open_store) -> list[lock.LockStatus]:
    return [lock.read(store_of(t), t.name) for t in targets]


def hold(
    target: Target, actor: Actor, *, reason: str, ttl: int, store_of: Callable[[Target], Any] = open_store
) -> lock.LockStatus:
    """``inv lock.acquire``: hold the lock by hand (deploys are refused until it is released)."""
    holder = lock.acquire(store_of(target), target.name, actor, operation="manual", ttl=ttl, reason=reason)
    return lock.LockStatus(account=target.name, held=True, holder=holder)


def let_go(
    target: Target, actor: Actor, *, force: bool, store_of: Callable[[Target], Any] = open_store
) -> lock.LockStatus:
    """``inv lock.release``: the released holder (``held`` False when there was no lock)."""
    released = lock.release_as(store_of(target), target.name, actor, force=force)
    return lock.LockStatus(account=target.name, held=False, holder=released)


@dataclass
class History:
    entries: list[dict[str, Any]] = field(default_factory=list)
    #: Accounts whose table could not be read: their entries come from this machine's copy.
    offline: list[str] = field(default_factory=list)


def read_history(
    targets: list[Target],
    *,
    limit: int | None,
    state_dir: Any,
    store_of: Callable[[Target], Any] = open_store,
    report: Callable[[str], None] = say,
) -> History:
    """Every account's attempts from its table (oldest first); this machine's copy where the table cannot be read."""
    found = History()
    for target in targets:
        try:
            entries = history.read_account(store_of(target), limit)
        except GheBackupError as err:
            report(f"{target.name}: cannot read the account's history ({err}); showing this machine's copy")
            entries = history.read(state_dir, target.name, limit)
            found.offline.append(target.name)
        found.entries += entries
    found.entries.sort(key=lambda e: str(e.get("time", "")))
    if limit:
        found.entries = found.entries[-limit:]
    return found

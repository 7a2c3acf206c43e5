"""Never kill a running backup by surprise: a deploy (rollback, refresh) waits for it first.

The backup program records in the account's state table whether a run is in progress (item
``pk = backup, sk = status``: ``running``, ``run_started``, ``updated``). Replacing the stack stops
the container, and a large appliance's backup is hours of work, so before deleting the running
stack the deploy waits for the run to end, up to ``--backup-wait`` seconds
(``pipeline.backup_wait``); ``--now`` does not wait. A run still going when the wait is over
refuses the deploy (exit 4, nothing changed). A ``running`` flag left by a container that was
killed (older than ``STALE_AFTER``) is not waited for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from ghe_backup.delivery.deploy.interrupts import Interrupts
from ghe_backup.errors import GheBackupError, Locked

PK, SK = "backup", "status"
#: A run flagged as running whose record was not updated for this long belongs to a dead container.
STALE_AFTER = dt.timedelta(hours=24)
POLL = 10.0


def _parse(when: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def running_backup(store: Any, now: dt.datetime) -> dict[str, Any] | None:
    """The backup run in progress, if the account's table says one is (and it is not a dead one)."""
    if store is None:
        return None
    try:
        item = store.get(PK, SK)
    except GheBackupError:
        return None  # the table cannot be read: the deploy's own reads will say why
    if not item or not item.get("running"):
        return None
    seen = _parse(item.get("updated")) or _parse(item.get("run_started"))
    if seen is not None and now - seen > STALE_AFTER:
        return None
    return item


def wait_for_backup(
    store: Any,
    account: str,
    *,
    wait: float,
    interrupts: Interrupts,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    log: Callable[[str], None],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> float:
    """Wait until no backup runs in the account (seconds waited); ``Locked`` when ``wait`` runs out."""
    started = clock()
    found = running_backup(store, now())
    if found is None:
        return 0.0
    log(
        f"a backup is running (since {found.get('run_started', '?')} on {found.get('host', '?')}); "
        f"waiting up to {wait:.0f}s for it to finish (--now does not wait)"
    )
    while found is not None:
        left = wait - (clock() - started)
        if left <= 0:
            raise Locked(
                f"{account}: a backup has been running since {found.get('run_started', '?')} and is still running "
                f"after waiting {wait:.0f}s",
                hint="nothing changed; deploy later, with a longer --backup-wait, or with --now to stop it",
            )
        interrupts.checkpoint("waiting for the backup to finish")
        sleep(min(POLL, left))
        found = running_backup(store, now())
    waited = clock() - started
    log(f"the backup finished after {waited:.0f}s of waiting; going on")
    return waited

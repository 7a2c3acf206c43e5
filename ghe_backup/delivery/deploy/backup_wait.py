"""Never kill a running backup by surprise: a deploy (rollback, refresh) waits for it first.

The backup program records in the account's state table whether a run is in progress (item
``pk = backup, sk = status``: ``running``, ``run_started``, ``updated``). Replacing the stack stops
the container, and a large appliance's backup is hours of work, so before deleting the running
stack the deploy waits for the run to end, up to ``--backup-wait`` seconds
(``pipeline.backup_wait``); ``--now`` does not wait. A run still going when the wait is over
refuses the deploy (exit 4, nothing changed).

One rule tells a live run from a dead container's ``running`` flag (``run_state``; ``inv status``
uses it too): while a run goes, the program writes ``heartbeat`` every ``heartbeat_seconds``
(5 min); a run whose record shows no sign of life (``heartbeat``, else ``updated``, else
``run_started``) for ``HEARTBEAT_MISSES`` intervals is dead and not waited for. A record without
``heartbeat_seconds`` (written by a program from before heartbeats) gets ``SILENCE_WITHOUT_HEARTBEAT``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from ghe_backup.delivery.deploy.interrupts import Interrupts
from ghe_backup.errors import GheBackupError, Locked

PK, SK = "backup", "status"
#: Heartbeats a live run may miss (a slow or failing DynamoDB write, a paused instance) before its
#: record is taken for a dead container's.
HEARTBEAT_MISSES = 3
#: How long a run recorded without ``heartbeat_seconds`` may stay silent: its program wrote only at
#: the start and the end of a run, which can last many hours.
SILENCE_WITHOUT_HEARTBEAT = dt.timedelta(hours=24)
POLL = 10.0
IDLE, RUNNING, DEAD = "idle", "running", "dead"


def _parse(when: Any) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def last_sign_of_life(item: dict[str, Any]) -> dt.datetime | None:
    """When the run's program last wrote its record: the heartbeat, else the last update, else the start."""
    return _parse(item.get("heartbeat")) or _parse(item.get("updated")) or _parse(item.get("run_started"))


def allowed_silence(item: dict[str, Any]) -> dt.timedelta:
    """How long the run's record may go without a write before the run counts as dead."""
    try:
        interval = float(str(item["heartbeat_seconds"]))
    except (KeyError, TypeError, ValueError):
        return SILENCE_WITHOUT_HEARTBEAT
    return dt.timedelta(seconds=HEARTBEAT_MISSES * interval) if interval > 0 else SILENCE_WITHOUT_HEARTBEAT


def run_state(item: dict[str, Any] | None, now: dt.datetime) -> str:
    """``RUNNING`` (a live run), ``DEAD`` (flagged running, silent for longer than ``allowed_silence``:
    its container is gone) or ``IDLE``."""
    if not item or not item.get("running"):
        return IDLE
    seen = last_sign_of_life(item)
    if seen is not None and now - seen > allowed_silence(item):
        return DEAD
    return RUNNING


def running_backup(store: Any, now: dt.datetime) -> dict[str, Any] | None:
    """The backup run in progress, if the account's table says one is (and it is not a dead one)."""
    if store is None:
        return None
    try:
        item = store.get(PK, SK)
    except GheBackupError:
        return None  # the table cannot be read: the deploy's own reads will say why
    return item if run_state(item, now) == RUNNING else None


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

"""The per-account deploy lock, kept in the account's state table so a laptop and every CI runner see it.

Taking it is one conditional write (create-if-absent): of two deploys started together exactly one
gets it. The lock records who holds it (user, host, pid, the CI job), since when and for what.
Deploy, rollback and refresh take it before any change and release it when done (also when
interrupted). A lock older than its TTL is reported as stale with its holder and is broken only by
``inv lock.release --force``: a stale lock may still belong to a deploy that is alive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from ghe_backup.delivery.target import Actor
from ghe_backup.errors import GheBackupError, Locked, UsageError

PK, SK = "lock", "deploy"
#: How often a deploy waiting for the lock (``--lock-wait``) asks again.
RETRY_EVERY = 2.0


@dataclass(frozen=True)
class Holder:
    user: str
    host: str
    pid: int
    operation: str  # deploy | rollback | refresh | manual
    since: str  # ISO-8601 UTC
    since_epoch: float
    ttl: int  # seconds after which the lock counts as stale
    token: str  # only the holder that wrote it releases it without --force
    ci_url: str | None = None
    reason: str = ""
    account: str = ""

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.since_epoch)

    def stale(self, now: float | None = None) -> bool:
        return self.age(now) > self.ttl

    def describe(self, now: float | None = None) -> str:
        who = f"{self.user} on {self.host} (pid {self.pid}{', ' + self.ci_url if self.ci_url else ''})"
        why = f" for {self.operation}" + (f": {self.reason}" if self.reason else "")
        return f"{who}{why} since {self.since[:19].replace('T', ' ')} UTC ({_duration(self.age(now))} ago)"

    def item(self) -> dict[str, Any]:
        return {"pk": PK, "sk": SK, **asdict(self)}


@dataclass(frozen=True)
class LockStatus:
    account: str
    held: bool
    stale: bool = False
    holder: Holder | None = None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


def _holder(item: dict[str, Any] | None) -> Holder | None:
    if not item:
        return None
    fields = set(Holder.__dataclass_fields__)
    try:
        return Holder(**{k: v for k, v in item.items() if k in fields})
    except TypeError:  # an item written by someone else: still a lock, shown as unknown
        return Holder(
            user="unknown", host="unknown", pid=0, operation="unknown", since="?", since_epoch=0.0, ttl=0, token=""
        )


def new_holder(
    account: str, actor: Actor, *, operation: str, ttl: int, reason: str = "", now: float | None = None
) -> Holder:
    now = time.time() if now is None else now
    since = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds")
    return Holder(
        user=actor.user,
        host=actor.host,
        pid=actor.pid,
        ci_url=actor.ci_url,
        operation=operation,
        reason=reason,
        since=since,
        since_epoch=now,
        ttl=ttl,
        token=uuid.uuid4().hex,
        account=account,
    )


def read(store: Any, account: str, now: float | None = None) -> LockStatus:
    holder = _holder(store.get(PK, SK))
    if holder is None:
        return LockStatus(account=account, held=False)
    return LockStatus(account=account, held=True, stale=holder.stale(now), holder=holder)


def acquire(
    store: Any,
    account: str,
    actor: Actor,
    *,
    operation: str,
    ttl: int,
    reason: str = "",
    wait: float = 0.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = lambda line: None,
) -> Holder:
    """Take the lock, waiting up to ``wait`` seconds for a holder to let go; ``Locked`` (exit 4) otherwise."""
    started = clock()
    said = False
    while True:
        mine = new_holder(account, actor, operation=operation, ttl=ttl, reason=reason)
        if store.put_new(mine.item()):
            return mine
        current = read(store, account)
        if not current.held:
            continue  # released between our write and our read: try again at once
        holder = current.holder
        assert holder is not None
        if current.stale:
            raise Locked(
                f"{account}: the deploy lock is stale: held by {holder.describe()}, longer than its {_duration(holder.ttl)}",
                hint=f"nothing changed; if that run is dead: inv lock.release --account={account} --force",
            )
        left = wait - (clock() - started)
        if left <= 0:
            raise Locked(
                f"{account}: the deploy lock is held by {holder.describe()}",
                hint="nothing changed; wait for it (--lock-wait=SECONDS) or see: inv lock.status",
            )
        if not said:
            report(f"waiting up to {wait:.0f}s for the deploy lock held by {holder.describe()}")
            said = True
        sleep(min(RETRY_EVERY, left))


def release(store: Any, holder: Holder) -> bool:
    """Let go of a lock we hold (only if it is still ours)."""
    return store.delete(PK, SK, only_if={"token": holder.token})


def release_as(store: Any, account: str, actor: Actor, *, force: bool) -> Holder | None:
    """``inv lock.release``: the holder itself, or anyone with ``force``; the released holder."""
    current = read(store, account)
    if not current.held:
        return None
    holder = current.holder
    assert holder is not None
    if not force and holder.user != actor.user:
        raise Locked(
            f"{account}: the deploy lock is held by {holder.describe()}, not by {actor.user}",
            hint=f"to break it anyway: inv lock.release --account={account} --force",
        )
    if not store.delete(PK, SK, only_if={"token": holder.token}):
        raise Locked(f"{account}: the deploy lock changed hands while releasing it", hint="see: inv lock.status")
    return holder


@contextlib.contextmanager
def held(store: Any, account: str, actor: Actor, **options: Any) -> Iterator[Holder]:
    """Hold the lock for the ``with`` block; released when it ends, however it ends.

    A release the state table does not take (AWS not answering) never hides how the block ended:
    it is said, the error that ended the block says it too, and the lock stays until it is
    released by hand (or goes stale).
    """
    holder = acquire(store, account, actor, **options)
    report = options.get("report") or (lambda line: None)
    try:
        yield holder
    except BaseException as err:
        stuck = _let_go(store, holder, account, report)
        if stuck and isinstance(err, GheBackupError):
            err.hint = f"{err.hint}; {stuck}" if err.hint else stuck
        raise
    _let_go(store, holder, account, report)


def _let_go(store: Any, holder: Holder, account: str, report: Callable[[str], None]) -> str:
    """Release; '' or what to run when the lock stays held."""
    try:
        release(store, holder)
    except GheBackupError as err:
        stuck = (
            f"the deploy lock may still be held: once AWS answers, see inv lock.status --account={account} "
            f"(release it: inv lock.release --account={account} --force)"
        )
        report(f"could not release the deploy lock ({err}); {stuck}")
        return stuck
    return ""


def check_ttl(ttl: Any, flag: str = "--ttl") -> int:
    try:
        seconds = int(ttl)
    except (TypeError, ValueError):
        seconds = 0
    if seconds < 60:
        raise UsageError(f"{flag}: {ttl!r} is not a number of seconds (at least 60)", hint=f"e.g. {flag}=86400")
    return seconds

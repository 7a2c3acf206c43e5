"""What runs in an account now: ghe-backup's stacks, their image and AMI, the AMI's age and expiry,
whether a newer Taupage exists, the deploy lock, the backups, and what needs attention."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.delivery.deploy.backup_wait import run_state
from ghe_backup.delivery.deploy.freshness import AmiAge, ami_age, ami_stale, backup_stale
from ghe_backup.delivery.deploy.guard import check_caller
from ghe_backup.delivery.deploy.lock import LockStatus, read
from ghe_backup.delivery.target import Target
from ghe_backup.errors import Attention, GheBackupError
from ghe_backup.plumbing.cloudformation import StackInfo

BACKUP_PK, BACKUP_SK = "backup", "status"
HEALTHY = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})


@dataclass
class AccountStatus:
    account: str
    account_id: str
    region: str
    sandbox: bool
    stacks: list[StackInfo] = field(default_factory=list)
    newest_taupage: dict[str, Any] | None = None
    newer_taupage_available: bool = False
    running_ami_names: dict[str, str | None] = field(default_factory=dict)
    running_ami: AmiAge | None = None  # of the running (newest healthy) stack
    newest_ami: AmiAge | None = None
    lock: LockStatus | None = None  # None when the state table cannot be read
    backup: dict[str, Any] | None = None  # as the backup program records it; None: nothing recorded (or unreadable)
    backup_run: str = "idle"  # backup_wait.run_state: "running", "dead" (its container is gone) or "idle"
    stale_ami: list[str] = field(default_factory=list)  # why a refresh is due (inv refresh)
    attention: list[str] = field(default_factory=list)  # everything inv status --check reports

    @property
    def running(self) -> StackInfo | None:
        healthy = [s for s in self.stacks if s.status in HEALTHY]
        return healthy[-1] if healthy else None


def account_status(
    target: Target, account: Any = None, store: Any = None, now: dt.datetime | None = None
) -> AccountStatus:
    """Read the account (``account``: a ``CloudFormationAccount``, ``store``: its state table; made from the
    target when None). The lock and the backups are best effort: an unreadable table leaves them unknown."""
    if account is None:
        from ghe_backup.plumbing.cloudformation import CloudFormationAccount
        from ghe_backup.plumbing.statestore import StateTable

        access = target.access()
        account = CloudFormationAccount(access)
        store = store or StateTable(access, target.settings.state_table, target.name)
    now = now or dt.datetime.now(dt.UTC)
    settings = target.settings
    check_caller(target, account.caller_account())
    stacks = account.list_stacks(target.stack_base)
    newest = account.newest_taupage()
    facts = {s.ami: account.describe_ami(s.ami) for s in stacks if s.ami}
    names = {ami: (found or {}).get("name") for ami, found in facts.items()}
    status = AccountStatus(
        account=settings.name,
        account_id=settings.account_id,
        region=settings.region,
        sandbox=target.sandbox,
        stacks=stacks,
        newest_taupage=newest,
        running_ami_names=names,
        newest_ami=ami_age(newest, now),
    )
    running = status.running
    if running is not None and running.ami:
        status.running_ami = ami_age(facts.get(running.ami) or {"id": running.ami, "name": names.get(running.ami)}, now)
    status.newer_taupage_available = bool(
        newest and running and running.ami != newest["id"] and (names.get(running.ami) or "") < newest["name"]
    )
    status.lock, status.backup = _from_table(store, settings.name)
    status.backup_run = run_state(status.backup, now)
    status.stale_ami = ami_stale(status.running_ami, settings)
    status.attention = attention(status, settings, now)
    return status


def _from_table(store: Any, name: str) -> tuple[LockStatus | None, dict[str, Any] | None]:
    if store is None:
        return None, None
    try:
        return read(store, name), store.get(BACKUP_PK, BACKUP_SK)
    except GheBackupError:
        return None, None


def attention(status: AccountStatus, settings: Any, now: dt.datetime) -> list[str]:
    """What needs attention: no backup instance, a stale AMI, stale backups, a stale deploy lock."""
    found = []
    if status.running is None:
        found.append("no ghe-backup stack is running")
    found += status.stale_ami
    found += backup_stale(status.backup, settings, now)
    if status.lock is not None and status.lock.stale:
        found.append("the deploy lock is stale")
    return found


def require_fresh(found: list[AccountStatus]) -> list[AccountStatus]:
    """``inv status --check``: exit 5 (``Attention``) naming what needs attention, else the statuses."""
    needs = [f"{s.account}: {reason}" for s in found for reason in s.attention]
    if needs:
        raise Attention(f"{len(needs)} thing(s) need attention: " + "; ".join(needs), hint="see inv status")
    return found

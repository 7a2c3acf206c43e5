"""What runs in an account now: ghe-backup's stacks, their image and AMI, and whether Taupage moved on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ghe_backup.delivery.deploy.guard import check_caller
from ghe_backup.delivery.deploy.lock import LockStatus, read
from ghe_backup.delivery.target import Target
from ghe_backup.errors import GheBackupError
from ghe_backup.plumbing.cloudformation import StackInfo


@dataclass
class AccountStatus:
    account: str
    account_id: str
    region: str
    sandbox: bool
    stacks: list[StackInfo] = field(default_factory=list)
    newest_taupage: dict[str, str] | None = None
    newer_taupage_available: bool = False
    running_ami_names: dict[str, str | None] = field(default_factory=dict)
    lock: LockStatus | None = None  # None when the state table cannot be read


def account_status(target: Target, account: Any = None, store: Any = None) -> AccountStatus:
    """Read the account (``account``: a ``CloudFormationAccount``, ``store``: its state table; made from the
    target when None). The lock is best effort: a table that cannot be read leaves it unknown."""
    if account is None:
        from ghe_backup.plumbing.cloudformation import CloudFormationAccount
        from ghe_backup.plumbing.statestore import StateTable

        access = target.access()
        account = CloudFormationAccount(access)
        store = store or StateTable(access, target.settings.state_table, target.name)
    settings = target.settings
    check_caller(target, account.caller_account())
    stacks = account.list_stacks(target.stack_base)
    newest = account.newest_taupage()
    names = {s.ami: account.ami_name(s.ami) for s in stacks if s.ami}
    newer = bool(newest and any(s.ami and (names.get(s.ami) or "") < newest["name"] for s in stacks))
    try:
        lock = read(store, settings.name) if store is not None else None
    except GheBackupError:
        lock = None
    return AccountStatus(
        account=settings.name,
        account_id=settings.account_id,
        region=settings.region,
        sandbox=target.sandbox,
        stacks=stacks,
        newest_taupage=newest,
        newer_taupage_available=newer,
        running_ami_names=names,
        lock=lock,
    )

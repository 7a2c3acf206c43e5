"""What runs in an account now: ghe-backup's stacks, their image and AMI, and whether Taupage moved on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.delivery import render
from ghe_backup.delivery.account_guard import check_caller
from ghe_backup.delivery.aws_access import account_access
from ghe_backup.delivery.cloudformation import StackInfo, ami_name, list_stacks, newest_taupage
from ghe_backup.delivery.config import AccountConfig


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


def account_status(account: AccountConfig, base_session: Any = None) -> AccountStatus:
    settings = account.settings
    access = account_access(settings, base_session)
    check_caller(settings, access)
    stacks = list_stacks(access, account.definition["SenzaInfo"]["StackName"])
    newest = newest_taupage(access)
    names = {s.ami: ami_name(access, s.ami) for s in stacks if s.ami}
    newer = bool(newest and any(s.ami and (names.get(s.ami) or "") < newest["name"] for s in stacks))
    return AccountStatus(
        account=settings.name, account_id=settings.account_id, region=settings.region, sandbox=settings.sandbox,
        stacks=stacks, newest_taupage=newest, newer_taupage_available=newer, running_ami_names=names,
    )


def show_status(root: Path, accounts: list[AccountConfig], *, as_json: bool = False) -> list[AccountStatus]:
    """Print each account's running stacks (status, version, image, AMI) and Taupage news."""
    found = [account_status(a) for a in accounts]
    if as_json:
        render.print_json(found)
        return found
    for status in found:
        title = f"{status.account} ({status.account_id}, {status.region}){' [sandbox]' if status.sandbox else ''}"
        rows = [(s.name, s.status, s.version, s.image_tag, f"{status.running_ami_names.get(s.ami) or '?'} ({s.ami})",
                 s.instance_type, s.created) for s in status.stacks]
        render.print_table(("stack", "status", "version", "image", "AMI", "instance", "created"), rows, title=title)
        if not status.stacks:
            render.info(f"{status.account}: no ghe-backup stack is running")
        newest = status.newest_taupage
        if status.newer_taupage_available and newest:
            render.info(f"{status.account}: a newer Taupage AMI is available: {newest['name']} ({newest['id']}); redeploy to use it")
        elif newest:
            render.info(f"{status.account}: running the newest Taupage AMI ({newest['name']})")
    return found

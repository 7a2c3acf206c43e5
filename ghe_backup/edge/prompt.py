"""The approval question, asked on the terminal before anything is tested, built or pushed:
the plan first (with the definition's diff), then 'yes', or nothing changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ghe_backup.edge import render, views
from ghe_backup.errors import ConfigError


def ask_approval(plan: Any, *, read: Callable[[str], str] = input) -> None:
    """Show the account's plan (``planning.AccountPlan``) and ask; anything but 'yes' refuses (exit 2)."""
    print(f"\nAbout to {plan.operation} {plan.account} ({plan.account_id}):", file=sys.stderr)
    for table in views.plans([plan]):
        render.print_table(table, sys.stderr)
    try:
        answer = read(f"{plan.operation.capitalize()} {plan.account}? Type 'yes' to continue: ").strip().lower()
    except EOFError:
        answer = ""
    if answer != "yes":
        raise ConfigError(f"{plan.account}: {plan.operation} not approved", hint="nothing was changed")


def approve_all(plans: list[Any], *, read: Callable[[str], str] = input) -> dict[str, Any]:
    """Every question first, before anything runs; the approved plans by account."""
    approved = {}
    for plan in plans:
        if plan.no_op:
            print(f"{plan.account}: up to date, nothing to approve", file=sys.stderr)
        else:
            ask_approval(plan, read=read)
        approved[plan.account] = plan
    return approved

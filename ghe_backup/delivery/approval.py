"""Manual approval per account: asked on a terminal, or given with --yes by CI."""

from __future__ import annotations

import sys
from typing import Any, Callable

from ghe_backup.delivery.config import AccountConfig
from ghe_backup.delivery.targets import resolve_targets, use_sandbox
from ghe_backup.errors import ConfigError, UsageError


def needs_approval(accounts: list[AccountConfig]) -> list[AccountConfig]:
    return [a for a in accounts if a.settings.approval]


def check_approval_possible(accounts: list[AccountConfig], *, assume_yes: bool, interactive: bool) -> None:
    """Refuse up front when approval is required but can be neither asked for nor given."""
    pending = needs_approval(accounts)
    if pending and not assume_yes and not interactive:
        names = ", ".join(a.name for a in pending)
        raise UsageError(
            f"{names}: deployment needs approval and there is no terminal to ask on",
            hint="approve in your CI system, then pass --yes",
        )


def ask(account: AccountConfig, summary: list[tuple[str, str]], *, read: Callable[[str], str] = input) -> None:
    """Show what is about to change and ask; anything but 'yes' refuses (exit 2, nothing changed)."""
    print(f"\nAbout to deploy to {account.name} ({account.settings.account_id}):", file=sys.stderr)
    for label, value in summary:
        print(f"  {label:<16} {value}", file=sys.stderr)
    answer = read(f"Deploy to {account.name}? Type 'yes' to continue: ").strip().lower()
    if answer != "yes":
        raise ConfigError(f"{account.name}: deployment not approved", hint="nothing was changed")


def check_deploy(config: Any, account: list[str] | None = None, sandbox: bool | None = None, yes: bool = False, **_: Any) -> None:
    """Preflight for deploy: valid targets, and approval can be had."""
    targets = resolve_targets(account, use_sandbox(sandbox, config))
    check_approval_possible(targets, assume_yes=yes, interactive=sys.stdin.isatty())

"""The approval question, asked on the terminal: the plan first, then 'yes' or nothing changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from ghe_backup.errors import ConfigError


def ask_approval(plan: Any, *, read: Callable[[str], str] = input) -> None:
    """Show what is about to change and ask; anything but 'yes' refuses (exit 2, nothing changed)."""
    target = plan.target
    print(f"\nAbout to deploy to {target.name} ({target.settings.account_id}):", file=sys.stderr)
    for label, value in plan.summary():
        print(f"  {label:<16} {value}", file=sys.stderr)
    try:
        answer = read(f"Deploy to {target.name}? Type 'yes' to continue: ").strip().lower()
    except EOFError:
        answer = ""
    if answer != "yes":
        raise ConfigError(f"{target.name}: deployment not approved", hint="nothing was changed")

"""Which accounts a task acts on, and where: the real account or the local sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig, repo_root, select_accounts
from ghe_backup.errors import UsageError


def use_sandbox(flag: bool | None, config: Any) -> bool:
    """--sandbox, or Invoke config ``ghe.sandbox`` (invoke.yaml, or env INVOKE_GHE_SANDBOX=1)."""
    if flag:
        return True
    try:
        return bool(config.ghe.sandbox)
    except AttributeError:
        return False


def resolve_targets(names: list[str] | str | None, sandbox: bool, root: Path | None = None) -> list[AccountConfig]:
    """The named accounts; with ``sandbox``, re-targeted at the sandbox's endpoints only."""
    root = repo_root(root)
    accounts = select_accounts(names, root)
    if not sandbox:
        return accounts
    from ghe_backup import sandbox as sandbox_module  # the sandbox is only needed when asked for

    endpoints = sandbox_module.endpoints(root)
    return [
        account.retarget(
            registry=endpoints["registry"],
            aws_endpoint=endpoints.get("aws_endpoint"),
            lizzy_url=endpoints.get("lizzy", {}).get(account.name, account.settings.lizzy_url),
        )
        for account in accounts
    ]


def check_targets(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Preflight for tasks taking --account: names known, config valid, sandbox up if asked."""
    resolve_targets(account, use_sandbox(sandbox, config))


def positive_int(value: str | int | None, flag: str) -> int | None:
    """A flag's value as a positive whole number (None when not given)."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise UsageError(f"--{flag}: {value!r} is not a positive whole number", hint=f"e.g. --{flag}=10")
    return number


def check_history(config: Any, account: str | None = None, limit: str | None = None, **_: Any) -> None:
    """Preflight for history: a known account (if named) and a sensible --limit."""
    if account:
        select_accounts([account])
    positive_int(limit, "limit")

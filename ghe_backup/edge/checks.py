"""Preflight checks: each runs before any task of the call does, so bad input changes nothing.

Each gets ``(config, **the call's keyword arguments)`` from the executor (see ``executor.preflight``).
"""

from __future__ import annotations

import sys
from typing import Any

from ghe_backup.delivery.deploy.approval import check_approval_possible
from ghe_backup.delivery.deploy.lock import check_ttl
from ghe_backup.edge.targets import positive_int, resolve, seconds
from ghe_backup.errors import UsageError


def build(config: Any, sandbox: bool | None = None, **_: Any) -> None:
    """image: the build site resolves (with --sandbox: the sandbox runs)."""
    resolve(config).build_site(sandbox)


def targets(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Tasks taking --account: names known, config valid, sandbox up if asked."""
    resolve(config).targets(account, sandbox)


def some_accounts(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Tasks whose --account is optional (default: all): names known, config valid, sandbox up if asked."""
    resolve(config).some_targets(account, sandbox)


def deploy(
    config: Any,
    account: list[str] | None = None,
    sandbox: bool | None = None,
    yes: bool = False,
    lock_wait: Any = None,
    **_: Any,
) -> None:
    """deploy: valid targets, a sensible --lock-wait, and approval can be had."""
    seconds(lock_wait, "lock-wait")
    found = resolve(config).targets(account, sandbox)
    check_approval_possible(found, assume_yes=yes, interactive=sys.stdin.isatty())


def history(
    config: Any, account: str | None = None, limit: str | None = None, sandbox: bool | None = None, **_: Any
) -> None:
    """history: a known account (if named), a sensible --limit, the sandbox up if asked."""
    positive_int(limit, "limit")
    found = resolve(config)
    if account:
        found.targets([account], sandbox)
    else:
        found.all_targets(sandbox)


def lock_acquire(
    config: Any,
    account: str | None = None,
    reason: str | None = None,
    ttl: Any = None,
    sandbox: bool | None = None,
    **_: Any,
) -> None:
    """lock.acquire: one known account, a reason, a sensible --ttl."""
    if not (reason or "").strip():
        raise UsageError(
            "lock.acquire: --reason is required", hint='say why, e.g. --reason="appliance upgrade to 3.14"'
        )
    check_ttl(ttl or 86400)
    resolve(config).targets(account, sandbox)


def account_named(config: Any, account: str | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """config, lock.release: one known account (and the sandbox up if asked)."""
    resolve(config).targets(account, sandbox)

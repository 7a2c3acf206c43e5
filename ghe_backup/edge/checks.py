"""Preflight checks: each runs before any task of the call does, so bad input changes nothing.

Each gets ``(config, **the call's keyword arguments)`` from the executor (see ``executor.preflight``).
"""

from __future__ import annotations

import sys
from typing import Any

from ghe_backup.delivery.deploy.approval import check_approval_possible
from ghe_backup.edge.targets import positive_int, resolve


def build(config: Any, sandbox: bool | None = None, **_: Any) -> None:
    """image: the build site resolves (with --sandbox: the sandbox runs)."""
    resolve(config).build_site(sandbox)


def targets(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Tasks taking --account: names known, config valid, sandbox up if asked."""
    resolve(config).targets(account, sandbox)


def deploy(
    config: Any,
    account: list[str] | None = None,
    sandbox: bool | None = None,
    yes: bool = False,
    image: str | None = None,
    **_: Any,
) -> None:
    """deploy: valid targets, approval can be had, and with --image the tag is in some account's registry."""
    resolution = resolve(config)
    found = resolution.targets(account, sandbox)
    check_approval_possible(found, assume_yes=yes, interactive=sys.stdin.isatty())
    if image is not None:
        from ghe_backup.delivery.push.promote import locate_image

        locate_image(found, image, resolution.all_targets(sandbox))


def history(config: Any, account: str | None = None, limit: str | None = None, **_: Any) -> None:
    """history: a known account (if named) and a sensible --limit."""
    if account:
        resolve(config).targets([account], False)
    positive_int(limit, "limit")


def account_named(config: Any, account: str | None = None, **_: Any) -> None:
    """config: exactly one known account."""
    resolve(config).targets(account, False)

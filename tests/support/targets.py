"""Test helper: ``Target``s for the fixture tree's accounts, as the edge would resolve them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.target import BuildSite, Target

FIXTURE_TREE = Path(__file__).resolve().parents[1] / "data" / "tree"


def make_target(
    name: str, root: Path = FIXTURE_TREE, *, settings: dict[str, Any] | None = None, **changes: Any
) -> Target:
    """The account ``name`` of the tree at ``root`` with real endpoints; ``changes`` replace endpoints,
    ``settings`` replace pipeline settings (e.g. the deployer)."""
    account = load_accounts(root)[name]
    if settings:
        account = dataclasses.replace(account, settings=dataclasses.replace(account.settings, **settings))
    target = Target.real(account, BuildSite(root=root, docker_host=None, build_args=build_args({})))
    return dataclasses.replace(target, **changes)

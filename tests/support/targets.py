"""Test helper: ``Target``s for the fixture tree's accounts, as the edge would resolve them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import load_accounts
from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.target import AwsEndpoint, BuildSite, Target, TokenSource

FIXTURE_TREE = Path(__file__).resolve().parents[1] / "data" / "tree"


def make_target(
    name: str, root: Path = FIXTURE_TREE, *, settings: dict[str, Any] | None = None, **changes: Any
) -> Target:
    """The account ``name`` of the tree at ``root`` with real endpoints; ``changes`` replace endpoints,
    ``settings`` replace pipeline settings (e.g. the deployer)."""
    account = load_accounts(root)[name]
    if settings:
        account = dataclasses.replace(account, settings=dataclasses.replace(account.settings, **settings))
    s = account.settings
    site = BuildSite(root=root, docker_host=None, build_args=build_args({}))
    target = Target(
        account=account,
        build=site,
        registry=s.registry,
        aws=AwsEndpoint(),
        lizzy_url=s.lizzy_url,
        token=TokenSource(env=s.lizzy_token_env, command=s.lizzy_token_command, account=s.name),
    )
    return dataclasses.replace(target, **changes)

"""The two deployers: through the account's Lizzy agent, or senza run here with the account's role.

Both offer the same four things: ``check`` (may we act, and is it the right account?), ``create``,
``delete`` and a ``reader`` to wait with. Only they change stacks; reading (decisions, waits,
events) uses the account's CloudFormation API (``cloudformation.py``) with the verified,
read-only ``deploy_role`` credentials that the account guard needs anyway. For Lizzy, that is
also where stack status is read while waiting: the agent's ``GET /api/stacks/{id}`` runs
``senza list`` (about 1 s) to report the very same CloudFormation status.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from ghe_backup.delivery import account_guard
from ghe_backup.delivery.aws_access import AccountAccess
from ghe_backup.delivery.cloudformation import PARAMETER, CloudFormationReader
from ghe_backup.delivery.lizzy_client import LizzyClient, resolve_token
from ghe_backup.delivery.senza_cli import run_senza
from ghe_backup.delivery.stacks import stack_name, version_of


class LizzyDeployer:
    name = "lizzy"

    def __init__(self, settings: Any, access: AccountAccess, sandbox_endpoints: dict[str, Any] | None = None,
                 *, attempts: int = 5):
        self.settings, self.access = settings, access
        self.client = LizzyClient(settings.lizzy_url, resolve_token(settings, sandbox_endpoints), attempts=attempts)
        self.reader = CloudFormationReader(access)  # status and events: one DescribeStacks a poll

    @property
    def secrets(self) -> list[str]:
        return [self.client._token, *self.access.secrets()]

    def check(self, base: str, account_stacks: list[str]) -> None:
        """An authenticated read (401/403 fail here) that must show the account's own stacks."""
        agent = [s.id for s in self.client.list_stacks() if version_of(base, s.id)]
        account_guard.check_agent(self.settings, agent, account_stacks)

    def create(self, definition_yaml: str, version: str, image_tag: str, log: Callable[[str], None]) -> None:
        log(f"POST {self.client.url}/api/stacks (stack_version {version}, {PARAMETER}={image_tag})")
        self.client.create_stack(definition_yaml, version, [f"{PARAMETER}={image_tag}"])

    def delete(self, base: str, version: str, log: Callable[[str], None]) -> None:
        log(f"DELETE {self.client.url}/api/stacks/{stack_name(base, version)}")
        self.client.delete_stack(base, version)


class SenzaDeployer:
    name = "senza"

    def __init__(self, settings: Any, access: AccountAccess, sandbox_endpoints: dict[str, Any] | None = None, **_: Any):
        self.settings, self.access = settings, access
        self.reader = CloudFormationReader(access)

    @property
    def secrets(self) -> list[str]:
        return self.access.secrets()

    def check(self, base: str, account_stacks: list[str]) -> None:
        """senza acts with ``access`` itself, which ``account_guard.check_caller`` has proven."""

    def create(self, definition_yaml: str, version: str, image_tag: str, log: Callable[[str], None]) -> None:
        with tempfile.TemporaryDirectory(prefix="ghe-backup-senza-") as folder:
            path = Path(folder) / "ghe-backup.yaml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(definition_yaml)
            args = ["--region", self.settings.region, "--force", str(path), version, f"{PARAMETER}={image_tag}"]
            run_senza("create", args, env=self.access.environment(), secrets=self.secrets, log=log)

    def delete(self, base: str, version: str, log: Callable[[str], None]) -> None:
        run_senza("delete", ["--region", self.settings.region, base, version],
                  env=self.access.environment(), secrets=self.secrets, log=log)


DEPLOYERS = {"lizzy": LizzyDeployer, "senza": SenzaDeployer}


def make_deployer(settings: Any, access: AccountAccess, sandbox_endpoints: dict[str, Any] | None = None, **options: Any) -> Any:
    return DEPLOYERS[settings.deployer](settings, access, sandbox_endpoints, **options)

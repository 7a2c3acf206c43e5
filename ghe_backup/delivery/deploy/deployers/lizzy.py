"""The Lizzy deployer: the account's Lizzy agent runs senza there; we send it the definition.

The agent is the only one that changes stacks. Status, events and AMIs are read through the
account's CloudFormation API with the verified, read-only ``deploy_role`` credentials that the
account guard needs anyway: the agent's ``GET /api/stacks/{id}`` runs ``senza list`` (about 1 s)
to report the very same status, too slow to poll.
"""

from __future__ import annotations

from typing import Any

from ghe_backup.delivery.deploy import guard
from ghe_backup.delivery.deploy.deployers.base import Log
from ghe_backup.delivery.deploy.deployers.lizzy_client import LizzyClient
from ghe_backup.plumbing.aws import AccountAccess
from ghe_backup.plumbing.cloudformation import PARAMETER, version_of


class LizzyDeployer:
    name = "lizzy"

    def __init__(self, target: Any, access: AccountAccess, *, attempts: int = 5):
        self.target, self.access = target, access
        self.client = LizzyClient(target.lizzy_url, target.token.read(), attempts=attempts)

    @property
    def secrets(self) -> list[str]:
        return [self.client._token, *self.access.secrets()]

    def check(self, base: str, account_stacks: list[str]) -> None:
        """An authenticated read (401/403 fail here) that must show the account's own stacks."""
        agent = [s.id for s in self.client.list_stacks() if version_of(base, s.id)]
        guard.check_agent(self.target, agent, account_stacks)

    def create(
        self, definition_yaml: str, version: str, image_tag: str, log: Log, *, within: float | None = None
    ) -> None:
        log(f"POST {self.client.url}/api/stacks (stack_version {version}, {PARAMETER}={image_tag})")
        self.client.create_stack(definition_yaml, version, [f"{PARAMETER}={image_tag}"], within=within)

    def delete(self, base: str, version: str, log: Log, *, within: float | None = None) -> None:
        log(f"DELETE {self.client.url}/api/stacks/{base}-{version}")
        self.client.delete_stack(base, version, within=within)

"""The senza deployer: senza run here, with credentials of the role assumed in the account."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ghe_backup.delivery.deploy.deployers.base import Log
from ghe_backup.delivery.deploy.deployers.senza_cli import TIMEOUT, run_senza
from ghe_backup.plumbing.aws import AccountAccess
from ghe_backup.plumbing.cloudformation import PARAMETER


class SenzaDeployer:
    name = "senza"

    def __init__(self, target: Any, access: AccountAccess, **_: Any):
        self.region, self.access = target.settings.region, access

    @property
    def secrets(self) -> list[str]:
        return self.access.secrets()

    def check(self, base: str, account_stacks: list[str]) -> None:
        """senza acts with ``access`` itself, which the account guard has proven."""

    def create(
        self, definition_yaml: str, version: str, image_tag: str, log: Log, *, within: float | None = None
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="ghe-backup-senza-") as folder:
            path = Path(folder) / "ghe-backup.yaml"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(definition_yaml)
            args = ["--region", self.region, "--force", str(path), version, f"{PARAMETER}={image_tag}"]
            run_senza(
                "create", args, env=self.access.environment(), secrets=self.secrets, log=log, timeout=_limit(within)
            )

    def delete(self, base: str, version: str, log: Log, *, within: float | None = None) -> None:
        run_senza(
            "delete",
            ["--region", self.region, base, version],
            env=self.access.environment(),
            secrets=self.secrets,
            log=log,
            timeout=_limit(within),
        )


def _limit(within: float | None) -> float:
    """senza's time: its own limit, or what is left of the deploy's budget (a few seconds at least)."""
    return TIMEOUT if within is None else max(5.0, min(TIMEOUT, within))

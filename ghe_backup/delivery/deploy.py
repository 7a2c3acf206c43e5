"""The deploy stage: roll the pushed image out to each account through Lizzy or senza (issue #4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig
from ghe_backup.errors import NotBuiltYet


def deploy_accounts(root: Path, accounts: list[AccountConfig], *, assume_yes: bool, config: Any) -> Any:
    raise NotBuiltYet("the deploy stage is not implemented yet (issue #4)")

"""The push stage: push the content-tagged image to each account's registry (issue #3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import AccountConfig
from ghe_backup.errors import NotBuiltYet


def push_image(root: Path, accounts: list[AccountConfig], *, config: Any) -> Any:
    raise NotBuiltYet("the push stage is not implemented yet (issue #3)")

"""What every deployer offers the deploy steps, and the one error type they raise.

A deployer is the only thing that changes stacks: ``check`` (may we act here?), ``create`` and
``delete``. Reading (decisions, waits, events) goes through the account's CloudFormation API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ghe_backup.errors import StageFailed

Log = Callable[[str], None]


class DeployerError(StageFailed):
    """The deployer ran and failed (senza's verdict, or Lizzy's answer carrying it).

    ``detail`` is the first meaningful line of what it said. Unreachable agents and refused
    tokens are other errors (``Unreachable``, ``ConfigError``): nothing was changed.
    """

    def __init__(self, message: str, detail: str, *, hint: str | None = None):
        self.detail = detail
        super().__init__(message, hint=hint)


class Deployer(Protocol):
    name: str

    @property
    def secrets(self) -> list[str]: ...

    def check(self, base: str, account_stacks: list[str]) -> None: ...

    # ``within``: the seconds the call may take at most, over all its tries (None: the deployer's own limit).
    def create(
        self, definition_yaml: str, version: str, image_tag: str, log: Log, *, within: float | None = None
    ) -> None: ...

    def delete(self, base: str, version: str, log: Log, *, within: float | None = None) -> None: ...

"""Test helper: an account and a deployer in memory, for the deploy steps' unit tests.

``FakeAccount`` answers what ``plumbing.cloudformation.CloudFormationAccount`` answers;
``FakeDeployer`` changes its stacks the way Lizzy or senza would. Every change is recorded in
``account.calls`` in order, and the deployer refuses to create a stack while another one
holds the data volume, as the instance could not attach it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import yaml

from ghe_backup.delivery.deploy.definition import PINNED_IMAGE
from ghe_backup.delivery.deploy.deployers import DeployerError
from ghe_backup.delivery.deploy.steps import Connection
from ghe_backup.plumbing.cloudformation import Observation, StackInfo

NEWEST = {"id": "ami-newest", "name": "Taupage-AMI-20261120-000000"}
AMI_NAMES = {"ami-newest": NEWEST["name"], "ami-old": "Taupage-AMI-20261001-000000"}


@dataclass
class FakeStack:
    name: str
    version: str
    status: str
    image_tag: str | None
    ami: str | None
    definition: dict | None = None
    created: str = "2026-11-27T10:00:00+00:00"


@dataclass
class FakeAccount:
    account_id: str = "123456789012"
    stacks: dict[str, FakeStack] = field(default_factory=dict)
    newest: dict | None = field(default_factory=lambda: dict(NEWEST))
    calls: list[tuple] = field(default_factory=list)
    #: Stacks that stay in progress (a create that never ends).
    stuck: set[str] = field(default_factory=set)

    def add(self, name: str, version: str, *, status="CREATE_COMPLETE", image_tag="old", ami="ami-old") -> FakeStack:
        stack = FakeStack(name, version, status, image_tag, ami)
        self.stacks[name] = stack
        return stack

    def caller_account(self) -> str:
        return self.account_id

    def list_stacks(self, base: str) -> list[StackInfo]:
        return [
            StackInfo(
                name=s.name,
                version=s.version,
                status=s.status,
                image_tag=s.image_tag,
                ami=s.ami,
                instance_type="t3.medium",
                created=s.created,
            )
            for s in self.stacks.values()
            if s.name.startswith(base + "-")
        ]

    def observe(self, stack: str, *, with_events: bool) -> Observation:
        found = self.stacks.get(stack)
        if found is None:
            return Observation(status=None)
        return Observation(
            status=found.status, reason="Resource creation cancelled" if found.status.endswith("FAILED") else ""
        )

    def newest_taupage(self) -> dict | None:
        return self.newest

    def ami_name(self, ami: str | None) -> str | None:
        return AMI_NAMES.get(ami or "")

    def delete_stack(self, stack: str) -> None:
        self.calls.append(("cfn-delete", stack))
        self.stacks.pop(stack, None)


@dataclass
class FakeDeployer:
    account: FakeAccount
    name: str = "fake"
    #: Versions whose create fails: "stack" (ends CREATE_FAILED) or "call" (the deployer raises).
    failing: dict[str, str] = field(default_factory=dict)
    refuse: Exception | None = None  # raised by check (a wrong agent)
    secrets: list[str] = field(default_factory=list)
    _clock: itertools.count = field(default_factory=itertools.count)

    def check(self, base: str, account_stacks: list[str]) -> None:
        self.account.calls.append(("check",))
        if self.refuse is not None:
            raise self.refuse

    def create(self, definition_yaml: str, version: str, image_tag: str, log) -> None:
        definition = yaml.safe_load(definition_yaml)
        name = f"{definition['SenzaInfo']['StackName']}-{version}"
        self.account.calls.append(("create", name, image_tag))
        holders = [s.name for s in self.account.stacks.values() if s.status != "DELETE_COMPLETE"]
        assert not holders, f"create {name} while {holders} may hold the data volume"
        mode = self.failing.get(version)
        if mode == "call":
            self.account.stacks[name] = FakeStack(name, version, "CREATE_IN_PROGRESS", image_tag, None, definition)
            raise DeployerError(f"senza create failed: boom in {name}", "boom")
        status = (
            "CREATE_FAILED"
            if mode == "stack"
            else "CREATE_IN_PROGRESS"
            if name in self.account.stuck
            else "CREATE_COMPLETE"
        )
        self.account.stacks[name] = FakeStack(
            name,
            version,
            status,
            image_tag,
            pinned_ami(definition) or self.account.newest["id"],
            definition,
            created=f"2026-11-27T10:{next(self._clock):02d}:00+00:00",
        )

    def delete(self, base: str, version: str, log) -> None:
        name = f"{base}-{version}"
        self.account.calls.append(("delete", name))
        self.account.stacks.pop(name, None)


def pinned_ami(definition: dict) -> str | None:
    for item in definition.get("SenzaComponents", []):
        for body in item.values():
            images = body.get("Images", {}) if isinstance(body, dict) else {}
            if PINNED_IMAGE in images:
                return next(iter(images[PINNED_IMAGE].values()))
    return None


def connector(account: FakeAccount, deployer: FakeDeployer):
    return lambda target: Connection(account=account, deployer=deployer)


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.01)

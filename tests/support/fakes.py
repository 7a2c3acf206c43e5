"""Test helper: an account and a deployer in memory, for the deploy steps' unit tests.

``FakeAccount`` answers what ``plumbing.cloudformation.CloudFormationAccount`` answers;
``FakeDeployer`` changes its stacks the way Lizzy or senza would; ``FakeStore`` is the account's
state table. Every change is recorded in ``account.calls`` in order, and the deployer refuses to
create a stack while another one holds the data volume, as the instance could not attach it.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field

import yaml

from ghe_backup.delivery.deploy.definition import PINNED_IMAGE
from ghe_backup.delivery.deploy.deployers import DeployerError
from ghe_backup.delivery.deploy.steps import Connection
from ghe_backup.plumbing.cloudformation import Observation, StackInfo

#: Reading what we wrote, libyaml's loader where PyYAML has it (the pure-Python one is eight times slower).
FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NEWEST = {"id": "ami-newest", "name": "Taupage-AMI-20261120-000000"}
AMI_NAMES = {"ami-newest": NEWEST["name"], "ami-old": "Taupage-AMI-20261001-000000"}
AMIS = {
    "ami-newest": {
        "id": "ami-newest",
        "name": NEWEST["name"],
        "state": "available",
        "created": "2026-11-20T00:00:00.000Z",
        "deprecation": None,
    },
    "ami-old": {
        "id": "ami-old",
        "name": AMI_NAMES["ami-old"],
        "state": "available",
        "created": "2026-10-01T00:00:00.000Z",
        "deprecation": "2027-10-01T00:00:00.000Z",
    },
}


@dataclass
class FakeStack:
    name: str
    version: str
    status: str
    image_tag: str | None
    ami: str | None
    definition: dict | None = None
    created: str = "2026-11-27T10:00:00+00:00"
    tags: dict = field(default_factory=dict)


@dataclass
class FakeAccount:
    account_id: str = "123456789012"
    stacks: dict[str, FakeStack] = field(default_factory=dict)
    newest: dict | None = field(default_factory=lambda: dict(NEWEST))
    calls: list[tuple] = field(default_factory=list)
    #: Stacks that stay in progress (a create that never ends).
    stuck: set[str] = field(default_factory=set)

    def add(
        self, name: str, version: str, *, status="CREATE_COMPLETE", image_tag="old", ami="ami-old", tags=None
    ) -> FakeStack:
        stack = FakeStack(name, version, status, image_tag, ami, tags=dict(tags or {}))
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
                tags=dict(s.tags),
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

    def describe_ami(self, ami: str | None) -> dict | None:
        return dict(AMIS[ami]) if ami in AMIS else None

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
    elsewhere: FakeAccount | None = None  # the account it really creates in (the agent of another account)
    secrets: list[str] = field(default_factory=list)
    #: Called after each create and delete (e.g. to send a signal at that moment).
    after: dict[str, object] = field(default_factory=dict)
    _clock: itertools.count = field(default_factory=itertools.count)

    def check(self, base: str, account_stacks: list[str]) -> None:
        self.account.calls.append(("check",))
        if self.refuse is not None:
            raise self.refuse

    def create(self, definition_yaml: str, version: str, image_tag: str, log, *, within=None) -> None:
        definition = yaml.load(definition_yaml, Loader=FAST_LOADER)
        name = f"{definition['SenzaInfo']['StackName']}-{version}"
        self.account.calls.append(("create", name, image_tag))
        home = self.elsewhere or self.account
        holders = [s.name for s in home.stacks.values() if s.status != "DELETE_COMPLETE"]
        assert not holders, f"create {name} while {holders} may hold the data volume"
        mode = self.failing.get(version)
        if mode == "call":
            home.stacks[name] = FakeStack(name, version, "CREATE_IN_PROGRESS", image_tag, None, definition)
            raise DeployerError(f"senza create failed: boom in {name}", "boom")
        if mode == "stack":
            status = "CREATE_FAILED"
        else:
            status = "CREATE_IN_PROGRESS" if name in self.account.stuck else "CREATE_COMPLETE"
        tags = {k: v for t in definition["SenzaInfo"].get("Tags", []) for k, v in t.items()}
        ami = pinned_ami(definition) or self.account.newest["id"]
        created = f"2026-11-27T10:{next(self._clock):02d}:00+00:00"
        home.stacks[name] = FakeStack(name, version, status, image_tag, ami, definition, created=created, tags=tags)
        self._after("create")

    def delete(self, base: str, version: str, log, *, within=None) -> None:
        name = f"{base}-{version}"
        self.account.calls.append(("delete", name))
        (self.elsewhere or self.account).stacks.pop(name, None)
        self._after("delete")

    def _after(self, what: str) -> None:
        hook = self.after.get(what)
        if callable(hook):
            hook()


def pinned_ami(definition: dict) -> str | None:
    for item in definition.get("SenzaComponents", []):
        for body in item.values():
            images = body.get("Images", {}) if isinstance(body, dict) else {}
            if PINNED_IMAGE in images:
                return next(iter(images[PINNED_IMAGE].values()))
    return None


@dataclass
class FakeStore:
    """The account's state table in memory (what ``plumbing.statestore.StateTable`` offers)."""

    items: dict[tuple[str, str], dict] = field(default_factory=dict)

    def put_new(self, item: dict) -> bool:
        key = (item["pk"], item["sk"])
        if key in self.items:
            return False
        self.items[key] = copy.deepcopy(item)
        return True

    def put(self, item: dict) -> None:
        self.items[(item["pk"], item["sk"])] = copy.deepcopy(item)

    def get(self, pk: str, sk: str) -> dict | None:
        return copy.deepcopy(self.items.get((pk, sk)))

    def delete(self, pk: str, sk: str, *, only_if: dict | None = None) -> bool:
        found = self.items.get((pk, sk))
        if found is None or any(found.get(k) != v for k, v in (only_if or {}).items()):
            return False
        del self.items[(pk, sk)]
        return True

    def query(self, pk: str, *, limit: int | None = None, newest_first: bool = True) -> list[dict]:
        found = sorted((v for (p, _), v in self.items.items() if p == pk), key=lambda i: i["sk"], reverse=newest_first)
        return copy.deepcopy(found[:limit] if limit else found)


def connector(account: FakeAccount, deployer: FakeDeployer, store: FakeStore | None = None):
    store = store if store is not None else FakeStore()
    return lambda target: Connection(account=account, deployer=deployer, store=store)


class FakeClock:
    """A monotonic clock that only moves when something sleeps."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.01)

"""The steps of one deployment, as functions over explicit data.

guard -> tidy up -> plan -> (up to date? stop) -> release the volume -> create (proven in the
account) -> on failure, restore (the last three in ``recovery``). Every step takes the ``Target``, a ``Connection`` (the account's
CloudFormation reads, its state table, and the deployer that changes stacks) and a ``Budget``
(the deadline, the clock, the signals received), so the whole flow runs against fakes in unit
tests and against Lizzy, senza, CloudFormation and DynamoDB for real.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ghe_backup.delivery.deploy.definition import (
    DEPLOYER_TAG,
    DIGEST_TAG,
    HASH_TAG,
    REVISION_TAG,
    definition_hash,
    pin_ami,
    with_tags,
)
from ghe_backup.delivery.deploy.deployers import Deployer, make_deployer
from ghe_backup.delivery.deploy.guard import check_caller
from ghe_backup.delivery.deploy.interrupts import Interrupts
from ghe_backup.delivery.deploy.versions import stack_name, stack_version
from ghe_backup.delivery.deploy.wait import wait_for_stack
from ghe_backup.delivery.target import Actor, ImageRef, Target
from ghe_backup.errors import GheBackupError
from ghe_backup.plumbing.cloudformation import Observation, StackInfo

Log = Callable[[str], None]
#: Cleaning up a failed stack and restoring the previous one get their own budget.
RESTORE_BUDGET = 900.0
#: States of a stack that runs (or ran) a version we can go back to.
HEALTHY = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})


class AccountReader(Protocol):
    """The account as the steps read it (``plumbing.cloudformation.CloudFormationAccount``)."""

    def caller_account(self) -> str: ...
    def list_stacks(self, base: str) -> list[StackInfo]: ...
    def observe(self, stack: str, *, with_events: bool) -> Observation: ...
    def newest_taupage(self) -> dict[str, str] | None: ...
    def ami_name(self, ami: str | None) -> str | None: ...
    def delete_stack(self, stack: str) -> None: ...


@dataclass(frozen=True)
class Intent:
    """What a deploy is asked to run: an image, and for a rollback or refresh, what else is fixed."""

    image: ImageRef
    operation: str = "deploy"  # deploy | rollback | refresh
    definition: dict[str, Any] | None = field(default=None, repr=False)  # None: as the config renders it now
    ami: str | None = None  # None: the newest Taupage


@dataclass
class Connection:
    account: AccountReader
    deployer: Deployer | None  # None: read only (inv plan)
    store: Any = None  # the account's state table (``plumbing.statestore.StateTable``); None: not kept


@dataclass(frozen=True)
class Budget:
    """The deploy's deadline, the clock it is measured on, and the signals received (fakes in tests)."""

    deadline: float
    max_interval: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    interrupts: Interrupts = field(default_factory=Interrupts)

    def until(self) -> float:
        return self.interrupts.deadline(self.deadline)

    def left(self) -> float:
        """Seconds until the deadline (0 when it passed)."""
        return max(0.0, self.until() - self.clock())

    restore_seconds: float = RESTORE_BUDGET

    def restore_budget(self) -> Budget:
        return Budget(
            self.clock() + self.restore_seconds,
            self.max_interval,
            self.clock,
            self.sleep,
            self.interrupts,
            self.restore_seconds,
        )


@dataclass(frozen=True)
class Plan:
    target: Target
    image: ImageRef
    version: str
    previous: tuple[StackInfo, ...]  # running versions this deploy replaces (oldest first)
    ami: dict[str, str] | None
    previous_ami_name: str | None
    definition: dict[str, Any] = field(repr=False)  # as rendered from the config: no tags, no pinned AMI
    definition_hash: str = ""
    actor: Actor | None = None
    force: bool = False
    operation: str = "deploy"

    @property
    def base(self) -> str:
        return self.target.stack_base

    @property
    def new_stack(self) -> str:
        return stack_name(self.base, self.version)

    @property
    def image_name(self) -> str:
        return f"{self.image.repository or self.target.repository}:{self.image.tag}"

    @property
    def running(self) -> StackInfo | None:
        return self.previous[-1] if self.previous else None

    @property
    def up_to_date(self) -> bool:
        """The one running stack has this image digest, this AMI and this definition: nothing to do."""
        run = self.running
        if self.force or run is None or len(self.previous) != 1 or not self.image.digest or not self.ami:
            return False
        tags = run.tags
        return (
            tags.get(DIGEST_TAG) == self.image.digest
            and tags.get(HASH_TAG) == self.definition_hash
            and run.ami == self.ami["id"]
        )

    def tags(self) -> dict[str, str | None]:
        return {
            DIGEST_TAG: self.image.digest,
            REVISION_TAG: self.image.revision,
            HASH_TAG: self.definition_hash,
            DEPLOYER_TAG: self.actor.user if self.actor else None,
        }

    def to_deploy(self) -> dict[str, Any]:
        """What is sent to the deployer: the definition with its tags, on the planned AMI."""
        ami = self.ami["id"] if self.ami else None
        return pin_ami(with_tags(self.definition, self.tags()), self.target.settings.region, ami)

    def summary(self) -> list[tuple[str, str]]:
        settings = self.target.settings
        replaced = (
            ", ".join(f"{p.name} (image {p.image_tag}, AMI {p.ami})" for p in self.previous)
            or "nothing (first deployment)"
        )
        lines = [
            ("image", self.image_name),
            ("digest", self.image.digest or "unknown"),
            ("new stack", self.new_stack),
            ("replaces", replaced),
            ("AMI", f"{self.ami['name']} ({self.ami['id']})" if self.ami else "none found"),
            ("deployer", settings.deployer + (f" at {self.target.lizzy_url}" if settings.deployer == "lizzy" else "")),
        ]
        last = self.running
        if last and self.ami and last.ami and last.ami != self.ami["id"]:
            lines.append(("previous AMI", f"{self.previous_ami_name or '?'} ({last.ami})"))
        return lines


def reader(target: Target) -> Connection:
    """The account read only (``inv plan``): CloudFormation and the state table, no deployer (no token needed)."""
    from ghe_backup.plumbing.cloudformation import CloudFormationAccount
    from ghe_backup.plumbing.statestore import StateTable

    access = target.access()
    return Connection(
        account=CloudFormationAccount(access),
        deployer=None,
        store=StateTable(access, target.settings.state_table, target.name),
    )


def connect(target: Target, *, attempts: int = 5, base_session: Any = None) -> Connection:
    """The real account: CloudFormation reads and the state table with the deploy role, and the account's deployer."""
    from ghe_backup.plumbing.cloudformation import CloudFormationAccount
    from ghe_backup.plumbing.statestore import StateTable

    access = target.access(base_session)
    return Connection(
        account=CloudFormationAccount(access),
        deployer=make_deployer(target, access, attempts=attempts),
        store=StateTable(access, target.settings.state_table, target.name),
    )


def wait(conn: Connection, stack: str, goal: str, budget: Budget, log: Log) -> Observation:
    return wait_for_stack(
        conn.account,
        stack,
        goal=goal,
        deadline=budget.until,
        max_interval=budget.max_interval,
        report=log,
        clock=budget.clock,
        sleep=budget.sleep,
    )


def guard(target: Target, conn: Connection) -> list[StackInfo]:
    """Prove our credentials act in the target's account; its stacks."""
    check_caller(target, conn.account.caller_account())
    return conn.account.list_stacks(target.stack_base)


def check_agent(target: Target, conn: Connection, stacks: list[StackInfo]) -> None:
    """Prove the deployer acts in the same account (Lizzy: its stacks are the account's), before it
    changes anything. Not needed when nothing changes: a no-op never calls the agent."""
    conn.deployer.check(target.stack_base, [s.name for s in stacks])


def tidy(target: Target, conn: Connection, stacks: list[StackInfo], budget: Budget, log: Log) -> list[StackInfo]:
    """The running versions, after dealing with what earlier runs left behind.

    We hold the account's deploy lock, so a stack being created now is a leftover of a run that
    died: it is removed, as are failed and rolled-back stacks; a stack being deleted or updated is
    waited for. None of them is ever taken for the version to restore.
    """
    changed = False
    for stack in stacks:
        status = stack.status
        if status in HEALTHY:
            continue
        changed = True
        if status in (
            "DELETE_IN_PROGRESS",
            "UPDATE_IN_PROGRESS",
            "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
            "ROLLBACK_IN_PROGRESS",
            "UPDATE_ROLLBACK_IN_PROGRESS",
        ):
            log(f"{stack.name} is {status} (left by an earlier run?); waiting for it to settle")
            seen = wait(conn, stack.name, "settle", budget, log)
            if seen.status is None or seen.status in HEALTHY or seen.status == "DELETE_COMPLETE":
                continue
            status = seen.status
        log(f"{stack.name} is {status}, left by an earlier run: removing it (it is never restored)")
        budget.interrupts.checkpoint(f"removing {stack.name}")
        remove(conn, target.stack_base, stack.name, stack.version, budget, log)
    return [s for s in conn.account.list_stacks(target.stack_base) if s.status in HEALTHY] if changed else stacks


def make_plan(
    target: Target,
    intent: Intent | ImageRef,
    stacks: list[StackInfo],
    conn: Connection,
    *,
    actor: Actor | None = None,
    force: bool = False,
) -> Plan:
    intent = intent if isinstance(intent, Intent) else Intent(image=intent)
    if intent.ami is None:
        ami = conn.account.newest_taupage()
    else:
        ami = conn.account.describe_ami(intent.ami) or {"id": intent.ami, "name": "?"}
    last = stacks[-1] if stacks else None
    definition = intent.definition if intent.definition is not None else target.definition
    image = intent.image
    return Plan(
        target=target,
        image=image,
        version=stack_version(image.tag, taken={s.version for s in stacks}, salt=secrets.token_hex(2)),
        previous=tuple(stacks),
        ami=ami,
        previous_ami_name=conn.account.ami_name(last.ami)
        if last and last.ami and ami and last.ami != ami["id"]
        else None,
        definition=definition,
        definition_hash=definition_hash(definition),
        actor=actor,
        force=force,
        operation=intent.operation,
    )


def show(plan: Plan, log: Log) -> None:
    """Say what is about to change (the approval, if needed, was had before)."""
    for label, value in plan.summary():
        log(f"{label:<12} {value}")


def remove(conn: Connection, base: str, name: str, version: str, budget: Budget, log: Log) -> None:
    """Delete a stack through the deployer (through CloudFormation if the deployer cannot) and wait."""
    try:
        conn.deployer.delete(base, version, log, within=budget.left())
    except GheBackupError as err:
        # A stack whose create call failed can be beyond senza (moto leaves it half made).
        log(f"{conn.deployer.name} could not delete {name} ({err}); deleting it through CloudFormation")
        conn.account.delete_stack(name)
    wait(conn, name, "delete", budget, log)

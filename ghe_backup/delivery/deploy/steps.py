"""The steps of one deployment, as functions over explicit data.

guard -> settle -> plan -> approve -> release the volume -> create (and wait) -> on failure,
restore. Every step takes the ``Target``, a ``Connection`` (the account's CloudFormation reads
and the deployer that changes stacks) and a ``Budget`` (the deadline and the clock), so the
whole flow runs against fakes in unit tests and against Lizzy, senza and CloudFormation for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from ghe_backup.delivery.deploy.definition import dump, pin_ami, recall_definition
from ghe_backup.delivery.deploy.deployers import Deployer, DeployerError, make_deployer
from ghe_backup.delivery.deploy.guard import check_caller
from ghe_backup.delivery.deploy.versions import stack_name, stack_version
from ghe_backup.delivery.deploy.wait import StackFailed, is_in_progress, wait_for_stack
from ghe_backup.delivery.target import Target
from ghe_backup.errors import GheBackupError, StageFailed
from ghe_backup.plumbing.cloudformation import Observation, StackInfo

Log = Callable[[str], None]
#: Cleaning up a failed stack and restoring the previous one get their own budget.
RESTORE_BUDGET = 900.0


class AccountReader(Protocol):
    """The account as the steps read it (``plumbing.cloudformation.CloudFormationAccount``)."""

    def caller_account(self) -> str: ...
    def list_stacks(self, base: str) -> list[StackInfo]: ...
    def observe(self, stack: str, *, with_events: bool) -> Observation: ...
    def newest_taupage(self) -> dict[str, str] | None: ...
    def ami_name(self, ami: str | None) -> str | None: ...
    def delete_stack(self, stack: str) -> None: ...


@dataclass(frozen=True)
class ImageRef:
    tag: str
    digest: str | None = None
    repository: str | None = None


@dataclass
class Connection:
    account: AccountReader
    deployer: Deployer


@dataclass(frozen=True)
class Budget:
    """The deploy's deadline and the clock it is measured on (fakes in tests)."""

    deadline: float
    max_interval: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def restore_budget(self) -> Budget:
        return Budget(self.clock() + RESTORE_BUDGET, self.max_interval, self.clock, self.sleep)


@dataclass(frozen=True)
class Plan:
    target: Target
    image: ImageRef
    version: str
    previous: tuple[StackInfo, ...]
    ami: dict[str, str] | None
    previous_ami_name: str | None
    definition: dict[str, Any] = field(repr=False)

    @property
    def base(self) -> str:
        return self.target.stack_base

    @property
    def new_stack(self) -> str:
        return stack_name(self.base, self.version)

    @property
    def image_name(self) -> str:
        return f"{self.image.repository or self.target.repository}:{self.image.tag}"

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
        last = self.previous[-1] if self.previous else None
        if last and self.ami and last.ami and last.ami != self.ami["id"]:
            lines.append(("previous AMI", f"{self.previous_ami_name or '?'} ({last.ami})"))
        return lines


class Restored(StageFailed):
    """The new version failed and the previous one was recreated: backups resume."""


def connect(target: Target, *, attempts: int = 5, base_session: Any = None) -> Connection:
    """The real account: CloudFormation reads with the deploy role, and the account's deployer."""
    from ghe_backup.plumbing.cloudformation import CloudFormationAccount

    access = target.access(base_session)
    return Connection(account=CloudFormationAccount(access), deployer=make_deployer(target, access, attempts=attempts))


def wait(conn: Connection, stack: str, goal: str, budget: Budget, log: Log) -> Observation:
    return wait_for_stack(
        conn.account,
        stack,
        goal=goal,
        deadline=budget.deadline,
        max_interval=budget.max_interval,
        report=log,
        clock=budget.clock,
        sleep=budget.sleep,
    )


def guard(target: Target, conn: Connection) -> list[StackInfo]:
    """Prove we act in the target's account (credentials, and the agent); its running stacks."""
    check_caller(target, conn.account.caller_account())
    stacks = conn.account.list_stacks(target.stack_base)
    conn.deployer.check(target.stack_base, [s.name for s in stacks])
    return stacks


def settle(target: Target, conn: Connection, stacks: list[StackInfo], budget: Budget, log: Log) -> list[StackInfo]:
    """Wait for stacks still in progress (another deployment?); the stacks afterwards."""
    busy = [s for s in stacks if is_in_progress(s.status)]
    for stack in busy:
        log(f"{stack.name} is {stack.status} (another deployment?); waiting for it to settle")
        wait(conn, stack.name, "settle", budget, log)
    return conn.account.list_stacks(target.stack_base) if busy else stacks


def make_plan(target: Target, image: ImageRef, stacks: list[StackInfo], conn: Connection) -> Plan:
    ami = conn.account.newest_taupage()
    last = stacks[-1] if stacks else None
    return Plan(
        target=target,
        image=image,
        version=stack_version(image.tag, taken={s.version for s in stacks}),
        previous=tuple(stacks),
        ami=ami,
        previous_ami_name=conn.account.ami_name(last.ami)
        if last and last.ami and ami and last.ami != ami["id"]
        else None,
        definition=target.definition,
    )


def approve(plan: Plan, ask: Callable[[Plan], None] | None, log: Log) -> None:
    """Ask when the account needs approval and ``ask`` is given (refusing raises); else show the plan."""
    if plan.target.settings.approval and ask is not None:
        ask(plan)
        return
    for label, value in plan.summary():
        log(f"{label:<12} {value}")


def release_volume(conn: Connection, plan: Plan, budget: Budget, log: Log) -> None:
    """Delete the previous stack(s): the instance must let go of the data volume first."""
    for stack in plan.previous:
        conn.deployer.delete(plan.base, stack.version, log)
        wait(conn, stack.name, "delete", budget, log)


def create(conn: Connection, plan: Plan, budget: Budget, log: Log) -> Observation:
    """Create the new version and wait for it; on failure, restore the previous one (raises)."""
    try:
        conn.deployer.create(dump(plan.definition), plan.version, plan.image.tag, log)
        return wait(conn, plan.new_stack, "create", budget, log)
    except (StackFailed, DeployerError) as failure:
        restore(conn, plan, failure, budget.restore_budget(), log)


def remove_failed(conn: Connection, plan: Plan, budget: Budget, log: Log) -> str:
    """Delete what is left of the failed new stack; '' or a note on what is left over."""
    new = plan.new_stack
    if conn.account.observe(new, with_events=False).status is None:
        return ""
    try:
        conn.deployer.delete(plan.base, plan.version, log)
    except GheBackupError as err:
        # A stack whose create call failed can be beyond senza (moto leaves it half made).
        log(f"{conn.deployer.name} could not delete {new} ({err}); deleting it through CloudFormation")
        try:
            conn.account.delete_stack(new)
        except GheBackupError as again:
            log(f"could not delete {new} either: {again}")
            return f"; {new} is left over (see docs/deploy.md#a-stuck-stack)"
    try:
        wait(conn, new, "delete", budget, log)
    except GheBackupError as err:
        return f"; {new} is left over: {err}"
    return ""


def restore(conn: Connection, plan: Plan, failure: GheBackupError, budget: Budget, log: Log) -> NoReturn:
    """Remove the failed stack, recreate the previous version exactly (image, AMI, definition); raise."""
    reason = failure.reason if isinstance(failure, StackFailed) else failure.message
    new = plan.new_stack
    log(f"{new} failed: {reason}")
    leftover = remove_failed(conn, plan, budget, log)
    if not plan.previous:
        raise StageFailed(f"{new} failed: {reason}{leftover}", hint="no previous version to restore")
    last = plan.previous[-1]
    log(f"restoring {last.name} (image {last.image_tag}, AMI {last.ami})")
    target = plan.target
    recalled = recall_definition(target.state_dir, target.name, last.name) or plan.definition
    definition = pin_ami(recalled, target.settings.region, last.ami)
    try:
        conn.deployer.create(dump(definition), last.version, last.image_tag or plan.image.tag, log)
        wait(conn, last.name, "create", budget, log)
    except GheBackupError as err:
        raise StageFailed(
            f"{new} failed: {reason}; restoring {last.name} failed too: {err}{leftover}",
            hint="see docs/deploy.md#rollback",
        ) from None
    raise Restored(
        f"{new} failed: {reason}{leftover}", hint=f"restored {last.name} with image {last.image_tag} and AMI {last.ami}"
    )

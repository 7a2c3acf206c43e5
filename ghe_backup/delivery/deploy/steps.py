"""The steps of one deployment, as functions over explicit data.

guard -> tidy up -> plan -> (up to date? stop) -> release the volume -> create (proven in the
account) -> on failure, restore. Every step takes the ``Target``, a ``Connection`` (the account's
CloudFormation reads, its state table, and the deployer that changes stacks) and a ``Budget``
(the deadline, the clock, the signals received), so the whole flow runs against fakes in unit
tests and against Lizzy, senza, CloudFormation and DynamoDB for real.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

from ghe_backup.delivery.deploy.definition import (
    DEPLOYER_TAG,
    DIGEST_TAG,
    HASH_TAG,
    REVISION_TAG,
    definition_hash,
    dump,
    pin_ami,
    recall_definition,
    with_tags,
)
from ghe_backup.delivery.deploy.deployers import Deployer, make_deployer
from ghe_backup.delivery.deploy.guard import WrongAccount, check_caller
from ghe_backup.delivery.deploy.interrupts import Interrupted, Interrupts
from ghe_backup.delivery.deploy.versions import stack_name, stack_version
from ghe_backup.delivery.deploy.wait import DeadlineExceeded, StackFailed, wait_for_stack
from ghe_backup.delivery.target import Actor, ImageRef, Target
from ghe_backup.errors import GheBackupError, StageFailed, Unreachable
from ghe_backup.plumbing.cloudformation import Observation, StackInfo, TransientError

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


class Restored(StageFailed):
    """The new version failed and the previous one was recreated: backups resume."""


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
        conn.deployer.delete(base, version, log)
    except GheBackupError as err:
        # A stack whose create call failed can be beyond senza (moto leaves it half made).
        log(f"{conn.deployer.name} could not delete {name} ({err}); deleting it through CloudFormation")
        conn.account.delete_stack(name)
    wait(conn, name, "delete", budget, log)


def release_volume(conn: Connection, plan: Plan, budget: Budget, log: Log) -> None:
    """Delete the previous stack(s): the instance must let go of the data volume first.

    After a signal, the delete running now finishes; no further one starts.
    """
    for stack in plan.previous:
        if budget.interrupts.requested:
            return
        conn.deployer.delete(plan.base, stack.version, log)
        wait(conn, stack.name, "delete", budget, log)


#: Between two tries of an unreachable agent or AWS endpoint while the account is being changed.
RETRY_PAUSE = 10.0


def retrying(call: Callable[[], Any], budget: Budget, log: Log, what: str) -> Any:
    """``call()``, tried again while the agent or AWS is unreachable, until the budget runs out.

    Used once the previous version is deleted: giving up at the first fault would leave the
    account without a backup instance, so the deploy keeps trying (saying so) within its budget.
    """
    while True:
        try:
            return call()
        except TransientError as err:
            fault: GheBackupError = Unreachable(f"AWS did not answer: {err}")
        except Unreachable as err:
            fault = err
        left = budget.until() - budget.clock()
        if left <= RETRY_PAUSE:
            raise fault
        log(f"{what}: {fault}; trying again in {RETRY_PAUSE:.0f}s (for up to {left:.0f}s more)")
        budget.sleep(RETRY_PAUSE)


def create_once(conn: Connection, plan: Plan, definition: dict[str, Any], version: str, tag: str, log: Log) -> None:
    """Ask the deployer to create ``version`` unless an earlier try already did (a lost answer)."""
    name = stack_name(plan.base, version)
    if conn.account.observe(name, with_events=False).status is not None:
        log(f"{name} exists already (an earlier try was accepted); waiting for it")
        return
    conn.deployer.create(dump(definition), version, tag, log)


def create(
    conn: Connection, plan: Plan, budget: Budget, log: Log, elsewhere: Callable[[str], str | None] = lambda stack: None
) -> Observation:
    """Create the new version, prove it is in the target's account, wait for it; restore on failure (raises).

    Any failure once the previous version is gone restores it (a failed stack, a senza error, an
    agent or AWS that stays unreachable, a bug); not a deadline (the stack may still hold the
    volume) and not a wrong agent (nothing of ours was deleted there).
    """
    try:
        retrying(
            lambda: create_once(conn, plan, plan.to_deploy(), plan.version, plan.image.tag, log),
            budget,
            log,
            f"creating {plan.new_stack}",
        )
        prove_in_account(conn, plan, budget, log, elsewhere)
        return retrying(
            lambda: wait(conn, plan.new_stack, "create", budget, log), budget, log, f"waiting for {plan.new_stack}"
        )
    except (WrongAccount, DeadlineExceeded):
        raise
    except GheBackupError as failure:
        restore(conn, plan, failure, budget.restore_budget(), log)
    except Exception as bug:  # still restore: the account must keep a backup instance; then show the bug
        with contextlib.suppress(GheBackupError):
            restore(
                conn, plan, StageFailed(f"internal error: {type(bug).__name__}: {bug}"), budget.restore_budget(), log
            )
        raise


#: A stack the agent accepted shows in the account's CloudFormation at once; a little slack for
#: eventual consistency before concluding it went elsewhere.
PROOF_READS = (0.0, 0.5, 1.0, 2.0)


def prove_in_account(
    conn: Connection, plan: Plan, budget: Budget, log: Log, elsewhere: Callable[[str], str | None]
) -> None:
    """The stack the deployer accepted must be in the target's account; else remove it and refuse (exit 2)."""
    for pause in PROOF_READS:
        if pause:
            budget.sleep(pause)
        if conn.account.observe(plan.new_stack, with_events=False).status is not None:
            return
    target = plan.target
    where = elsewhere(plan.new_stack)
    log(f"{plan.new_stack} did not appear in account {target.settings.account_id}; removing it through the deployer")
    try:
        conn.deployer.delete(plan.base, plan.version, log)
        removed = "removed it there"
    except GheBackupError as err:
        removed = f"could not remove it ({err}): remove it by hand"
    landed = f"in {where}" if where else "in another account"
    raise WrongAccount(
        f"{target.name}: the {conn.deployer.name} deployer created {plan.new_stack} {landed}, not in "
        f"{target.name} ({target.settings.account_id}); {removed}",
        hint="is lizzy_url the agent of this account?",
    )


def remove_failed(conn: Connection, plan: Plan, budget: Budget, log: Log) -> str:
    """Delete what is left of the failed new stack; '' or a note on what is left over."""
    new = plan.new_stack
    try:
        if retrying(lambda: conn.account.observe(new, with_events=False), budget, log, f"reading {new}").status is None:
            return ""
        retrying(lambda: remove(conn, plan.base, new, plan.version, budget, log), budget, log, f"removing {new}")
    except GheBackupError as err:
        log(f"could not delete {new}: {err}")
        return f"; {new} is left over (the next deploy removes it)"
    return ""


def restore_previous(conn: Connection, plan: Plan, budget: Budget, log: Log) -> StackInfo:
    """Recreate the last running version exactly: its image, its AMI, its recorded definition and tags."""
    last = plan.running
    assert last is not None
    target = plan.target
    log(f"restoring {last.name} (image {last.image_tag}, AMI {last.ami})")
    recalled = recall_definition(conn.store, target.state_dir, target.name, last.name) or plan.definition
    definition = pin_ami(with_tags(recalled, dict(last.tags)), target.settings.region, last.ami)
    tag = last.image_tag or plan.image.tag
    retrying(lambda: create_once(conn, plan, definition, last.version, tag, log), budget, log, f"restoring {last.name}")
    retrying(lambda: wait(conn, last.name, "create", budget, log), budget, log, f"waiting for {last.name}")
    return last


def restore(conn: Connection, plan: Plan, failure: GheBackupError, budget: Budget, log: Log) -> NoReturn:
    """Remove the failed stack, recreate the previous version exactly (image, AMI, definition); raise."""
    reason = (failure.reason if isinstance(failure, StackFailed) else failure.message) or type(failure).__name__
    new = plan.new_stack
    log(f"{new} failed: {reason}")
    leftover = remove_failed(conn, plan, budget, log)
    if not plan.previous:
        raise StageFailed(
            f"{new} failed: {reason}{leftover}",
            hint=f"no previous version to restore: {plan.target.name} has NO backup instance",
        )
    try:
        last = restore_previous(conn, plan, budget, log)
    except GheBackupError as err:
        running = plan.running.name if plan.running else "?"
        raise StageFailed(
            f"{new} failed: {reason}; restoring {running} failed too: {err}{leftover}",
            hint=f"{plan.target.name} has NO backup instance now: run inv rollback --account={plan.target.name}",
        ) from None
    raise Restored(
        f"{new} failed: {reason}{leftover}", hint=f"restored {last.name} with image {last.image_tag} and AMI {last.ami}"
    )


def stop_safely(conn: Connection, plan: Plan, budget: Budget, log: Log) -> NoReturn:
    """After a signal, between deleting the previous version and creating the new: restore it, then stop."""
    name = plan.target.name
    first = budget.interrupts.received[0]
    if not plan.previous:
        raise Interrupted(
            f"{name}: interrupted ({first}) before the first version was created", hint="nothing was changed"
        )
    try:
        last = restore_previous(conn, plan, budget, log)
    except GheBackupError as err:
        raise Interrupted(
            f"{name}: interrupted ({first}) after deleting {plan.running.name if plan.running else '?'}; restoring it failed: {err}",
            hint=f"{name} has NO backup instance now: run inv deploy --account={name} or inv rollback --account={name}",
            left="NO backup instance",
        ) from None
    raise Interrupted(
        f"{name}: interrupted ({first}); restored {last.name} (image {last.image_tag}, AMI {last.ami})",
        hint=f"{name} runs {last.name}; the new version was not deployed",
        left=f"runs {last.name} (restored)",
    )

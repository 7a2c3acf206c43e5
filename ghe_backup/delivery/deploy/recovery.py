"""From the first delete on: faults retried within the budget, the previous version restored on any
failure, and when even that is impossible, exactly what runs in the account and what to run.

The deploy deletes the previous stack before it creates the new one (the instance must let go of
the data volume), so giving up at the first fault could leave an account without a backup
instance. From the first delete on:

- an agent or AWS endpoint that does not answer is asked again every ``RETRY_PAUSE`` seconds,
  saying so, until the deploy's budget is spent (``retrying``); each call is given only what is
  left of the budget, so a hung component cannot hold the deploy past it;
- any failure then (a failed stack, a deployer error, a fault that outlasted the budget, a bug)
  removes what is left of the new stack and recreates the previous version exactly, within a
  budget of its own (``restore``); a previous stack whose delete never happened is found running
  and kept;
- when even that fails, the one error line says what is known to run in the account (``Facts``:
  "prod has NO backup instance now", or "may have" when the account could not be asked) and what
  to run once the component answers.

The exit code follows the cause: a component that did not answer is exit 3, restored or not (the
message says what runs); a failed deployment that was restored, or could not be, exit 1.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ghe_backup.delivery.deploy.definition import dump, pin_ami, recall_definition, with_tags
from ghe_backup.delivery.deploy.guard import WrongAccount
from ghe_backup.delivery.deploy.interrupts import Interrupted
from ghe_backup.delivery.deploy.steps import HEALTHY, Budget, Connection, Log, Plan, remove, wait
from ghe_backup.delivery.deploy.versions import stack_name
from ghe_backup.delivery.deploy.wait import DeadlineExceeded, StackFailed
from ghe_backup.errors import ExitCode, GheBackupError, StageFailed, Unreachable
from ghe_backup.plumbing.cloudformation import Observation, StackInfo, TransientError

#: Between two tries of an unreachable agent or AWS endpoint while the account is being changed.
RETRY_PAUSE = 10.0
#: A stack's status when it is not there (never was, or deleted: found by its id, CloudFormation
#: says DELETE_COMPLETE for a while): its name is free.
GONE = (None, "DELETE_COMPLETE")
#: A stack the agent accepted shows in the account's CloudFormation at once; a little slack for
#: eventual consistency before concluding it went elsewhere.
PROOF_READS = (0.0, 0.5, 1.0, 2.0)


class Restored(StageFailed):
    """The new version failed and the previous one runs again: backups resume.

    Exit 1 when the new version failed; exit 3 when a component did not answer (deploy again once it does).
    """

    def __init__(self, message: str, *, hint: str, exit_code: ExitCode = ExitCode.FAILED):
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


@dataclass
class Facts:
    """What this deploy did to the account as far as it knows, to say what runs when it cannot fix it."""

    plan: Plan
    deleted: list[str] = field(default_factory=list)  # previous stacks seen gone
    deleting: str | None = None  # a previous stack whose delete was asked for and not seen done
    delete_unanswered: str | None = None  # a previous stack whose delete got no answer: it may go yet
    accepted: bool = False  # the deployer acted on the new stack's create: it may exist (complete, failed, half made)
    unanswered: bool = False  # a create of the new stack got no answer: the deployer may act on it yet

    def what_runs(self) -> str:
        name, new = self.plan.target.name, self.plan.new_stack
        created = (
            f"{new} was created, never seen complete"
            if self.accepted
            else f"{new} may be created yet (its create got no answer)"
            if self.unanswered
            else ""
        )
        if not self.plan.previous:
            if created:
                return f"{name} may run {new} or nothing: {created}"
            return f"no previous version to restore: {name} has NO backup instance"
        if self.deleting:
            return f"{name} may have NO backup instance: {self.deleting} was being deleted, its end not seen"
        gone = ", ".join(self.deleted)
        if created:
            return f"{name} may have NO backup instance: {gone} was deleted; {created}"
        return f"{name} has NO backup instance now: {gone} was deleted and {new} was not created"


def retrying(call: Callable[[], Any], budget: Budget, log: Log, what: str) -> Any:
    """``call()``, tried again while the agent or AWS does not answer, until the budget runs out.

    The final error says what was being done, what did not answer and for how long it was tried.
    """
    started, tries, maybe_done = budget.clock(), 0, False
    while True:
        tries += 1
        try:
            return call()
        except TransientError as err:
            fault = Unreachable(f"AWS did not answer: {err}", what="AWS")
        except Unreachable as err:
            fault = err
        maybe_done = maybe_done or fault.maybe_done  # any try that got no answer may be carried out yet
        left = budget.until() - budget.clock()
        if left <= RETRY_PAUSE:
            spent = budget.clock() - started
            raise Unreachable(
                f"{what}: {fault.message} (tried {tries} {'time' if tries == 1 else 'times'} in {spent:.0f}s)",
                what=fault.what,
                maybe_done=maybe_done,
            ) from None
        log(f"{what}: {fault}; trying again in {RETRY_PAUSE:.0f}s (for up to {left:.0f}s more)")
        budget.sleep(RETRY_PAUSE)


def release_volume(conn: Connection, plan: Plan, budget: Budget, log: Log, facts: Facts) -> None:
    """Delete the previous stack(s): the instance must let go of the data volume first.

    After a signal, the delete running now finishes; no further one starts. A delete that cannot
    be done within the budget restores what it may have deleted (raises).
    """
    for stack in plan.previous:
        if budget.interrupts.requested:
            return
        facts.deleting = stack.name
        try:
            retrying(lambda s=stack: delete_once(conn, plan, s, budget, log), budget, log, f"deleting {stack.name}")
        except (WrongAccount, DeadlineExceeded):
            raise
        except GheBackupError as failure:
            if isinstance(failure, Unreachable) and failure.maybe_done:
                facts.delete_unanswered = stack.name
            restore(conn, plan, failure, budget.restore_budget(), log, facts)
        facts.deleted.append(stack.name)
        facts.deleting = None


def delete_once(conn: Connection, plan: Plan, stack: StackInfo, budget: Budget, log: Log) -> None:
    """Ask the deployer to delete ``stack`` unless it is gone already (an earlier try went through), and wait."""
    if conn.account.observe(stack.name, with_events=False).status not in GONE:
        conn.deployer.delete(plan.base, stack.version, log, within=budget.left())
    wait(conn, stack.name, "delete", budget, log)


def create_once(
    conn: Connection, plan: Plan, definition: dict[str, Any], version: str, tag: str, budget: Budget, log: Log
) -> None:
    """Ask the deployer to create ``version`` unless an earlier try already did (a lost answer)."""
    name = stack_name(plan.base, version)
    if conn.account.observe(name, with_events=False).status not in GONE:
        log(f"{name} exists already (an earlier try was accepted); waiting for it")
        return
    conn.deployer.create(dump(definition), version, tag, log, within=budget.left())


def create(
    conn: Connection,
    plan: Plan,
    budget: Budget,
    log: Log,
    facts: Facts,
    elsewhere: Callable[[str], str | None] = lambda stack: None,
) -> Observation:
    """Create the new version, prove it is in the target's account, wait for it; restore on failure (raises).

    Any failure once the previous version is gone restores it (a failed stack, a senza error, an
    agent or AWS that stays unreachable, a bug); not a deadline (the stack may still hold the
    volume) and not a wrong agent (nothing of ours was deleted there).
    """
    new = plan.new_stack

    def accept() -> None:
        try:
            create_once(conn, plan, plan.to_deploy(), plan.version, plan.image.tag, budget, log)
        except Unreachable as err:  # not reached (then nothing was made), or no answer (then maybe)
            facts.unanswered = facts.unanswered or err.maybe_done
            raise
        except GheBackupError:  # it acted and failed: a half-made stack may be left
            facts.accepted = True
            raise
        facts.accepted = True

    try:
        retrying(accept, budget, log, f"creating {new}")
        retrying(lambda: prove_in_account(conn, plan, budget, log, elsewhere), budget, log, f"looking for {new}")
        return retrying(lambda: wait(conn, new, "create", budget, log), budget, log, f"waiting for {new}")
    except (WrongAccount, DeadlineExceeded):
        raise
    except GheBackupError as failure:
        restore(conn, plan, failure, budget.restore_budget(), log, facts)
    except Exception as bug:  # still restore: the account must keep a backup instance; then show the bug
        with contextlib.suppress(GheBackupError):
            failed = StageFailed(f"internal error: {type(bug).__name__}: {bug}")
            restore(conn, plan, failed, budget.restore_budget(), log, facts)
        raise


def prove_in_account(
    conn: Connection, plan: Plan, budget: Budget, log: Log, elsewhere: Callable[[str], str | None]
) -> None:
    """The stack the deployer accepted must be in the target's account; else remove it and refuse (exit 2)."""
    for pause in PROOF_READS:
        if pause:
            budget.sleep(pause)
        if conn.account.observe(plan.new_stack, with_events=False).status not in GONE:
            return
    target = plan.target
    where = elsewhere(plan.new_stack)
    log(f"{plan.new_stack} did not appear in account {target.settings.account_id}; removing it through the deployer")
    try:
        conn.deployer.delete(plan.base, plan.version, log, within=budget.left())
        removed = "removed it there"
    except GheBackupError as err:
        removed = f"could not remove it ({err}): remove it by hand"
    landed = f"in {where}" if where else "in another account"
    raise WrongAccount(
        f"{target.name}: the {conn.deployer.name} deployer created {plan.new_stack} {landed}, not in "
        f"{target.name} ({target.settings.account_id}); {removed}",
        hint="is lizzy_url the agent of this account?",
    )


def remove_failed(conn: Connection, plan: Plan, budget: Budget, log: Log, facts: Facts) -> str:
    """Delete what is left of the failed new stack (it may hold the data volume); '' or a note on what
    may be left over. A stack never asked for (or refused outright) is not looked for."""
    new = plan.new_stack
    if not (facts.accepted or facts.unanswered):
        return ""
    try:
        if retrying(lambda: conn.account.observe(new, with_events=False), budget, log, f"reading {new}").status in GONE:
            facts.accepted = False  # not there; a create that got no answer may still come (a hung agent)
            return ""
        retrying(lambda: remove(conn, plan.base, new, plan.version, budget, log), budget, log, f"removing {new}")
    except GheBackupError as err:
        log(f"could not delete {new}: {err}")
        return f"; {new} may be left over (the next deploy removes it)"
    facts.accepted = facts.unanswered = False
    return ""


def restore_previous(conn: Connection, plan: Plan, budget: Budget, log: Log) -> tuple[StackInfo, bool]:
    """Recreate the last running version exactly (its image, AMI, recorded definition and tags); whether it
    had to be recreated (False: it still ran, its delete never happened)."""
    last = plan.running
    assert last is not None
    target = plan.target
    seen = retrying(lambda: conn.account.observe(last.name, with_events=False), budget, log, f"reading {last.name}")
    if seen.status in HEALTHY:
        log(f"{last.name} still runs (its delete never happened); keeping it")
        return last, False
    if seen.status == "DELETE_IN_PROGRESS":  # a delete the deploy lost track of: its name is free once it ends
        retrying(lambda: wait(conn, last.name, "delete", budget, log), budget, log, f"waiting for {last.name}")
    log(f"restoring {last.name} (image {last.image_tag}, AMI {last.ami})")
    recalled = recall_definition(conn.store, target.state_dir, target.name, last.name) or plan.definition
    definition = pin_ami(with_tags(recalled, dict(last.tags)), target.settings.region, last.ami)
    tag = last.image_tag or plan.image.tag
    retrying(
        lambda: create_once(conn, plan, definition, last.version, tag, budget, log),
        budget,
        log,
        f"restoring {last.name}",
    )
    retrying(lambda: wait(conn, last.name, "create", budget, log), budget, log, f"waiting for {last.name}")
    return last, True


def restore(conn: Connection, plan: Plan, failure: GheBackupError, budget: Budget, log: Log, facts: Facts) -> NoReturn:
    """Remove the failed stack, recreate the previous version exactly (image, AMI, definition); raise.

    One line either way: what failed (a fault says what did not answer and how long it was tried),
    what runs now, and what to run.
    """
    name = plan.target.name
    fault = isinstance(failure, Unreachable)
    if fault:  # it says what was being done: "creating X: Lizzy at ... unreachable: ... (tried 6 times in 62s)"
        headline = failure.message
    else:
        reason = (failure.reason if isinstance(failure, StackFailed) else failure.message) or type(failure).__name__
        headline = f"{plan.new_stack} failed: {reason}"
    log(f"{headline}; restoring the previous version" if plan.previous else headline)
    started = budget.clock()
    leftover = remove_failed(conn, plan, budget, log, facts)
    if not plan.previous:
        raise _error(plan, f"{name}: {headline}{leftover}", facts.what_runs(), failure if fault else None)
    try:
        last, recreated = restore_previous(conn, plan, budget, log)
    except GheBackupError as err:
        same = fault and isinstance(err, Unreachable) and err.what == failure.what
        again = f"the same way (tried for {budget.clock() - started:.0f}s)" if same else str(err)
        raise _error(
            plan,
            f"{name}: {headline}; restoring {last_name(plan)} failed too: {again}{leftover}",
            facts.what_runs(),
            err if fault and isinstance(err, Unreachable) else None,
        ) from None
    if not recreated and facts.delete_unanswered == last.name:
        # It still ran when we looked, but the deployer took its delete and never answered: it may
        # carry it out yet. A rollback would then go back further than this version; a deploy does not.
        raise Unreachable(
            f"{name}: {headline}{leftover}",
            hint=f"{name} may have NO backup instance soon: {last.name} still ran, but its delete got no answer "
            f"and may be carried out yet; once {_what(failure)} answers, run: inv status --account={name}; "
            f"inv deploy --account={name}",
            what=getattr(failure, "what", None),
        )
    kept = "restored" if recreated else "kept"
    later = f"; deploy again once {_what(failure)} answers" if fault else ""
    raise Restored(
        f"{name}: {headline}{leftover}",
        hint=f"{kept} {last.name} with image {last.image_tag} and AMI {last.ami}: {name} runs it{later}",
        exit_code=ExitCode.UNREACHABLE if fault else ExitCode.FAILED,
    )


def last_name(plan: Plan) -> str:
    return plan.running.name if plan.running else "?"


def _what(error: GheBackupError) -> str:
    return getattr(error, "what", None) or "it"


def _error(plan: Plan, message: str, runs: str, fault: GheBackupError | None) -> GheBackupError:
    """The error for an account left without a known running version: what runs, and what to run.

    Exit 3 when a component that did not answer is why (``fault``), else exit 1.
    """
    name = plan.target.name
    again = f"inv rollback --account={name}" if plan.previous else f"inv deploy --account={name}"
    if fault is not None:
        todo = f"once {_what(fault)} answers, run: inv status --account={name}; {again}"
        return Unreachable(message, hint=f"{runs}; {todo}", what=getattr(fault, "what", None))
    return StageFailed(message, hint=f"{runs}: run {again}" if plan.previous else runs)


def stop_safely(conn: Connection, plan: Plan, budget: Budget, log: Log) -> NoReturn:
    """After a signal, between deleting the previous version and creating the new: restore it, then stop."""
    name = plan.target.name
    first = budget.interrupts.received[0]
    if not plan.previous:
        raise Interrupted(
            f"{name}: interrupted ({first}) before the first version was created", hint="nothing was changed"
        )
    try:
        last, _ = restore_previous(conn, plan, budget, log)
    except GheBackupError as err:
        raise Interrupted(
            f"{name}: interrupted ({first}) after deleting {last_name(plan)}; restoring it failed: {err}",
            hint=f"{name} has NO backup instance now: run inv deploy --account={name} or inv rollback --account={name}",
            left="NO backup instance",
        ) from None
    raise Interrupted(
        f"{name}: interrupted ({first}); restored {last.name} (image {last.image_tag}, AMI {last.ami})",
        hint=f"{name} runs {last.name}; the new version was not deployed",
        left=f"runs {last.name} (restored)",
    )

"""The deploy stage: roll the pushed image out to each account through Lizzy or senza.

Per account: take the account's deploy lock -> the steps of ``steps`` (guard, tidy up, plan, stop
if up to date, approve, release the data volume, create, restore on failure) -> release the lock.
Every attempt is written to the account's history (when it starts and when it ends) and to the
local copy, whatever happens, interrupts included. See docs/deploy.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.delivery.deploy import history, lock, recovery, steps
from ghe_backup.delivery.deploy.backup_wait import wait_for_backup
from ghe_backup.delivery.deploy.definition import remember_definition
from ghe_backup.delivery.deploy.interrupts import Interrupted, Interrupts, StoppedAtOnce
from ghe_backup.delivery.deploy.planning import AccountPlan, still_holds
from ghe_backup.delivery.deploy.recovery import Facts, Restored
from ghe_backup.delivery.deploy.steps import Budget, Connection, ImageRef, Intent, Plan
from ghe_backup.delivery.deploy.wait import DeadlineExceeded
from ghe_backup.delivery.push.records import pushed_image
from ghe_backup.delivery.target import Actor, Target
from ghe_backup.errors import ConfigError, ExitCode, GheBackupError, Locked, StageFailed, Unreachable, UsageError
from ghe_backup.plumbing import deferred
from ghe_backup.plumbing.progress import say

NOBODY = Actor(user="unknown", host="unknown", pid=0)


@dataclass
class DeployResult:
    account: str
    account_id: str
    region: str
    deployer: str
    stack: str
    version: str
    status: str  # the stack's status, or "up to date" when nothing was changed
    image: str
    digest: str | None
    ami: str | None
    replaced: list[str]
    sandbox: bool
    changed: bool = True
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Progress:
    """Where a deploy is, so an interrupt can say what state the account is in without asking it."""

    account: str
    phase: str = "checking"
    left: str = "nothing was changed"

    def at(self, phase: str, left: str) -> None:
        self.phase, self.left = phase, left


@dataclass
class Outcome:
    """Every account's result or error, from one run over several accounts."""

    results: list[DeployResult] = field(default_factory=list)
    errors: dict[str, GheBackupError] = field(default_factory=dict)

    def raise_worst(self) -> None:
        """Raise one error naming every failed account, with the exit code of the worst of them."""
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise next(iter(self.errors.values()))
        worst = max(self.errors.values(), key=lambda err: SEVERITY.get(int(err.exit_code), 0))
        failed = "; ".join(str(err) for err in self.errors.values())
        raise Failures(f"{len(self.errors)} accounts failed: {failed}", exit_code=worst.exit_code)


#: Which exit code wins when accounts end differently: the one that most needs a person.
SEVERITY = {
    int(ExitCode.INTERRUPTED): 7,
    int(ExitCode.FAILED): 6,
    int(ExitCode.UNREACHABLE): 5,
    int(ExitCode.LOCKED): 4,
    int(ExitCode.BAD_INPUT): 3,
    int(ExitCode.ATTENTION): 2,
}


class Failures(GheBackupError):
    """Several accounts failed; the exit code is the worst of theirs."""

    def __init__(self, message: str, *, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def deploy_accounts(targets: list[Target], *, report: Callable[[str], None] = say, **options: Any) -> Outcome:
    """Deploy the image last pushed for each account (see ``deploy_intents``)."""
    return deploy_intents([(t, Intent(image=pushed(t))) for t in targets], report=report, **options)


def deploy_intents(
    pairs: Sequence[tuple[Target, Intent]],
    *,
    assume_yes: bool = False,
    approved: dict[str, AccountPlan] | None = None,
    actor: Actor = NOBODY,
    force: bool = False,
    lock_wait: float = 0.0,
    backup_wait: float | None = None,
    now: bool = False,
    others: Sequence[Target] = (),
    parallel: int = 4,
    report: Callable[[str], None] = say,
) -> Outcome:
    """Deploy each account's intent, up to ``parallel`` accounts at once (each line names its account).

    One account's failure does not stop the others: every account's result or error is in the
    outcome (``raise_worst`` gives one error with the worst exit code).
    """
    interrupts = Interrupts(report)
    outcome = Outcome()

    def one(target: Target, intent: Intent) -> DeployResult:
        result = deploy_account(
            target,
            intent,
            assume_yes=assume_yes,
            approved=approved,
            actor=actor,
            force=force,
            lock_wait=lock_wait,
            backup_wait=backup_wait,
            now=now,
            others=others,
            interrupts=interrupts,
            report=report,
        )
        if result.changed:
            report(
                f"{result.account}: {result.stack} {result.status} in account {result.account_id} ({result.region})"
                f"{' [sandbox]' if result.sandbox else ''} via {result.deployer}; image {result.image}; AMI {result.ami}"
            )
        return result

    with interrupts.installed():
        if len(pairs) <= 1 or parallel <= 1:  # none: refresh found nothing to do
            done = []
            for target, intent in pairs:
                done.append(_settle(target, lambda t=target, i=intent: one(t, i)))
        else:
            with ThreadPoolExecutor(max_workers=min(parallel, len(pairs)), thread_name_prefix="deploy") as pool:
                futures = [(target, pool.submit(one, target, intent)) for target, intent in pairs]
                done = [_settle(target, future.result) for target, future in futures]
    for target, value in done:
        if isinstance(value, GheBackupError):
            outcome.errors[target.name] = value
        else:
            outcome.results.append(value)
    return outcome


def _settle(target: Target, call: Callable[[], DeployResult]) -> tuple[Target, DeployResult | GheBackupError]:
    try:
        return target, call()
    except GheBackupError as err:
        return target, err


def pushed(target: Target) -> ImageRef:
    found = pushed_image(target.state_dir, target.name, target.registry)
    if found is None:
        raise StageFailed(
            f"{target.name}: no image was pushed to {target.registry}", hint="run: inv push --account=" + target.name
        )
    return ImageRef(
        tag=found.tag, digest=found.digest, repository=found.repository, revision=getattr(found, "revision", None)
    )


def find_elsewhere(others: Sequence[Target], target: Target) -> Callable[[str], str | None]:
    """Which other configured account a stack landed in (best effort: their credentials may be missing)."""

    def where(stack: str) -> str | None:
        from ghe_backup.plumbing.cloudformation import CloudFormationAccount

        for other in others:
            if other.settings.account_id == target.settings.account_id:
                continue
            try:
                if CloudFormationAccount(other.access()).observe(stack, with_events=False).status is not None:
                    return f"{other.name} ({other.settings.account_id})"
            except GheBackupError:
                continue
        return None

    return where


def deploy_account(
    target: Target,
    image: ImageRef | Intent,
    *,
    assume_yes: bool = False,
    approved: dict[str, AccountPlan] | None = None,
    actor: Actor = NOBODY,
    force: bool = False,
    lock_wait: float = 0.0,
    backup_wait: float | None = None,
    now: bool = False,
    others: Sequence[Target] = (),
    interrupts: Interrupts | None = None,
    connect: Callable[[Target], Connection] = steps.connect,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = say,
) -> DeployResult:
    """Deploy ``image`` to one account under its deploy lock; the attempt is recorded whatever happens.

    An account that needs approval deploys with ``assume_yes`` (``--yes``, after a CI's own approval) or
    with its ``approved`` plan (asked on the terminal before the run, or a saved plan), which must
    still hold: what is deployed is what was approved. ``connect`` gives the
    account, its state table and its deployer (fakes in unit tests), ``clock``/``sleep`` the time
    waits run on; ``interrupts`` the signals of this run.
    """
    settings = target.settings
    intent = image if isinstance(image, Intent) else Intent(image=image)
    image = intent.image
    interrupts = interrupts or Interrupts(report)
    started = clock()
    attempt = history.Attempt(
        time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        account=settings.name,
        deployer=settings.deployer,
        sandbox=target.sandbox,
        user=actor.user,
        host=actor.host,
        pid=actor.pid,
        ci_url=actor.ci_url,
        image_tag=image.tag,
        image_digest=image.digest,
        git_sha=image.revision,
        operation=intent.operation,
    )
    progress = Progress(settings.name)

    def log(message: str) -> None:
        report(f"{settings.name}: {message}")

    def waiting(seconds: float) -> None:
        interrupts.checkpoint("taking the deploy lock")
        sleep(seconds)

    budget = Budget(
        deadline=started + settings.deploy_timeout,
        max_interval=settings.poll_max_interval,
        clock=clock,
        sleep=sleep,
        interrupts=interrupts,
        # restoring the previous version after a failure gets its own time, as long as a deploy at most
        restore_seconds=min(steps.RESTORE_BUDGET, settings.deploy_timeout),
    )
    conn: Connection | None = None
    try:
        conn = connect(target)
        with lock.held(
            conn.store,
            settings.name,
            actor,
            operation=intent.operation,
            ttl=settings.lock_ttl,
            wait=lock_wait,
            clock=clock,
            sleep=waiting,
            report=log,
        ):
            history.record(conn.store, attempt, log)
            return _deploy(
                target,
                intent,
                conn,
                budget,
                attempt,
                progress,
                assume_yes=assume_yes,
                approved=approved,
                actor=actor,
                force=force,
                backup_wait=backup_wait,
                now=now,
                elsewhere=find_elsewhere(others, target),
                log=log,
            )
    except StoppedAtOnce as stop:
        attempt.result, attempt.left = "interrupted", progress.left
        attempt.reason = f"stopped at once ({stop}) while {progress.phase}"
        raise Interrupted(
            f"{settings.name}: stopped at once while {progress.phase}: {progress.left}",
            hint=f"run: inv status --account={settings.name}; inv deploy --account={settings.name} recovers",
        ) from None
    except DeadlineExceeded as err:
        if interrupts.requested:  # the grace period after a signal ran out
            attempt.result, attempt.left, attempt.reason = "interrupted", f"{err.stack} is still {err.status}", str(err)
            raise Interrupted(
                f"{settings.name}: interrupted; {err.stack} is still {err.status} after the grace period",
                hint=f"the next inv deploy --account={settings.name} waits for it or removes it",
            ) from None
        attempt.result, attempt.reason = "timeout", str(err)
        raise
    except GheBackupError as err:
        attempt.result, attempt.reason = result_of(err), str(err)
        if isinstance(err, Interrupted):
            attempt.left = err.left or progress.left
        raise
    except Exception as err:  # a bug: still recorded, then shown with its traceback
        attempt.result, attempt.reason = "failed", f"internal error: {type(err).__name__}"
        raise
    finally:
        attempt.duration = round(clock() - started, 2)
        history.record(conn.store if conn else None, attempt, log)
        history.append(target.state_dir, attempt)


def _deploy(
    target: Target,
    intent: Intent,
    conn: Connection,
    budget: Budget,
    attempt: history.Attempt,
    progress: Progress,
    *,
    assume_yes: bool,
    approved: dict[str, AccountPlan] | None,
    actor: Actor,
    force: bool,
    backup_wait: float | None,
    now: bool,
    elsewhere: Callable[[str], str | None],
    log: Callable[[str], None],
) -> DeployResult:
    settings, interrupts = target.settings, budget.interrupts
    laps: dict[str, float] = {}
    mark = [budget.clock()]

    def lap(stage: str) -> None:
        now = budget.clock()
        laps[stage], mark[0] = round(now - mark[0], 2), now

    stacks = steps.guard(target, conn)
    interrupts.checkpoint("any change")
    agent_checked = any(s.status not in steps.HEALTHY for s in stacks)
    if agent_checked:  # leftovers are removed through the deployer
        deferred.before_change()
        steps.check_agent(target, conn, stacks)
    progress.at("tidying up", "nothing was changed but leftovers of earlier runs")
    stacks = steps.tidy(target, conn, stacks, budget, log)
    lap("guard")
    plan = steps.make_plan(target, intent, stacks, conn, actor=actor, force=force)
    image = intent.image
    attempt.stack_version, attempt.ami = plan.version, plan.ami["id"] if plan.ami else None
    attempt.definition_hash = plan.definition_hash
    running = plan.running
    if plan.up_to_date and running is not None:
        log(f"up to date ({running.name}, image {image.digest}, AMI {running.ami}); nothing changed")
        attempt.result, attempt.stack_version, attempt.left = "up to date", running.version, f"runs {running.name}"
        return _result(target, plan, running.name, running.version, "up to date", changed=False, seconds=laps)
    if not agent_checked:
        deferred.before_change()
        steps.check_agent(target, conn, stacks)
    attempt.replaced = [p.name for p in plan.previous]
    check_approved(target, plan, assume_yes, (approved or {}).get(settings.name))
    steps.show(plan, log)
    interrupts.checkpoint("any change")
    if plan.previous and not now:
        progress.at("waiting for a running backup", "nothing was changed")
        wait = settings.backup_wait if backup_wait is None else backup_wait
        wait_for_backup(
            conn.store, settings.name, wait=wait, interrupts=interrupts, clock=budget.clock, sleep=budget.sleep, log=log
        )
        interrupts.checkpoint("any change")
    lap("plan")
    facts = Facts(plan)
    with interrupts.changing():
        if plan.previous:
            names = ", ".join(p.name for p in plan.previous)
            progress.at(f"deleting {names}", f"{names} may be deleted: {settings.name} may have NO backup instance")
        recovery.release_volume(conn, plan, budget, log, facts)
        lap("delete_previous")
        if interrupts.requested:
            progress.at(
                f"restoring {running.name if running else 'nothing'}", "the previous version is being recreated"
            )
            recovery.stop_safely(conn, plan, budget, log)
        progress.at(f"creating {plan.new_stack}", f"{plan.new_stack} is being created; the previous version is deleted")
        final = recovery.create(conn, plan, budget, log, facts, elsewhere)
        lap("create")
    remember_definition(conn.store, target.state_dir, settings.name, plan.new_stack, plan.definition)
    progress.at("done", f"runs {plan.new_stack}")
    attempt.left = progress.left
    if interrupts.requested:
        raise Interrupted(
            f"{settings.name}: interrupted ({interrupts.received[0]}); finished the create: "
            f"{settings.name} runs {plan.new_stack} ({final.status})",
            hint="the new version is deployed",
        )
    attempt.result = "succeeded"
    return _result(
        target,
        plan,
        plan.new_stack,
        plan.version,
        final.status or "",
        changed=True,
        seconds={**laps, "total": round(sum(laps.values()), 2)},
    )


def _result(
    target: Target, plan: Plan, stack: str, version: str, status: str, *, changed: bool, seconds: dict[str, float]
) -> DeployResult:
    settings = target.settings
    return DeployResult(
        account=settings.name,
        account_id=settings.account_id,
        region=settings.region,
        deployer=settings.deployer,
        stack=stack,
        version=version,
        status=status,
        image=plan.image_name,
        digest=plan.image.digest,
        ami=plan.ami["id"] if plan.ami else None,
        replaced=[p.name for p in plan.previous] if changed else [],
        sandbox=target.sandbox,
        changed=changed,
        seconds=seconds,
    )


def check_approved(target: Target, plan: Plan, assume_yes: bool, approved: AccountPlan | None) -> None:
    """An account that needs approval has it: ``--yes``, or an approved plan that still holds."""
    name = target.settings.name
    if approved is not None:
        moved = still_holds(approved, plan)
        if moved:
            raise ConfigError(
                f"{name}: the approved plan no longer holds: {'; '.join(moved)}",
                hint="nothing was changed; make and approve a new plan",
            )
    elif target.settings.approval and not assume_yes:
        raise UsageError(
            f"{name}: deployment needs approval", hint="approve on a terminal, pass --yes, or apply a saved plan"
        )


def result_of(err: GheBackupError) -> str:
    if isinstance(err, Restored):
        return "restored"
    if isinstance(err, Interrupted):
        return "interrupted"
    if isinstance(err, Locked):
        return "locked"
    if isinstance(err, ConfigError):
        return "refused"
    if isinstance(err, Unreachable):
        return "unreachable"
    return "timeout" if isinstance(err, DeadlineExceeded) else "failed"

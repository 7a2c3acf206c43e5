"""The deploy stage: roll the pushed image out to each account through Lizzy or senza.

Per account, the steps of ``steps`` in order: guard -> settle -> plan -> approve -> release the
data volume (delete the previous stack) -> create and wait -> on failure restore the previous
version. Every attempt is appended to the history, whatever happens. See docs/deploy.md.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ghe_backup.delivery.deploy import history, steps
from ghe_backup.delivery.deploy.definition import remember_definition
from ghe_backup.delivery.deploy.steps import Budget, Connection, ImageRef, Plan, Restored
from ghe_backup.delivery.deploy.wait import DeadlineExceeded
from ghe_backup.delivery.push.records import pushed_image
from ghe_backup.delivery.target import Target
from ghe_backup.errors import ConfigError, GheBackupError, StageFailed, Unreachable
from ghe_backup.plumbing.progress import say

Ask = Callable[[Plan], None]


@dataclass
class DeployResult:
    account: str
    account_id: str
    region: str
    deployer: str
    stack: str
    version: str
    status: str
    image: str
    digest: str | None
    ami: str | None
    replaced: list[str]
    sandbox: bool
    seconds: dict[str, float] = field(default_factory=dict)


def deploy_accounts(
    targets: list[Target], *, ask: Ask | None = None, report: Callable[[str], None] = say
) -> list[DeployResult]:
    """Deploy the image last pushed for each account, one account after the other."""
    results = []
    for target in targets:
        result = deploy_account(target, pushed(target), ask=ask, report=report)
        report(
            f"{result.account}: {result.stack} {result.status} in account {result.account_id} ({result.region})"
            f"{' [sandbox]' if result.sandbox else ''} via {result.deployer}; image {result.image}; AMI {result.ami}"
        )
        results.append(result)
    return results


def pushed(target: Target) -> ImageRef:
    found = pushed_image(target.state_dir, target.name, target.registry)
    if found is None:
        raise StageFailed(
            f"{target.name}: no image was pushed to {target.registry}", hint="run: inv push --account=" + target.name
        )
    return ImageRef(tag=found.tag, digest=found.digest, repository=found.repository)


def deploy_account(
    target: Target,
    image: ImageRef,
    *,
    ask: Ask | None = None,
    connect: Callable[[Target], Connection] = steps.connect,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = say,
) -> DeployResult:
    """Deploy ``image`` to one account; the attempt is recorded in the history whatever happens.

    ``ask`` asks for approval (the account needs it and no ``--yes``); ``connect`` gives the
    account and its deployer (fakes in unit tests), ``clock``/``sleep`` the time waits run on.
    """
    settings = target.settings
    started = clock()
    attempt = history.Attempt(
        time=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        account=settings.name,
        deployer=settings.deployer,
        sandbox=target.sandbox,
        image_tag=image.tag,
        image_digest=image.digest,
    )

    def log(message: str) -> None:
        report(f"{settings.name}: {message}")

    laps: dict[str, float] = {}
    mark = started

    def lap(stage: str) -> None:
        nonlocal mark
        now = clock()
        laps[stage], mark = round(now - mark, 2), now

    try:
        budget = Budget(
            deadline=started + settings.deploy_timeout,
            max_interval=settings.poll_max_interval,
            clock=clock,
            sleep=sleep,
        )
        conn = connect(target)
        stacks = steps.guard(target, conn)
        lap("guard")
        stacks = steps.settle(target, conn, stacks, budget, log)
        plan = steps.make_plan(target, image, stacks, conn)
        attempt.stack_version, attempt.ami = plan.version, plan.ami["id"] if plan.ami else None
        attempt.replaced = [p.name for p in plan.previous]
        steps.approve(plan, ask, log)
        lap("plan")
        steps.release_volume(conn, plan, budget, log)
        lap("delete_previous")
        final = steps.create(conn, plan, budget, log)
        lap("create")
        remember_definition(target.state_dir, settings.name, plan.new_stack, plan.definition)
        attempt.result = "succeeded"
        return DeployResult(
            account=settings.name,
            account_id=settings.account_id,
            region=settings.region,
            deployer=settings.deployer,
            stack=plan.new_stack,
            version=plan.version,
            status=final.status or "",
            image=plan.image_name,
            digest=image.digest,
            ami=attempt.ami,
            replaced=attempt.replaced,
            sandbox=target.sandbox,
            seconds={**laps, "total": round(clock() - started, 2)},
        )
    except GheBackupError as err:
        attempt.result, attempt.reason = result_of(err), str(err)
        raise
    except Exception as err:  # a bug: still recorded, then shown with its traceback
        attempt.result, attempt.reason = "failed", f"internal error: {type(err).__name__}"
        raise
    finally:
        attempt.duration = round(clock() - started, 2)
        history.append(target.state_dir, attempt)


def result_of(err: GheBackupError) -> str:
    if isinstance(err, Restored):
        return "restored"
    if isinstance(err, ConfigError):
        return "refused"
    if isinstance(err, Unreachable):
        return "unreachable"
    return "timeout" if isinstance(err, DeadlineExceeded) else "failed"

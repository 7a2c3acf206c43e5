"""The deploy stage: roll the pushed image out to each account through Lizzy or senza.

Per account, as plain steps: resolve access -> guard the account -> read the running stacks
(waiting for one still in progress) -> plan (new version, AMI) -> approval -> delete the previous
stack(s) so the data volume is free -> create the new version -> wait. If the new version fails,
the previous one is recreated with the same image and AMI and the command exits 1 with the
reason. Every attempt is appended to the history. See docs/deploy.md.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ghe_backup.delivery import approval, history, render
from ghe_backup.delivery.account_guard import check_caller
from ghe_backup.delivery.aws_access import account_access
from ghe_backup.delivery.cloudformation import StackInfo, ami_name, delete_stack, list_stacks, newest_taupage
from ghe_backup.delivery.config import AccountConfig
from ghe_backup.delivery.definition import deploy_definition, pin_ami, recall_definition, remember_definition
from ghe_backup.delivery.deployers import make_deployer
from ghe_backup.delivery.lizzy_client import LizzyProblem
from ghe_backup.delivery.senza_cli import SenzaError
from ghe_backup.delivery.stacks import DeadlineExceeded, StackFailed, is_in_progress, stack_name, stack_version, wait_for_stack
from ghe_backup.errors import ConfigError, GheBackupError, StageFailed, Unreachable

#: Cleaning up a failed stack and restoring the previous one get their own budget.
RESTORE_BUDGET = 900.0


@dataclass(frozen=True)
class ImageRef:
    tag: str
    digest: str | None = None
    repository: str | None = None


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


def deploy_accounts(root: Path, accounts: list[AccountConfig], *, assume_yes: bool, config: Any = None) -> list[DeployResult]:
    """Deploy the image last pushed for each account, one account after the other."""
    results = []
    for account in accounts:
        endpoints = _sandbox_endpoints(root) if account.settings.sandbox else None
        result = deploy_account(root, account, pushed(root, account), assume_yes=assume_yes, sandbox_endpoints=endpoints)
        render.info(
            f"{result.account}: {result.stack} {result.status} in account {result.account_id} ({result.region})"
            f"{' [sandbox]' if result.sandbox else ''} via {result.deployer}; image {result.image}; AMI {result.ami}"
        )
        results.append(result)
    return results


RESULT_COLUMNS = ("account", "stack", "status", "image", "AMI", "replaced")


def result_rows(results: list[DeployResult]) -> list[tuple[str, ...]]:
    """Rows for ``render.print_table(RESULT_COLUMNS, ...)``."""
    return [(r.account, r.stack, r.status, r.image, r.ami or "", ", ".join(r.replaced) or "-") for r in results]


def pushed(root: Path, account: AccountConfig) -> ImageRef:
    from ghe_backup.delivery import push

    found = push.pushed_image(root, account.name, account.settings.registry)
    if found is None:
        raise StageFailed(f"{account.name}: no image was pushed to {account.settings.registry}", hint="run: inv push --account=" + account.name)
    return ImageRef(tag=found.tag, digest=found.digest, repository=found.repository)


def _sandbox_endpoints(root: Path) -> dict[str, Any]:
    from ghe_backup.sandbox import SandboxState

    return SandboxState.load(root).endpoints


def deploy_account(
    root: Path,
    account: AccountConfig,
    image: ImageRef,
    *,
    assume_yes: bool,
    sandbox_endpoints: dict[str, Any] | None = None,
    base_session: Any = None,
    lizzy_attempts: int = 5,
    report: Callable[[str], None] = render.info,
) -> DeployResult:
    """Deploy ``image`` to one account; the attempt is recorded in the history whatever happens."""
    settings = account.settings
    started = time.monotonic()
    attempt = history.Attempt(
        time=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), account=settings.name,
        deployer=settings.deployer, sandbox=settings.sandbox, image_tag=image.tag, image_digest=image.digest,
    )
    run = _Run(root, account, image, attempt, started, lambda msg: report(f"{settings.name}: {msg}"))
    try:
        result = run.deploy(assume_yes, sandbox_endpoints, base_session, lizzy_attempts)
        attempt.result = "succeeded"
        return result
    except GheBackupError as err:
        attempt.result = attempt.result if attempt.result == "restored" else _result_of(err)
        attempt.reason = str(err)
        raise
    except Exception as err:  # a bug: still recorded, then shown with its traceback
        attempt.result, attempt.reason = "failed", f"internal error: {type(err).__name__}"
        raise
    finally:
        attempt.duration = round(time.monotonic() - started, 2)
        history.append(root, attempt)


def _result_of(err: GheBackupError) -> str:
    if isinstance(err, ConfigError):
        return "refused"
    if isinstance(err, Unreachable):
        return "unreachable"
    return "timeout" if isinstance(err, DeadlineExceeded) else "failed"


@dataclass
class _Run:
    root: Path
    account: AccountConfig
    image: ImageRef
    attempt: history.Attempt
    started: float
    log: Callable[[str], None]
    seconds: dict[str, float] = field(default_factory=dict)

    def lap(self, stage: str, since: float) -> float:
        now = time.monotonic()
        self.seconds[stage] = round(now - since, 2)
        return now

    def deploy(self, assume_yes: bool, endpoints: dict[str, Any] | None, base_session: Any, attempts: int) -> DeployResult:
        settings = self.account.settings
        deadline = self.started + settings.deploy_timeout
        self.endpoints = endpoints
        mark = time.monotonic()
        access = self.access = account_access(settings, base_session)
        check_caller(settings, access)
        base = self.account.definition["SenzaInfo"]["StackName"]
        self.deployer = make_deployer(settings, access, endpoints, attempts=attempts)
        previous = list_stacks(access, base)
        self.deployer.check(base, [p.name for p in previous])
        mark = self.lap("guard", mark)

        for stack in (p for p in previous if is_in_progress(p.status)):
            self.log(f"{stack.name} is {stack.status} (another deployment?); waiting for it to settle")
            self.wait(stack.name, "settle", deadline)
        previous = list_stacks(access, base) if any(is_in_progress(p.status) for p in previous) else previous

        ami = newest_taupage(access)
        version = stack_version(self.image.tag, taken={p.version for p in previous})
        new = stack_name(base, version)
        self.attempt.stack_version, self.attempt.ami = version, ami["id"] if ami else None
        self.attempt.replaced = [p.name for p in previous]
        self.approve(assume_yes, new, previous, ami, access)
        definition = deploy_definition(self.account, endpoints)
        mark = self.lap("plan", mark)

        for stack in previous:  # the instance must release the data volume first
            self.deployer.delete(base, stack.version, self.log)
            self.wait(stack.name, "delete", deadline)
        mark = self.lap("delete_previous", mark)

        try:
            self.deployer.create(_dump(definition), version, self.image.tag, self.log)
            final = self.wait(new, "create", deadline)
        except (StackFailed, SenzaError, LizzyProblem) as failure:
            self.recover(base, new, previous, failure)
        self.lap("create", mark)
        remember_definition(self.root, settings.name, new, definition)
        return DeployResult(
            account=settings.name, account_id=settings.account_id, region=settings.region, deployer=settings.deployer,
            stack=new, version=version, status=final.status or "", image=f"{self.image.repository or settings.repository}:{self.image.tag}",
            digest=self.image.digest, ami=self.attempt.ami, replaced=self.attempt.replaced, sandbox=settings.sandbox,
            seconds={**self.seconds, "total": round(time.monotonic() - self.started, 2)},
        )

    def wait(self, stack: str, goal: str, deadline: float) -> Any:
        return wait_for_stack(self.deployer.reader, stack, goal=goal, deadline=deadline,
                              max_interval=self.account.settings.poll_max_interval, report=self.log)

    def approve(self, assume_yes: bool, new: str, previous: list[StackInfo], ami: dict[str, str] | None, access: Any) -> None:
        settings = self.account.settings
        replaced = ", ".join(f"{p.name} (image {p.image_tag}, AMI {p.ami})" for p in previous) or "nothing (first deployment)"
        summary = [
            ("image", f"{self.image.repository or settings.repository}:{self.image.tag}"),
            ("digest", self.image.digest or "unknown"),
            ("new stack", new),
            ("replaces", replaced),
            ("AMI", f"{ami['name']} ({ami['id']})" if ami else "none found"),
            ("deployer", f"{settings.deployer}" + (f" at {settings.lizzy_url}" if settings.deployer == "lizzy" else "")),
        ]
        if previous and ami and previous[-1].ami and previous[-1].ami != ami["id"]:
            summary.append(("previous AMI", f"{ami_name(access, previous[-1].ami) or '?'} ({previous[-1].ami})"))
        if settings.approval and not assume_yes:
            approval.ask(self.account, summary)
            return
        for label, value in summary:
            self.log(f"{label:<12} {value}")

    def remove_failed(self, base: str, new: str, budget: float) -> str:
        """Delete what is left of the failed stack; '' or a note on what is left over."""
        if self.deployer.reader.observe(new, with_events=False).status is None:
            return ""
        try:
            self.deployer.delete(base, new.rsplit("-", 1)[1], self.log)
        except GheBackupError as err:
            # A stack whose create call failed can be beyond senza (moto leaves it half made).
            self.log(f"{self.deployer.name} could not delete {new} ({err}); deleting it through CloudFormation")
            try:
                delete_stack(self.access, new)
            except GheBackupError as again:
                self.log(f"could not delete {new} either: {again}")
                return f"; {new} is left over (see docs/deploy.md#a-stuck-stack)"
        try:
            self.wait(new, "delete", budget)
        except GheBackupError as err:
            return f"; {new} is left over: {err}"
        return ""

    def recover(self, base: str, new: str, previous: list[StackInfo], failure: GheBackupError) -> None:
        """Remove what is left of the failed stack, recreate the previous version, exit 1."""
        reason = failure.reason if isinstance(failure, StackFailed) else failure.message
        self.log(f"{new} failed: {reason}")
        budget = time.monotonic() + RESTORE_BUDGET
        leftover = self.remove_failed(base, new, budget)
        if not previous:
            raise StageFailed(f"{new} failed: {reason}{leftover}", hint="no previous version to restore")
        last = previous[-1]
        self.log(f"restoring {last.name} (image {last.image_tag}, AMI {last.ami})")
        definition = pin_ami(recall_definition(self.root, self.account.name, last.name) or deploy_definition(self.account, self.endpoints),
                             self.account.settings.region, last.ami)
        try:
            self.deployer.create(_dump(definition), last.version, last.image_tag or self.image.tag, self.log)
            self.wait(last.name, "create", budget)
        except GheBackupError as err:
            raise StageFailed(f"{new} failed: {reason}; restoring {last.name} failed too: {err}{leftover}",
                              hint="see docs/deploy.md#rollback") from None
        self.attempt.result = "restored"
        raise StageFailed(f"{new} failed: {reason}{leftover}", hint=f"restored {last.name} with image {last.image_tag} and AMI {last.ami}")


def _dump(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, default_flow_style=False)

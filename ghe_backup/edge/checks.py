"""Preflight checks: each runs before any task of the call does, so bad input changes nothing.

Each gets ``(config, **the call's keyword arguments)`` from the executor (see ``executor.preflight``).
"""

from __future__ import annotations

import sys
from typing import Any

from ghe_backup.delivery.deploy.approval import check_approval_possible, needs_approval
from ghe_backup.delivery.deploy.freshness import days_old
from ghe_backup.delivery.deploy.lock import check_ttl
from ghe_backup.edge.targets import positive_int, resolve, seconds
from ghe_backup.errors import UsageError


def build(config: Any, sandbox: bool | None = None, **_: Any) -> None:
    """image: the build site resolves (with --sandbox: the sandbox runs)."""
    resolve(config).build_site(sandbox)


def targets(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Tasks taking --account: names known, config valid, sandbox up if asked."""
    resolve(config).targets(account, sandbox)


def some_accounts(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """Tasks whose --account is optional (default: all): names known, config valid, sandbox up if asked."""
    resolve(config).some_targets(account, sandbox)


def plan(
    config: Any, account: list[str] | None = None, sandbox: bool | None = None, out: str | None = None, **_: Any
) -> None:
    """plan: valid targets; --out names a file that can be written."""
    resolve(config).targets(account, sandbox)
    if out is not None:
        from pathlib import Path

        folder = Path(out).expanduser().resolve().parent
        if not folder.is_dir() or Path(out).is_dir():
            raise UsageError(f"--out: cannot write a plan to {out}", hint="name a file in an existing folder")


def push(config: Any, account: list[str] | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """push: valid targets, and each registry answers."""
    resolution = resolve(config)
    resolution.probe(resolution.targets(account, sandbox), ("registry",))


def deploy(
    config: Any,
    account: list[str] | None = None,
    sandbox: bool | None = None,
    yes: bool = False,
    lock_wait: Any = None,
    backup_wait: Any = None,
    plan: str | None = None,
    image: str | None = None,
    **_: Any,
) -> None:
    """deploy: valid targets, a sensible --lock-wait, approval can be had; on a terminal it is asked
    now, for every account that needs it, before anything is tested, built or pushed."""
    seconds(lock_wait, "lock-wait")
    seconds(backup_wait, "backup-wait")
    if plan and image:
        raise UsageError("--plan and --image: give one", hint="a saved plan names its image")
    saved = saved_plans(plan) if plan else None
    if saved and not account:
        account = list(saved)  # the accounts the plan is for
    resolution = resolve(config)
    found = resolution.targets(account, sandbox)
    interactive = sys.stdin.isatty()
    check_approval_possible(found, assume_yes=yes, interactive=interactive)
    resolution.probe(found, ("role", "registry"))
    # A rejected token fails before anything is tested, built, pushed or deployed, and a deploy
    # that finds everything up to date does not wait for the agents (each answer runs senza).
    resolution.probe_before_change(found, ("lizzy",))
    if plan:
        return saved_plan(resolution, found, plan, saved, yes=yes)
    if image is not None:
        from ghe_backup.delivery.push.promote import locate_image

        locate_image(found, image, resolution.all_targets(sandbox))  # a tag found nowhere: exit 2, nothing ran
    pending = needs_approval(found)
    if pending and not yes:
        from ghe_backup.delivery.deploy.planning import plan_accounts
        from ghe_backup.delivery.push.push import images_for
        from ghe_backup.edge.prompt import approve_all

        images = images_for(pending, tag=image)
        resolution.approved = approve_all(plan_accounts(pending, lambda target: images[target.name]))


def saved_plans(path: str) -> dict[str, Any]:
    """The plans saved in ``path`` (inv plan --out), by account; a missing or bad file is exit 2."""
    from pathlib import Path

    from ghe_backup.delivery.deploy.planning import load

    found = {p.account: p for p in load(Path(path).expanduser())}
    if not found:
        raise UsageError(
            f"--plan: {path} holds no account's plan", hint="make one with: inv plan --account=NAME --out=FILE"
        )
    return found


def saved_plan(resolution: Any, found: list[Any], path: str, plans: dict[str, Any], *, yes: bool) -> None:
    """deploy --plan=FILE: a plan for every account (the plan's accounts when none is named), made for
    the same place (the sandbox or the real account), its image in each account's registry; what is
    deployed is that plan (refused later, exit 2, if the account moved on). Approved by --yes (the
    CI's own approval) or, on a terminal, asked again."""
    from ghe_backup.delivery.deploy.steps import Intent
    from ghe_backup.delivery.push.push import images_for
    from ghe_backup.delivery.target import ImageRef
    from ghe_backup.edge.prompt import approve_all

    missing = [t.name for t in found if t.name not in plans]
    if missing:
        raise UsageError(
            f"--plan: {path} has no plan for {', '.join(missing)}", hint="plan those accounts: inv plan --out"
        )
    for target in found:
        saved = plans[target.name]
        if bool(saved.sandbox) != bool(target.sandbox):
            made = "the sandbox" if saved.sandbox else "the real account"
            raise UsageError(
                f"--plan: {path} was made for {made} of {target.name}",
                hint="add --sandbox" if saved.sandbox else "drop --sandbox (and INVOKE_GHE_SANDBOX)",
            )
        if saved.account_id != target.settings.account_id:
            raise UsageError(
                f"--plan: {path} is for {target.name} in account {saved.account_id}, "
                f"config/accounts/{target.name}.yaml says {target.settings.account_id}",
                hint="make a new plan with: inv plan --account=" + target.name + " --out=FILE",
            )
        there = images_for([target], tag=saved.image_tag)[target.name].digest
        if there is None or (saved.image_digest and there != saved.image_digest):
            now = f"has {there}" if there else "does not have it"
            raise UsageError(
                f"{target.name}: the plan's image {saved.repository}:{saved.image_tag} ({saved.image_digest or 'any digest'}) "
                f"is not what {target.registry} holds: it {now}",
                hint="push that image first, or make a new plan",
            )
        resolution.intents[target.name] = Intent(
            image=ImageRef(tag=saved.image_tag, digest=there, repository=target.repository)
        )
    chosen = [plans[t.name] for t in found]
    if not yes:
        approve_all([p for p in chosen if p.approval_needed])
    resolution.approved = {p.account: p for p in chosen}


def history(
    config: Any, account: str | None = None, limit: str | None = None, sandbox: bool | None = None, **_: Any
) -> None:
    """history: a known account (if named), a sensible --limit, the sandbox up if asked."""
    positive_int(limit, "limit")
    found = resolve(config)
    if account:
        found.targets([account], sandbox)
    else:
        found.all_targets(sandbox)


def lock_acquire(
    config: Any,
    account: str | None = None,
    reason: str | None = None,
    ttl: Any = None,
    sandbox: bool | None = None,
    **_: Any,
) -> None:
    """lock.acquire: one known account, a reason, a sensible --ttl."""
    if not (reason or "").strip():
        raise UsageError(
            "lock.acquire: --reason is required", hint='say why, e.g. --reason="appliance upgrade to 3.14"'
        )
    check_ttl(ttl or 86400)
    resolve(config).targets(account, sandbox)


def account_named(config: Any, account: str | None = None, sandbox: bool | None = None, **_: Any) -> None:
    """config, lock.release: one known account (and the sandbox up if asked)."""
    resolve(config).targets(account, sandbox)


def _approve(resolution: Any, pairs: list[tuple[Any, Any]], yes: bool) -> None:
    """Ask for approval, now, of every account that needs it (the plan of its intent first)."""
    pending = [(target, intent) for target, intent in pairs if target.settings.approval]
    if pending and not yes:
        from ghe_backup.delivery.deploy.planning import plan_account
        from ghe_backup.edge.prompt import approve_all

        resolution.approved.update(approve_all([plan_account(target, intent) for target, intent in pending]))


def rollback(
    config: Any,
    account: str | None = None,
    to: str | None = None,
    sandbox: bool | None = None,
    yes: bool = False,
    lock_wait: Any = None,
    backup_wait: Any = None,
    **_: Any,
) -> None:
    """rollback: one known account, an earlier version that can be restored exactly (image, AMI,
    definition), approval; refused up front, naming what is missing."""
    from ghe_backup.delivery.deploy import steps
    from ghe_backup.delivery.deploy.versions_history import rollback_intent
    from ghe_backup.delivery.push.push import images_for

    seconds(lock_wait, "lock-wait")
    seconds(backup_wait, "backup-wait")
    resolution = resolve(config)
    [target] = resolution.targets(account, sandbox)
    check_approval_possible([target], assume_yes=yes, interactive=sys.stdin.isatty())
    resolution.probe([target], ("lizzy", "role", "registry"))

    def in_registry(image: Any) -> str | None:
        return images_for([target], tag=image.tag)[target.name].digest

    intent = rollback_intent(target, steps.reader(target), to=to, digest_in_registry=in_registry)
    resolution.intents[target.name] = intent
    _approve(resolution, [(target, intent)], yes)


def refresh(
    config: Any,
    account: list[str] | None = None,
    sandbox: bool | None = None,
    yes: bool = False,
    lock_wait: Any = None,
    backup_wait: Any = None,
    **_: Any,
) -> None:
    """refresh: which accounts are stale by their Taupage policy (only those are redeployed), approval."""
    from ghe_backup.delivery.deploy import steps
    from ghe_backup.delivery.deploy.run import DeployResult
    from ghe_backup.delivery.deploy.status import account_status
    from ghe_backup.delivery.deploy.versions_history import refresh_intent
    from ghe_backup.plumbing.progress import say

    seconds(lock_wait, "lock-wait")
    seconds(backup_wait, "backup-wait")
    resolution = resolve(config)
    targets = resolution.some_targets(account, sandbox)
    resolution.probe(targets, ("lizzy", "role"))
    pairs = []
    for target in targets:
        status = account_status(target)
        running = status.running
        if running is not None and status.stale_ami and status.newer_taupage_available:
            intent = refresh_intent(
                target, steps.reader(target), running, lambda line, n=target.name: say(f"{n}: {line}")
            )
            resolution.intents[target.name] = intent
            pairs.append((target, intent))
            continue
        if running is not None and status.stale_ami:
            resolution.cannot_refresh.append(
                f"{target.name}: {'; '.join(status.stale_ami)}, and no newer Taupage is published"
            )
        why = (
            "no ghe-backup stack is running"
            if running is None
            else ("stale, no newer Taupage" if status.stale_ami else f"fresh: {_age(status.running_ami)}")
        )
        resolution.skipped.append(
            DeployResult(
                account=target.name,
                account_id=target.settings.account_id,
                region=target.settings.region,
                deployer=target.settings.deployer,
                stack=running.name if running else "-",
                version=running.version if running else "-",
                status=why,
                image=f"{target.repository}:{running.image_tag}" if running else "-",
                digest=None,
                ami=running.ami if running else None,
                replaced=[],
                sandbox=target.sandbox,
                changed=False,
            )
        )
    check_approval_possible([t for t, _ in pairs], assume_yes=yes, interactive=sys.stdin.isatty())
    _approve(resolution, pairs, yes)


def _age(age: Any) -> str:
    if age is None or age.age_days is None:
        return "AMI age unknown"
    return f"{age.name} is {days_old(age.age_days)}"

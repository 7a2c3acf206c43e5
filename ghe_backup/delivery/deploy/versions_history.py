"""Earlier versions an account can go back to, and the intents of a rollback and a refresh.

A rollback redeploys an earlier version exactly: the image digest, the AMI and the definition it
ran with, as the account's history and state table recorded them. A refresh redeploys the
running version (its image and recorded definition) on the newest Taupage. Both are refused up
front, naming what is missing, when the image is gone from the registry, the AMI is no longer
available or the definition was never recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ghe_backup.delivery.deploy import history
from ghe_backup.delivery.deploy.definition import DIGEST_TAG, recall_definition
from ghe_backup.delivery.deploy.steps import HEALTHY, Connection, Intent
from ghe_backup.delivery.target import ImageRef, Target
from ghe_backup.errors import ConfigError
from ghe_backup.plumbing.cloudformation import StackInfo

GOOD = frozenset({"succeeded"})


@dataclass(frozen=True)
class Version:
    """One version that ran in the account (a successful deploy, rollback or refresh)."""

    stack_version: str
    time: str
    image_tag: str
    image_digest: str | None
    ami: str | None
    git_sha: str | None
    operation: str


def versions(store: Any, account: str) -> list[Version]:
    """Versions that ran in the account, newest first (from the account's history)."""
    found, seen = [], set()
    for entry in reversed(history.read_account(store)):
        version = entry.get("stack_version")
        if entry.get("result") not in GOOD or not version or not entry.get("image_tag") or version in seen:
            continue
        seen.add(version)
        found.append(
            Version(
                stack_version=version,
                time=str(entry.get("time", "")),
                image_tag=entry["image_tag"],
                image_digest=entry.get("image_digest"),
                ami=entry.get("ami"),
                git_sha=entry.get("git_sha"),
                operation=entry.get("operation", "deploy"),
            )
        )
    return found


def running_stack(conn: Connection, target: Target) -> StackInfo | None:
    healthy = [s for s in conn.account.list_stacks(target.stack_base) if s.status in HEALTHY]
    return healthy[-1] if healthy else None


def rollback_intent(
    target: Target, conn: Connection, *, to: str | None, digest_in_registry: Callable[[ImageRef], str | None]
) -> Intent:
    """The earlier version to go back to (``to``, or the last good one before the running one), checked."""
    running = running_stack(conn, target)
    known = versions(conn.store, target.name)
    name = target.name
    if to:
        chosen = next((v for v in known if v.stack_version == to or v.image_tag == to), None)
        if chosen is None:
            listed = ", ".join(v.stack_version for v in known[:5]) or "none recorded"
            raise ConfigError(f"{name}: no version {to!r} in the account's history", hint=f"versions: {listed}")
    else:
        chosen = next((v for v in known if not running or v.stack_version != running.version), None)
        if chosen is None:
            raise ConfigError(
                f"{name}: no earlier version to roll back to in the account's history",
                hint="see inv history --account=" + name,
            )
    stack = f"{target.stack_base}-{chosen.stack_version}"
    missing = []
    definition = recall_definition(conn.store, target.state_dir, name, stack)
    if definition is None:
        missing.append(f"the definition of {stack} was not recorded")
    ami = conn.account.describe_ami(chosen.ami) if chosen.ami else None
    if ami is None or ami.get("state") != "available":
        missing.append(f"its AMI {chosen.ami} is no longer available")
    image = ImageRef(
        tag=chosen.image_tag, digest=chosen.image_digest, repository=target.repository, revision=chosen.git_sha
    )
    found = digest_in_registry(image)
    if found is None:
        missing.append(f"its image {image.repository}:{image.tag} is gone from the registry")
    elif image.digest and found != image.digest:
        missing.append(f"{image.repository}:{image.tag} is now {found}, not {image.digest}")
    if missing:
        raise ConfigError(
            f"{name}: cannot roll back to {chosen.stack_version}: {'; '.join(missing)}",
            hint="choose another with --to=VERSION (see inv history)",
        )
    return Intent(image=image, operation="rollback", definition=definition, ami=chosen.ami)


def refresh_intent(target: Target, conn: Connection, running: StackInfo, log: Callable[[str], None]) -> Intent:
    """The running version again (its image, its recorded definition) on the newest Taupage."""
    definition = recall_definition(conn.store, target.state_dir, target.name, running.name)
    if definition is None:
        log(f"the definition of {running.name} was not recorded; refreshing with the config as it is now")
    image = ImageRef(
        tag=running.image_tag or "",
        digest=running.tags.get(DIGEST_TAG),
        repository=target.repository,
        revision=running.tags.get("ghe-backup:git-sha"),
    )
    if not image.tag:
        raise ConfigError(f"{target.name}: {running.name} does not say which image it runs", hint="deploy it instead")
    return Intent(image=image, operation="refresh", definition=definition)

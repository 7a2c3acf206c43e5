"""The pipeline view: per account, what is deployed, what the tree would deploy now, and who is behind.

Like the pipeline view of the Jenkins setup this project replaces: one row per account with the
running version (commit, image, AMI and its age, when, by whom, the last attempt's result) and
the plan of deploying the tree as it is (nothing is built or changed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ghe_backup.delivery.deploy import history
from ghe_backup.delivery.deploy.planning import plan_account
from ghe_backup.delivery.target import ImageRef, Target
from ghe_backup.errors import GheBackupError


@dataclass
class Stage:
    account: str
    sandbox: bool
    stack: str | None  # the running stack
    commit: str | None
    image_tag: str | None
    digest: str | None
    ami: str | None
    ami_age_days: float | None
    deployed_at: str | None
    deployed_by: str | None
    last_result: str | None  # of the last attempt in the account's history
    last_attempt_at: str | None
    tree_tag: str  # what the tree would deploy now
    behind: bool  # a deploy of the tree would change something
    changes: list[str] = field(default_factory=list)


def pipeline(
    targets: list[Target], images: dict[str, ImageRef], *, connect: Callable[[Target], Any] | None = None
) -> list[Stage]:
    """One ``Stage`` per account, in the order given (the config's)."""
    from ghe_backup.delivery.deploy import steps

    connect = connect or steps.reader
    stages = []
    for target in targets:
        conn = connect(target)
        plan = plan_account(target, images[target.name], conn)
        run = plan.running
        try:
            attempts = history.read_account(conn.store, limit=1)
        except GheBackupError:
            attempts = []
        last = attempts[-1] if attempts else {}
        stages.append(
            Stage(
                account=target.name,
                sandbox=target.sandbox,
                stack=run.stack if run else None,
                commit=_commit(run, last),
                image_tag=run.image_tag if run else None,
                digest=run.digest if run else None,
                ami=run.ami.name if run and run.ami else None,
                ami_age_days=run.ami.age_days if run and run.ami else None,
                deployed_at=run.created if run else None,
                deployed_by=run.deployed_by if run else None,
                last_result=last.get("result"),
                last_attempt_at=last.get("time"),
                tree_tag=plan.image_tag,
                behind=plan.changed,
                changes=plan.changes,
            )
        )
    return stages


def _commit(run: Any, last: dict[str, Any]) -> str | None:
    if run is None:
        return None
    # the image tag starts with the commit's short sha (a dirty tree adds a hash)
    return (run.image_tag or "").split("-")[0] or last.get("git_sha")

"""Test helper: an ``AccountPlan`` as ``inv plan`` makes one (prod, replacing old1 with new1 on a newer AMI)."""

from __future__ import annotations

import dataclasses

from ghe_backup.delivery.deploy.freshness import AmiAge
from ghe_backup.delivery.deploy.planning import AccountPlan, Running

OLD_AMI = AmiAge(id="ami-1", name="Taupage-AMI-20261101-000000", created="2026-11-01T00:00:00+00:00", age_days=26.0)
NEW_AMI = AmiAge(id="ami-2", name="Taupage-AMI-20261127-000000", created="2026-11-27T00:00:00+00:00", age_days=0.2)


def a_plan(**changes):
    running = Running(
        stack="ghe-backup-old1",
        status="CREATE_COMPLETE",
        image_tag="old1",
        digest="sha256:old",
        ami=OLD_AMI,
        definition_hash="aaaa",
        deployed_by="bob",
        created="2026-11-01T10:00:00+00:00",
    )
    plan = AccountPlan(
        account="prod",
        account_id="123456789012",
        region="eu-central-1",
        sandbox=False,
        deployer="lizzy",
        operation="deploy",
        approval_needed=True,
        image_tag="new1",
        image_digest="sha256:new",
        repository="registry.example/ghe-backup",
        ami=NEW_AMI,
        definition_hash="bbbb",
        running=running,
        changes=["image", "AMI", "definition"],
        deletes=["ghe-backup-old1"],
        diff="--- a\n+++ b\n",
    )
    return dataclasses.replace(plan, **changes)

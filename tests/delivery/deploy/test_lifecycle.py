"""A version's life on a sandbox of its own, through real ``inv`` processes: promote, plan, the
pipeline view, Taupage refresh, a stale saved plan, rollback, a config diff and a dry run.

The sandbox is private (tests/support/private_sandbox.py) because this publishes Taupage AMIs and
relies on the catalogue of a fresh sandbox: its newest AMI is 20 days old. prod's policy here is
10 days (stale), staging keeps the default 30 (fresh).
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid

import pytest

from support.context_repo import commit_all
from support.private_sandbox import PrivateSandbox

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("private-sandbox")]

HEALTHY = ("CREATE_COMPLETE", "UPDATE_COMPLETE")


@pytest.fixture(scope="module")
def box(tmp_path_factory, sandbox_engine_registry):
    """A private sandbox with prod's AMI policy at 10 days; this process acts on it too."""
    found = PrivateSandbox(tmp_path_factory.mktemp("lifecycle"))
    found.edit_overlay("prod", {"pipeline": {"max_ami_age_days": 10}})
    with pytest.MonkeyPatch.context() as patch:
        for key, value in found.with_env().items():
            patch.setenv(key, value)
        found.up()
        try:
            yield found
        finally:
            found.down()


def build_and_push_to_staging(box: PrivateSandbox, tag: str | None = None):
    """The tree's image as ``inv image --sandbox`` builds it, pushed to staging's registry only."""
    from ghe_backup.delivery.image.build import build_image
    from ghe_backup.delivery.push.push import push_to_account
    from ghe_backup.edge.targets import Resolution
    from ghe_backup.plumbing import engine

    found = Resolution(box.root)
    site = found.build_site(True)
    image = build_image(site)
    if tag:
        image = dataclasses.replace(image, tag=tag)
    [staging] = found.targets(["staging"], True)
    pushed = push_to_account(engine.connect(site.docker_host), image, staging)
    return image.tag, pushed.digest


def ok(done: subprocess.CompletedProcess, code: int = 0) -> subprocess.CompletedProcess:
    assert done.returncode == code, f"exit {done.returncode}, wanted {code}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done


def running(box: PrivateSandbox, account: str) -> dict:
    code, found, err = box.inv_json("status", f"--account={account}", "--sandbox")
    assert code in (0, 5), err
    [status] = found
    healthy = [s for s in status["stacks"] if s["status"] in HEALTHY]
    return {**status, "running_stack": healthy[-1] if healthy else None}


def registry_tags(box: PrivateSandbox, account: str) -> list[str]:
    import requests

    answer = requests.get(f"http://{box.state['registries'][account]}/v2/ghe-backup/tags/list", timeout=10)
    return [] if answer.status_code == 404 else sorted(answer.json()["tags"] or [])


def volume(box: PrivateSandbox, account: str) -> dict:
    from ghe_backup.delivery.config import load_accounts
    from ghe_backup.sandbox import aws

    settings = load_accounts(box.root)[account].settings
    volume_id = box.state["aws_accounts"][account]["volume_id"]
    [found] = aws.account_client(settings, "ec2").describe_volumes(VolumeIds=[volume_id])["Volumes"]
    return found


def test_promote_plan_refresh_a_stale_plan_and_rollback(box):
    first, first_digest = build_and_push_to_staging(box)

    # staging first: the pipeline view shows prod behind, staging on the tree's image.
    ok(box.inv("deploy", "--account=staging", f"--image={first}", "--sandbox", "--yes"))
    code, stages, err = box.inv_json("pipeline", "--sandbox")
    assert code == 0, err
    by_name = {s["account"]: s for s in stages}
    assert by_name["prod"]["behind"] and by_name["prod"]["changes"] == ["first deployment"]
    assert (
        not by_name["staging"]["behind"] and by_name["staging"]["image_tag"] == first == by_name["staging"]["tree_tag"]
    )

    # prod gets the same digest; then a plan of both says nothing would change.
    ok(box.inv("deploy", "--account=prod", f"--image={first}", "--sandbox", "--yes"))
    code, plans, err = box.inv_json("plan", "--account=prod", "--account=staging", f"--image={first}", "--sandbox")
    assert code == 0 and all(p["no_op"] and p["changes"] == [] for p in plans), plans
    ok(box.inv("plan", "--account=prod", "--account=staging", f"--image={first}", "--sandbox", "--exit-code"))
    assert running(box, "prod")["running_stack"]["tags"]["ghe-backup:image-digest"] == first_digest

    # A second version everywhere (a code change: a new tag, a new digest).
    (box.root / "ghe_backup" / "__init__.py").write_text(
        (box.root / "ghe_backup" / "__init__.py").read_text() + "# second version\n"
    )
    commit_all(box.root, "second version")
    second, second_digest = build_and_push_to_staging(box)
    assert second != first and second_digest != first_digest
    ok(box.inv("deploy", "--account=staging", "--account=prod", f"--image={second}", "--sandbox", "--yes"))

    # prod's AMI (20 days) is stale by its policy (10 days), staging's is not; no newer Taupage yet.
    prod, staging = running(box, "prod"), running(box, "staging")
    old_ami = prod["running_stack"]["ami"]
    assert prod["stale_ami"] and "max 10" in prod["stale_ami"][0] and staging["stale_ami"] == []
    assert ok(box.inv("status", "--sandbox", "--check"), 5)
    refused = ok(box.inv("refresh", "--sandbox", "--yes"), 5)
    assert "prod" in refused.stderr and "newer Taupage" in refused.stderr
    assert running(box, "prod")["running_stack"]["name"] == prod["running_stack"]["name"]  # nothing deployed

    # A plan saved now, then a new Taupage: the plan shows the AMI change, the saved one is refused.
    saved = box.root / "prod-plan.json"
    ok(box.inv("plan", "--account=prod", f"--image={second}", "--sandbox", f"--out={saved}"))
    ok(box.inv("sandbox.publish-taupage"))
    newest = running(box, "prod")["newest_ami"]
    assert newest["id"] != old_ami and newest["age_days"] < 1
    code, [plan], err = box.inv_json("plan", "--account=prod", f"--image={second}", "--sandbox")
    assert code == 0 and plan["changes"] == ["AMI"] and plan["ami"]["id"] == newest["id"], plan
    assert plan["running"]["ami"]["id"] == old_ami and plan["image_digest"] == second_digest
    ok(box.inv("plan", "--account=prod", f"--image={second}", "--sandbox", "--exit-code"), 5)
    stale = ok(box.inv("deploy", f"--plan={saved}", "--sandbox", "--yes"), 2)
    assert "moved on" in stale.stderr or "the AMI would be" in stale.stderr, stale.stderr
    assert running(box, "prod")["running_stack"]["name"] == prod["running_stack"]["name"]

    # refresh: prod again on the newest AMI with the same digest; staging (fresh) left alone.
    code, results, err = box.inv_json("refresh", "--sandbox", "--yes")
    assert code == 0, err
    by_name = {r["account"]: r for r in results}
    assert by_name["prod"]["changed"] and by_name["prod"]["ami"] == newest["id"]
    assert by_name["prod"]["digest"] == second_digest and by_name["staging"]["changed"] is False
    after = running(box, "staging")["running_stack"]
    assert (after["name"], after["created"]) == (staging["running_stack"]["name"], staging["running_stack"]["created"])
    refreshed = running(box, "prod")
    assert refreshed["stale_ami"] == [] and refreshed["running_stack"]["ami"] == newest["id"]

    # history lists what can be rolled back to; rollback returns the version before the refresh
    # (second image, old AMI), then --to the first image (first image, old AMI).
    code, entries, err = box.inv_json("history", "--account=prod", "--sandbox")
    assert code == 0, err
    ok(box.inv("rollback", "--account=prod", "--sandbox", "--yes"))
    back = running(box, "prod")["running_stack"]
    assert back["ami"] == old_ami and back["tags"]["ghe-backup:image-digest"] == second_digest
    ok(box.inv("rollback", "--account=prod", f"--to={first}", "--sandbox", "--yes"))
    back = running(box, "prod")["running_stack"]
    assert back["ami"] == old_ami and back["image_tag"] == first
    assert back["tags"]["ghe-backup:image-digest"] == first_digest
    assert [s["name"] for s in running(box, "prod")["stacks"]] == [back["name"]]  # the others replaced
    data = volume(box, "prod")  # the data volume is the one seeded, through five stacks
    assert data["VolumeId"] == box.state["aws_accounts"]["prod"]["volume_id"] and data["State"] != "deleting"


def test_a_config_change_shows_as_a_diff_and_a_dry_deploy_changes_nothing(box):
    tag, _ = build_and_push_to_staging(box, tag=f"dry-{uuid.uuid4().hex[:8]}")  # in staging's registry only
    if running(box, "prod")["running_stack"] is None:
        ok(box.inv("deploy", "--account=prod", f"--image={tag}", "--sandbox", "--yes"))
    overlay = box.root / "config" / "accounts" / "prod.yaml"
    original = overlay.read_text()
    overlay.write_text(original.replace("InstanceType: m5.large", "InstanceType: m5.xlarge"))
    try:
        code, [plan], err = box.inv_json("plan", "--account=prod", f"--image={tag}", "--sandbox")
        assert code == 0 and "definition" in plan["changes"], plan
        changed = [line.replace(" ", "") for line in plan["diff"].splitlines() if line[:1] in "+-"]
        assert "-InstanceType:m5.large" in changed and "+InstanceType:m5.xlarge" in changed, plan["diff"]
        assert "aws:kms:" not in plan["diff"] or "REDACTED" in plan["diff"]

        before = (running(box, "prod")["stacks"], registry_tags(box, "prod"), box.inv_json("history", "--sandbox")[1])
        dry = ok(box.inv("--dry", "deploy", "--account=prod", f"--image={tag}", "--sandbox", "--yes"))
        assert "m5.xlarge" in dry.stdout + dry.stderr  # it showed the plan
        after = (running(box, "prod")["stacks"], registry_tags(box, "prod"), box.inv_json("history", "--sandbox")[1])
        assert after == before and tag not in after[1]
    finally:
        overlay.write_text(original)

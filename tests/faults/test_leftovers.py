"""A stack an earlier run left half made: reported, removed, never taken for the version to restore.

moto leaves a stack whose resources cannot be created in CREATE_IN_PROGRESS for good (its create call
fails, and the stack stays): exactly what a deploy killed during its create, or a create the agent
took and never finished, leaves behind. The next deploy must say so, remove it, and replace the
version that really ran (the newest stack is the leftover, so taking the newest for the previous
version would be wrong).
"""

from __future__ import annotations

import json

import pytest

from support.faults import FaultBox, Outcome, scenario

pytestmark = pytest.mark.integration

#: A stack of ghe-backup (its name has the form of a version) that cannot be created: its instance
#: profile names a role that does not exist.
STUCK = "ghe-backup-crashedd261127000000"
TEMPLATE = {"Resources": {"Profile": {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": ["no-such-role"]}}}}


def leave_stack_in_progress(box: FaultBox, account: str) -> None:
    cfn = box.client(account, "cloudformation")
    try:
        cfn.create_stack(StackName=STUCK, TemplateBody=json.dumps(TEMPLATE))
    except cfn.exceptions.ClientError as err:  # moto raises, and keeps the stack in progress
        assert "no-such-role" in str(err), err


@scenario("lizzy-restore", seconds=68)
def a_stack_left_in_progress_by_an_earlier_run(box: FaultBox) -> Outcome:
    old = box.running("staging", "old1")
    volume = box.volume("staging")
    leave_stack_in_progress(box, "staging")
    before = box.stacks("staging")
    box.record_push("staging", "new2")
    outcome = box.deploy("staging").finish(180)
    outcome.after.update(
        old=old, before=before, volume_before=volume, stacks=box.stacks("staging"), volume=box.volume("staging")
    )
    return outcome


@pytest.mark.fault("a_stack_left_in_progress_by_an_earlier_run")
def test_a_stack_left_in_progress_is_reported_removed_and_never_restored(faults):
    outcome = faults.outcome("a_stack_left_in_progress_by_an_earlier_run")
    old = outcome.after["old"]
    assert outcome.after["before"] == {old: "CREATE_COMPLETE", STUCK: "CREATE_IN_PROGRESS"}
    assert outcome.code == 0 and not outcome.errors and "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.at(rf"{STUCK} is CREATE_IN_PROGRESS, left by an earlier run: removing it \(it is never restored\)")
    [replaces] = [line for _, line in outcome.lines if "replaces" in line]
    assert old in replaces and STUCK not in replaces, replaces  # the version that ran is the one replaced
    [(name, status)] = outcome.after["stacks"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"
    assert outcome.after["volume"] == outcome.after["volume_before"] is not None

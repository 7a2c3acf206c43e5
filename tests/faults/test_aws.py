"""The AWS endpoint (the sandbox's moto) killed or hung at each phase of a real ``inv deploy``.

moto keeps everything in memory: once it is killed (SIGKILL) the emulated accounts are gone, so
those cases assert what the run itself shows (exit 3 within the deadline, one line naming AWS, how
long it was tried and what may run, no traceback), not the account afterwards. Stopped (SIGSTOP)
and let go later (SIGCONT) it keeps its state: those cases also assert what runs afterwards, the
data volume (same id) and the deploy lock.
"""

from __future__ import annotations

import re
import time

import pytest

from ghe_backup.errors import ExitCode
from support.faults import (
    BUDGET,
    DEADLINE,
    FaultBox,
    Outcome,
    deploy_again,
    look,
    one_error_line,
    replace_version,
    scenario,
)

pytestmark = pytest.mark.integration

AWS = "aws"


def killed(box: FaultBox, pause: str) -> Outcome:
    def fault(run):
        box.kill(AWS)
        run.resume()

    return replace_version(box, pause, fault)


def tried(line: str) -> bool:
    return bool(re.search(r"\(tried \d+ times? in \d+s\)", line))


# -- killed: exit 3 within the deadline, one line saying what may run ----------------------------


@scenario("aws-create", seconds=149)
def aws_killed_during_the_create(box: FaultBox) -> Outcome:
    return killed(box, "before:create")


@pytest.mark.fault("aws_killed_during_the_create")
def test_aws_killed_during_the_create(faults):
    outcome = faults.outcome("aws_killed_during_the_create")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    # the agent said senza could not reach AWS; then this process could not either
    assert re.search(r"staging: creating ghe-backup-new2\w*: (AWS|AWS unreachable from the Lizzy agent)", line), line
    assert "127.0.0.1" in line and tried(line), line
    assert f"restoring {old} failed too" in line, line
    assert f"staging has NO backup instance now: {old} was deleted and ghe-backup-new2" in line, line
    assert re.search(
        r"once AWS\b.* answers, run: inv status --account=staging; inv rollback --account=staging", line
    ), line
    assert [x for x in outcome.lines if "trying again in 10s" in x[1]], line
    assert 2 * (BUDGET - 10) <= outcome.seconds < DEADLINE


@scenario("aws-create", seconds=2)
def aws_down_before_the_run(box: FaultBox) -> Outcome:
    box.kill(AWS)  # still down from the case before, or killed now
    return box.deploy("staging").finish(60)


@pytest.mark.fault("aws_down_before_the_run")
def test_aws_down_before_the_run_stops_it_before_anything_changes(faults):
    outcome = faults.outcome("aws_down_before_the_run")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert "aws" in line.lower(), line
    assert outcome.seconds < 30
    assert not [x for x in outcome.lines if re.search(r"POST|DELETE|building|pushing", x[1])], line


@scenario("aws-wait", seconds=143)
def aws_killed_while_waiting_for_the_new_stack(box: FaultBox) -> Outcome:
    return killed(box, "after:create")


@pytest.mark.fault("aws_killed_while_waiting_for_the_new_stack")
def test_aws_killed_while_waiting_for_the_new_stack(faults):
    outcome = faults.outcome("aws_killed_while_waiting_for_the_new_stack")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(
        r"staging: looking for ghe-backup-new2\w*: AWS did not answer: Could not connect to the endpoint", line
    )
    assert tried(line) and f"restoring {old} failed too: the same way" in line, line
    # the agent took the create: it may run, unconfirmed
    assert f"staging may have NO backup instance: {old} was deleted; ghe-backup-new2" in line, line
    assert "was created, never seen complete" in line, line
    assert [x for x in outcome.lines if "trying again in 10s" in x[1]], line
    assert 2 * (BUDGET - 10) <= outcome.seconds < DEADLINE


@scenario("aws-delete", seconds=146)
def aws_killed_during_the_delete(box: FaultBox) -> Outcome:
    return killed(box, "before:delete")


@pytest.mark.fault("aws_killed_during_the_delete")
def test_aws_killed_during_the_delete(faults):
    outcome = faults.outcome("aws_killed_during_the_delete")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(rf"staging: deleting {old}: (AWS|AWS unreachable from the Lizzy agent)", line), line
    assert tried(line) and f"restoring {old} failed too" in line, line
    assert f"staging may have NO backup instance: {old} was being deleted, its end not seen" in line, line
    assert 2 * (BUDGET - 10) <= outcome.seconds < DEADLINE


# -- hung for good: the deadline holds; afterwards the account is as the line says -----------------


@scenario("aws-hung", seconds=219)
def aws_hung_while_waiting_for_the_new_stack(box: FaultBox) -> Outcome:
    def fault(run):
        box.stop(AWS)
        run.resume()

    outcome = replace_version(box, "after:create", fault)
    box.cont(AWS)
    look(box, outcome, history=False)
    # what the line says to run: the lock first (it could not be released), then a deploy recovers
    outcome.after["release"] = box.inv("lock.release", "--account=staging", "--sandbox", "--force")
    return deploy_again(box, outcome)


@pytest.mark.fault("aws_hung_while_waiting_for_the_new_stack")
def test_a_hung_aws_endpoint_does_not_hang_the_deploy(faults):
    outcome = faults.outcome("aws_hung_while_waiting_for_the_new_stack")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(
        r"staging: looking for ghe-backup-new2\w*: AWS did not answer: Read timeout on endpoint URL", line
    ), line
    assert tried(line) and f"restoring {old} failed too" in line, line
    assert "staging may have NO backup instance" in line and "was created, never seen complete" in line, line
    assert "the deploy lock may still be held: once AWS answers, see inv lock.status --account=staging" in line, line
    assert outcome.seconds < DEADLINE
    # moto finished the create before it was stopped: the new version is there, the old one gone
    [(name, status)] = outcome.after["stacks"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert outcome.after["release"].returncode == 0, outcome.after["release"].stderr  # held or not by then
    following = outcome.after["following"]
    assert following.code == 0, following.stderr
    [(name, status)] = outcome.after["stacks_after_following"].items()
    assert status == "CREATE_COMPLETE"


# -- hung a while, within the budget: the deploy goes on -------------------------------------------


def stopped_a_while(box: FaultBox, pause: str) -> Outcome:
    def fault(run):
        box.stop(AWS)
        run.resume()
        time.sleep(15)
        box.cont(AWS)

    return look(box, replace_version(box, pause, fault), history=False)


@scenario("aws-pauses", seconds=65)
def aws_stopped_a_while_during_the_wait(box: FaultBox) -> Outcome:
    return stopped_a_while(box, "after:create")


@scenario("aws-pauses", seconds=53)
def aws_stopped_a_while_during_the_delete(box: FaultBox) -> Outcome:
    return stopped_a_while(box, "before:delete")


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=pytest.mark.fault(name), id=name)
        for name in ("aws_stopped_a_while_during_the_wait", "aws_stopped_a_while_during_the_delete")
    ],
)
def test_aws_stopped_a_while_within_the_budget_the_deploy_goes_on(faults, case):
    outcome = faults.outcome(case)
    assert outcome.code == 0 and not outcome.errors and "Traceback" not in outcome.stderr, outcome.stderr
    assert 15 <= outcome.seconds < BUDGET
    [(name, status)] = outcome.after["stacks"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"
    assert outcome.after["volume"] == outcome.after["volume_before"] and not outcome.after["lock_held"]

"""The Lizzy agent killed (SIGKILL) or hung (SIGSTOP) at each phase of a real ``inv deploy``.

Once the old stack is deleted the deploy keeps asking the agent (every 10 s, saying so) until its
budget is spent, then restores the previous version with a budget of its own; when the agent never
comes back the one error line says exactly what runs (nothing) and what to run. Each lane deploys
staging with a budget of 60 s (tests/support/faults.py); the data volume is the same one after
every case, and the account's deploy lock is free again.
"""

from __future__ import annotations

import re

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
    settle,
)

pytestmark = pytest.mark.integration

AGENT = "lizzy-staging"


# -- back within the deploy's budget: the new version is deployed ------------------------------


@scenario("lizzy-quick", seconds=84)
def lizzy_killed_after_the_delete_back_within_the_budget(box: FaultBox) -> Outcome:
    def fault(run):
        box.kill(AGENT)
        run.resume()
        run.wait_for(r"creating ghe-backup-new2\w*: Lizzy at \S+ unreachable: .*; trying again in 10s")
        box.up()  # the agent again

    outcome = replace_version(box, "after:delete", fault)
    return look(box, outcome)


@pytest.mark.fault("lizzy_killed_after_the_delete_back_within_the_budget")
def test_an_agent_back_within_the_budget_gets_the_new_version_deployed(faults):
    outcome = faults.outcome("lizzy_killed_after_the_delete_back_within_the_budget")
    assert outcome.code == 0 and not outcome.errors and "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.seconds < BUDGET + 30
    [(name, status)] = outcome.after["stacks"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "succeeded"


# -- killed before the delete: the old stack still runs and is kept -----------------------------


@scenario("lizzy-quick", seconds=106)
def lizzy_killed_before_the_delete(box: FaultBox) -> Outcome:
    def fault(run):
        box.kill(AGENT)
        run.resume()

    outcome = replace_version(box, "before:delete", fault)
    look(box, outcome)
    box.up()
    return outcome


@pytest.mark.fault("lizzy_killed_before_the_delete")
def test_an_agent_killed_before_the_delete_leaves_the_old_version_running(faults):
    outcome = faults.outcome("lizzy_killed_before_the_delete")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(
        rf"staging: deleting {old}: Lizzy at http://127\.0\.0\.1:\d+ unreachable: .*Connection refused", line
    )
    assert re.search(r"\(tried \d+ times in \d+s\)", line)  # how long it was tried
    assert f"kept {old} with image old1" in line and "staging runs it" in line, line
    assert re.search(r"deploy again once Lizzy at \S+ answers", line), line
    assert len(outcome.between("PAUSED", "^error:")) >= 3
    assert [x for x in outcome.between("PAUSED", "^error:") if "trying again in 10s" in x]  # progress while retrying
    assert BUDGET <= outcome.seconds < DEADLINE
    assert outcome.after["stacks"] == {old: "CREATE_COMPLETE"}
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "restored"


# -- killed once the new stack was created: the wait reads AWS, the deploy goes on ---------------


@scenario("aws-wait", seconds=64)
def lizzy_killed_while_the_stack_settles(box: FaultBox) -> Outcome:
    box.up()  # the lane's AWS case before left moto down

    def fault(run):
        box.kill(AGENT)
        run.resume()

    outcome = replace_version(box, "after:create", fault)
    look(box, outcome)
    box.up()
    return outcome


@pytest.mark.fault("lizzy_killed_while_the_stack_settles")
def test_an_agent_killed_while_the_new_stack_settles_does_not_stop_the_deploy(faults):
    outcome = faults.outcome("lizzy_killed_while_the_stack_settles")
    assert outcome.code == 0 and not outcome.errors and "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.seconds < BUDGET
    [(name, status)] = outcome.after["stacks"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "succeeded"


# -- hung before the delete: it took the request; what it does with it later is not known ---------


@scenario("engine", seconds=100)
def lizzy_hung_before_the_delete(box: FaultBox) -> Outcome:
    def fault(run):
        box.stop(AGENT)
        run.resume()

    outcome = replace_version(box, "before:delete", fault)
    look(box, outcome)
    box.cont(AGENT)  # it now does what it had taken: the delete goes through late
    outcome.after["stacks_later"] = settle(box, lambda now: not any(s.endswith("_IN_PROGRESS") for s in now.values()))
    return deploy_again(box, outcome)


@pytest.mark.fault("lizzy_hung_before_the_delete")
def test_a_hung_agent_before_the_delete_is_never_said_to_leave_the_old_version_running(faults):
    outcome = faults.outcome("lizzy_hung_before_the_delete")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(rf"staging: deleting {old}: Lizzy at \S+ did not answer DELETE /api/stacks/\S+ within \d+s", line)
    # it took the delete: the old version ran when the deploy gave up, and it may go yet
    assert f"staging may have NO backup instance soon: {old} still ran, but its delete got no answer" in line, line
    assert "kept" not in line and "staging runs it" not in line, line
    assert re.search(
        r"once Lizzy at \S+ answers, run: inv status --account=staging; inv deploy --account=staging", line
    )
    assert BUDGET - 10 <= outcome.seconds < DEADLINE
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "unreachable"
    assert old not in outcome.after["stacks_later"]  # the agent did delete it, late: the line was right
    following = outcome.after["following"]
    assert following.code == 0, following.stderr
    [(name, status)] = outcome.after["stacks_after_following"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"


# -- back after the budget, in time for the restore: the previous version is restored -----------


@scenario("lizzy-restore", seconds=117)
def lizzy_killed_after_the_delete_back_for_the_restore(box: FaultBox) -> Outcome:
    def fault(run):
        box.kill(AGENT)
        run.resume()
        run.wait_for(r"; restoring the previous version$", timeout=BUDGET + 60)
        box.up()

    outcome = replace_version(box, "after:delete", fault)
    return look(box, outcome)


@pytest.mark.fault("lizzy_killed_after_the_delete_back_for_the_restore")
def test_an_agent_back_after_the_budget_gets_the_previous_version_restored(faults):
    outcome = faults.outcome("lizzy_killed_after_the_delete_back_for_the_restore")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(
        r"staging: creating ghe-backup-new2\w*: Lizzy at \S+ unreachable: .*\(tried \d+ times in \d+s\)", line
    )
    assert f"restored {old} with image old1" in line and "staging runs it" in line, line
    retries = [x for x in outcome.between("PAUSED", "restoring the previous version") if "trying again in 10s" in x]
    assert len(retries) >= 2, outcome.stderr  # it said what it waited for, the whole budget
    assert BUDGET <= outcome.seconds < DEADLINE
    assert outcome.after["stacks"] == {old: "CREATE_COMPLETE"}
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "restored"


# -- never back: nothing runs, and the message says so and what to run ---------------------------


@scenario("lizzy-down", seconds=145)
def lizzy_killed_after_the_delete_and_kept_down(box: FaultBox) -> Outcome:
    # An image really in staging's registry, so that the rollback the message names can run.
    old = box.running("staging", "old1", box.push_tiny_image("staging", "old1"))
    volume = box.volume("staging")
    box.record_push("staging", "new2")
    run = box.deploy("staging", pause="after:delete")
    run.wait_for("^PAUSED after:delete$")
    box.kill(AGENT)
    run.resume()
    outcome = look(box, run.finish(DEADLINE + 60))
    outcome.after.update(old=old, volume_before=volume)
    # What the message says to run, once the agent answers again.
    box.up()
    rollback = box.inv("rollback", "--account=staging", "--sandbox", "--yes")
    outcome.after.update(rollback=rollback, stacks_after_rollback=box.stacks("staging"))
    return outcome


@pytest.mark.fault("lizzy_killed_after_the_delete_and_kept_down")
def test_an_agent_that_never_comes_back_leaves_a_line_saying_nothing_runs_and_what_to_run(faults):
    outcome = faults.outcome("lizzy_killed_after_the_delete_and_kept_down")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(r"staging: creating ghe-backup-new2\w+: Lizzy at (\S+) unreachable: .*Connection refused", line), (
        line
    )
    assert re.search(rf"restoring {old} failed too: the same way \(tried for \d+s\)", line), line
    assert f"staging has NO backup instance now: {old} was deleted and ghe-backup-" in line, line
    assert re.search(
        r"once Lizzy at \S+ answers, run: inv status --account=staging; inv rollback --account=staging", line
    )
    assert [x for x in outcome.lines if "trying again in 10s" in x[1]], line
    assert 2 * (BUDGET - 10) <= outcome.seconds < DEADLINE  # the deploy's budget, then the restore's
    assert outcome.after["stacks"] == {}  # exactly what the line says
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"] and outcome.after["history"]["result"] == "unreachable"
    # and what it says to run brings the version back
    rollback = outcome.after["rollback"]
    assert rollback.returncode == 0, rollback.stderr
    [(name, status)] = outcome.after["stacks_after_rollback"].items()
    assert name.startswith("ghe-backup-old1") and status == "CREATE_COMPLETE"


@scenario("lizzy-down", seconds=5)
def lizzy_down_before_the_run(box: FaultBox) -> Outcome:
    box.kill(AGENT)
    before = box.stacks("staging")
    outcome = box.deploy("staging").finish(60)
    outcome.after.update(stacks_before=before, stacks=box.stacks("staging"))
    box.up()
    return outcome


@pytest.mark.fault("lizzy_down_before_the_run")
def test_an_agent_down_before_the_run_stops_it_before_anything_changes(faults):
    outcome = faults.outcome("lizzy_down_before_the_run")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert "lizzy" in line.lower(), line
    assert outcome.seconds < 30
    assert outcome.after["stacks"] == outcome.after["stacks_before"]
    assert not [x for x in outcome.lines if re.search(r"POST|DELETE|building", x[1])], line


# -- hung: it takes the connection and never answers ---------------------------------------------


@scenario("lizzy-hung", seconds=179)
def lizzy_hung_after_the_delete(box: FaultBox) -> Outcome:
    def fault(run):
        box.stop(AGENT)
        run.resume()

    outcome = replace_version(box, "after:delete", fault)
    box.cont(AGENT)  # it now answers what it had taken: the creates may go through late
    settle(box, lambda now: all(s.endswith("_COMPLETE") for s in now.values()))
    look(box, outcome)
    return deploy_again(box, outcome)


@pytest.mark.fault("lizzy_hung_after_the_delete")
def test_a_hung_agent_does_not_hang_the_deploy_and_the_next_deploy_recovers(faults):
    outcome = faults.outcome("lizzy_hung_after_the_delete")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    old = outcome.after["old"]
    assert re.search(
        r"staging: creating ghe-backup-new2\w*: Lizzy at \S+ did not answer POST /api/stacks within \d+s", line
    )
    assert "restoring" in line and "failed too" in line, line
    # no answer is not "not created": the agent may still act on what it took
    assert f"staging may have NO backup instance: {old} was deleted; ghe-backup-new2" in line, line
    assert "may be created yet (its create got no answer)" in line, line
    assert outcome.seconds < DEADLINE
    assert outcome.after["volume"] == outcome.after["volume_before"]
    assert not outcome.after["lock_held"]
    following = outcome.after["following"]
    assert following.code == 0, following.stderr
    [(name, status)] = outcome.after["stacks_after_following"].items()
    assert name.startswith("ghe-backup-new2") and status == "CREATE_COMPLETE"

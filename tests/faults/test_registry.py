"""The account's registry killed (SIGKILL) or hung (SIGSTOP) during a push, and down before the run.

The engine uploads the layers itself and, when an upload fails, tries again on its own (about 50 s
in all); the push says each round as it starts and the error says how long the engine kept trying.
The registry here is prod's, empty at the start, so the push has a whole image to upload (a kill
lands during the upload every time).
"""

from __future__ import annotations

import re
import shutil

import pytest

from ghe_backup.errors import ExitCode
from support.faults import ENGINE_TIMEOUT, FaultBox, Outcome, one_error_line, scenario

from .test_engine import new_code, registry_tags

pytestmark = pytest.mark.integration

REGISTRY = "registry-prod"
UPLOADING = r"^prod: layer \w+: pushing"


def push(box: FaultBox, fault) -> Outcome:
    new_code(box)
    run = box.run("push", "--account=prod", "--sandbox", stubs="test")
    run.wait_for(UPLOADING)
    fault(run)
    return run.finish(180)


def empty_registry(box: FaultBox) -> None:
    """prod's registry again, with nothing in it (the next push uploads a whole image)."""
    box.kill(REGISTRY)
    shutil.rmtree(box.root / ".sandbox" / REGISTRY / "data", ignore_errors=True)
    box.up()


@scenario("registry", seconds=56)
def registry_killed_during_the_push(box: FaultBox) -> Outcome:
    return push(box, lambda run: box.kill(REGISTRY))


@pytest.mark.fault("registry_killed_during_the_push")
def test_a_registry_killed_during_the_push(faults):
    outcome = faults.outcome("registry_killed_during_the_push")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert re.search(r"registry 127\.0\.0\.1:\d+ is not reachable: .*connection refused", line), line
    assert re.search(r"\(the engine retried [2-9] times in [1-9]\d*s\)", line), line
    rounds = [
        x for _, x in outcome.lines if re.search(r"prod: uploads to \S+ failed; the engine tries again in \d+s", x)
    ]
    assert len(rounds) >= 2, outcome.stderr  # said while it waited
    assert outcome.seconds < 120


@scenario("registry", seconds=12)
def registry_down_before_the_run(box: FaultBox) -> Outcome:
    box.kill(REGISTRY)
    outcome = box.run("push", "--account=prod", "--sandbox", stubs="test").finish(60)
    empty_registry(box)
    return outcome


@pytest.mark.fault("registry_down_before_the_run")
def test_a_registry_down_before_the_run_stops_it_before_anything_is_built(faults):
    outcome = faults.outcome("registry_down_before_the_run")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert "registry" in line, line
    assert outcome.seconds < 30
    assert not [x for x in outcome.lines if re.search(r"building|pushing", x[1])]


@scenario("registry", seconds=28)
def registry_back_while_the_engine_retries(box: FaultBox) -> Outcome:
    def fault(run):
        box.kill(REGISTRY)
        run.wait_for(r"the engine tries again in \d+s \(retry 1\)")
        box.up()

    outcome = push(box, fault)
    outcome.after["tags"] = registry_tags(box, "prod")
    return outcome


@pytest.mark.fault("registry_back_while_the_engine_retries")
def test_a_registry_back_while_the_engine_retries_gets_the_push(faults):
    outcome = faults.outcome("registry_back_while_the_engine_retries")
    assert outcome.code == 0 and not outcome.errors and "Traceback" not in outcome.stderr, outcome.stderr
    assert outcome.at(r"the engine tries again in \d+s \(retry 1\)") is not None
    tag = re.search(r"^prod: pushed \S+:(\S+) -> sha256:", outcome.stderr, re.M)[1]
    assert tag in outcome.after["tags"]


@scenario("registry", seconds=22)
def registry_hung_during_the_push(box: FaultBox) -> Outcome:
    empty_registry(box)
    outcome = push(box, lambda run: box.stop(REGISTRY))
    box.cont(REGISTRY)
    return outcome


@pytest.mark.fault("registry_hung_during_the_push")
def test_a_registry_hung_during_the_push(faults):
    outcome = faults.outcome("registry_hung_during_the_push")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert "127.0.0.1" in line, line
    assert outcome.seconds < ENGINE_TIMEOUT + 90

"""The Docker engine killed (SIGKILL) or hung (SIGSTOP) during the image build and during the push.

The engine is shared by everyone on this machine, so it is never touched: the lane's sandbox talks
to it through a unix-socket proxy of its own (tests/support/socket_proxy.py) and the proxy is what
dies or stops. To the pipeline that is exactly an engine that died (the stream cut, then nothing
listening) or hung (the connection open, nothing sent). The proxy holds at a chosen point of the
engine's answer (a build step, the first upload), so the fault lands in that phase every time.

The faults during the build and the push are those of a real ``inv deploy`` of staging, which
runs a version already: the deploy stops before its deploy stage, and the account still runs that
version on the same data volume.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from ghe_backup.errors import ExitCode
from support.context_repo import commit_all
from support.faults import ENGINE_TIMEOUT, FaultBox, Outcome, one_error_line, scenario

pytestmark = pytest.mark.integration

BUILD_STEP = "Step 5/"  # a step of the build's stream, after the context was sent
UPLOADING = '"status":"Pushing"'  # the engine's first upload progress in the push stream


def new_code(box: FaultBox) -> None:
    """A change to the code, committed: the next image has a new content tag (a real build)."""
    path = box.root / "ghe_backup" / "__init__.py"
    path.write_text(path.read_text() + f"# fault case {time.monotonic_ns()}\n")
    commit_all(box.root, "a new version")


DEPLOY = ("deploy", "--account=staging", "--sandbox", "--yes")


def engine_fault(box: FaultBox, hold_on: str, sig: signal.Signals, *argv: str) -> Outcome:
    """``inv ARGV`` (tests stubbed) with the engine proxy killed or stopped once it relayed ``hold_on``;
    staging's stacks and data volume before and after."""
    if not box.stacks("staging"):
        box.running("staging", "old1")
    before = {"stacks_before": box.stacks("staging"), "volume_before": box.volume("staging")}
    new_code(box)
    box.start_proxy(hold_on=hold_on)
    run = box.run(*argv, stubs="test")
    held = box.proxy_held(run)
    box.stop_proxy(sig)
    outcome = run.finish(ENGINE_TIMEOUT + 90)
    assert held, f"the run never got to {hold_on!r}:\n{outcome.stderr}"
    box.stop_proxy()  # a stopped one is killed too
    box.start_proxy()  # the next case starts with an engine
    outcome.after.update(before, stacks=box.stacks("staging"), volume=box.volume("staging"))
    return outcome


def account_unchanged(outcome: Outcome) -> None:
    """Nothing was deployed: staging runs what it ran, on the same data volume."""
    [(_, status)] = outcome.after["stacks_before"].items()
    assert status == "CREATE_COMPLETE"
    assert outcome.after["stacks"] == outcome.after["stacks_before"]
    assert outcome.after["volume"] == outcome.after["volume_before"] is not None
    assert not [x for _, x in outcome.lines if re.search(r"POST|DELETE", x)]


def names_engine(line: str) -> bool:
    return bool(re.search(r"the Docker engine at unix://\S+-engine\.sock", line))


@scenario("engine", engine_proxy=True, seconds=35)
def engine_killed_during_the_build(box: FaultBox) -> Outcome:
    return engine_fault(box, BUILD_STEP, signal.SIGKILL, *DEPLOY)


@pytest.mark.fault("engine_killed_during_the_build")
def test_an_engine_killed_during_the_build(faults):
    outcome = faults.outcome("engine_killed_during_the_build")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert names_engine(line) and "went away during the image build" in line, line
    assert outcome.seconds < 30
    assert outcome.at(r"^Step \d+/\d+") is not None  # it was building
    assert outcome.at(r"^built ghe-backup") is None
    account_unchanged(outcome)


@scenario("engine", engine_proxy=True, seconds=20)
def engine_hung_during_the_build(box: FaultBox) -> Outcome:
    return engine_fault(box, BUILD_STEP, signal.SIGSTOP, *DEPLOY)


@pytest.mark.fault("engine_hung_during_the_build")
def test_an_engine_hung_during_the_build(faults):
    outcome = faults.outcome("engine_hung_during_the_build")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert names_engine(line), line
    assert f"sent nothing for {ENGINE_TIMEOUT}s during the image build (hung?)" in line, line
    assert "ghe.engine_timeout" in line, line
    assert ENGINE_TIMEOUT <= outcome.seconds < ENGINE_TIMEOUT + 30
    account_unchanged(outcome)


@scenario("engine", engine_proxy=True, seconds=10)
def engine_killed_during_the_push(box: FaultBox) -> Outcome:
    outcome = engine_fault(box, UPLOADING, signal.SIGKILL, *DEPLOY)
    outcome.after["tags"] = registry_tags(box, "staging")
    return outcome


@pytest.mark.fault("engine_killed_during_the_push")
def test_an_engine_killed_during_the_push(faults):
    outcome = faults.outcome("engine_killed_during_the_push")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert names_engine(line) and re.search(r"went away during the push to 127\.0\.0\.1:\d+", line), line
    assert outcome.seconds < 60
    assert outcome.at(r"^built ghe-backup") is not None and outcome.at(r"staging: pushing") is not None
    tag = re.search(r"staging: pushing \S+:(\S+)$", outcome.stderr, re.M)[1]
    assert tag not in outcome.after["tags"]  # no tag for a half-pushed image
    account_unchanged(outcome)


@scenario("engine", engine_proxy=True, seconds=22)
def engine_hung_during_the_push(box: FaultBox) -> Outcome:
    return engine_fault(box, UPLOADING, signal.SIGSTOP, *DEPLOY)


@pytest.mark.fault("engine_hung_during_the_push")
def test_an_engine_hung_during_the_push(faults):
    outcome = faults.outcome("engine_hung_during_the_push")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert names_engine(line), line
    assert re.search(rf"sent nothing for {ENGINE_TIMEOUT}s during the push to 127\.0\.0\.1:\d+ \(hung\?\)", line), line
    assert ENGINE_TIMEOUT <= outcome.seconds < ENGINE_TIMEOUT + 60
    account_unchanged(outcome)


@scenario("engine", engine_proxy=True, seconds=3)
def engine_down_before_the_run(box: FaultBox) -> Outcome:
    box.stop_proxy()
    outcome = box.run("deploy", "--account=staging", "--sandbox", "--yes", stubs="test").finish(60)
    box.start_proxy()
    return outcome


@pytest.mark.fault("engine_down_before_the_run")
def test_an_engine_down_before_the_run_stops_it_before_anything(faults):
    outcome = faults.outcome("engine_down_before_the_run")
    line = one_error_line(outcome, ExitCode.UNREACHABLE)
    assert "engine" in line, line
    assert outcome.seconds < 30
    assert not [x for x in outcome.lines if re.search(r"building|pushing|POST|DELETE", x[1])]


def registry_tags(box: FaultBox, account: str) -> list[str]:
    import json
    import urllib.error
    import urllib.request

    url = f"http://{box.state['registries'][account]}/v2/ghe-backup/tags/list"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return json.loads(answer.read()).get("tags") or []
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return []
        raise

"""Safety in the account, with real processes, real signals and the sandbox's real Lizzy, senza and moto:
the deploy lock, interrupts in each phase, and the right account proven.

Each deploy here is a real ``inv deploy`` process (tests/support/deploy_process.py: the real task
graph and deploy stage; test, image and push are no-ops). A proxy in front of staging's Lizzy
agent holds a request or its answer, so a signal lands in the phase a test wants. After every case
the data volume is unchanged and a following deploy succeeds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghe_backup.delivery.deploy import history, lock, steps
from ghe_backup.delivery.deploy.guard import WrongAccount
from ghe_backup.delivery.deploy.run import deploy_account
from ghe_backup.delivery.deploy.steps import ImageRef
from ghe_backup.delivery.push.records import PushResult, record_push
from ghe_backup.delivery.target import Actor
from ghe_backup.edge.targets import Resolution
from ghe_backup.errors import ExitCode
from ghe_backup.plumbing.statestore import StateTable
from support.slow_proxy import SlowProxy

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
DRIVER = REPO / "tests" / "support" / "deploy_process.py"


@dataclasses.dataclass
class Account:
    root: Path
    name: str = "staging"

    @property
    def target(self):
        return Resolution(self.root).targets([self.name], True)[0]

    def cfn(self):
        return self.target.access().client("cloudformation")

    def stacks(self) -> dict[str, str]:
        return {
            s["StackName"]: s["StackStatus"]
            for s in self.cfn().describe_stacks()["Stacks"]
            if s["StackName"].startswith("ghe-backup-") and s["StackStatus"] != "DELETE_COMPLETE"
        }

    def volume(self) -> dict:
        ec2 = self.target.access().client("ec2")
        [found] = ec2.describe_volumes(Filters=[{"Name": "tag:Name", "Values": ["ghe-backup-data"]}])["Volumes"]
        return {k: found[k] for k in ("VolumeId", "Size", "AvailabilityZone", "CreateTime", "Tags")}

    def store(self) -> StateTable:
        target = self.target
        return StateTable(target.access(), target.settings.state_table, target.name)

    def attempts(self) -> list[dict]:
        return history.read_account(self.store())

    def push(self, tag: str) -> None:
        target = self.target
        record_push(
            target.state_dir,
            PushResult(
                account=self.name,
                registry=target.registry,
                repository=target.repository,
                tag=tag,
                digest="sha256:" + tag.encode().hex().ljust(64, "0")[:64],
                image_id="sha256:1",
                uploaded_bytes=0,
                skipped=True,
                sandbox=True,
                seconds=0.0,
            ),
        )

    def start(self, *args: str) -> subprocess.Popen:
        argv = (
            [sys.executable, str(DRIVER), *args]
            if args
            else [sys.executable, str(DRIVER), "deploy", f"--account={self.name}", "--sandbox", "--yes"]
        )
        env = {**_env(), "GHE_BACKUP_ROOT": str(self.root)}
        return subprocess.Popen(argv, cwd=self.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        process = self.start(*args)
        out, err = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("GHE_BACKUP_DEBUG", "INVOKE_"))}


@pytest.fixture
def account(sandbox_accounts, tmp_path):
    """staging in the sandbox, seen from a copy of the shipped config whose sandbox state can be patched;
    its ghe-backup stacks removed, its lock free, one version ("old1") running."""
    root = tmp_path / "repo"
    for folder in ("config", "senza"):
        shutil.copytree(REPO / folder, root / folder)
    sandbox_dir = REPO / ".sandbox"
    (root / ".sandbox").mkdir(parents=True)
    shutil.copy(sandbox_dir / "state.json", root / ".sandbox" / "state.json")
    (root / ".sandbox" / "pids").symlink_to(sandbox_dir / "pids", target_is_directory=True)
    found = Account(root)
    for name in found.stacks():
        found.cfn().delete_stack(StackName=name)
    found.store().delete(lock.PK, lock.SK)
    found.push("old1")
    first = found.run()
    assert first.returncode == 0, first.stderr
    found.push("new2")
    return found


def point_lizzy_at(account: Account, url: str) -> None:
    path = account.root / ".sandbox" / "state.json"
    state = json.loads(path.read_text())
    state["lizzy"][account.name] = url
    path.write_text(json.dumps(state))


def only_stack(account: Account) -> tuple[str, str]:
    [(name, status)] = account.stacks().items()
    return name, status


def test_two_deploys_started_together_exactly_one_proceeds(account):
    before, volume = only_stack(account), account.volume()
    first, second = account.start(), account.start()
    results = [p.communicate(timeout=120) + (p.returncode,) for p in (first, second)]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, ExitCode.LOCKED], results
    [(_, refused_err, _)] = [r for r in results if r[2] == ExitCode.LOCKED]
    assert "the deploy lock is held by" in refused_err and "nothing changed" in refused_err
    assert "Traceback" not in refused_err
    name, status = only_stack(account)  # exactly one new stack, the old one replaced
    assert name != before[0] and status == "CREATE_COMPLETE"
    assert sorted(a["result"] for a in account.attempts()[-2:]) == ["locked", "succeeded"]
    assert account.volume() == volume and not lock.read(account.store(), "staging").held


def test_a_stale_lock_names_its_holder_and_only_a_forced_release_breaks_it(account):
    dead = lock.new_holder(
        "staging",
        Actor("carol", "old-runner", 999, ci_url="https://ci.example/job/1"),
        operation="deploy",
        ttl=600,
        now=time.time() - 3 * 3600,
    )
    account.store().put(dead.item())
    refused = account.run()
    assert refused.returncode == ExitCode.LOCKED
    assert (
        "the deploy lock is stale: held by carol on old-runner (pid 999, https://ci.example/job/1) for deploy"
        in refused.stderr
    )
    assert "inv lock.release --account=staging --force" in refused.stderr
    shown = account.run("lock.status", "--account=staging", "--sandbox", "--json")
    assert json.loads(shown.stdout)[0]["stale"] is True
    assert account.run("lock.release", "--account=staging", "--sandbox").returncode == ExitCode.LOCKED  # not ours
    released = account.run("lock.release", "--account=staging", "--sandbox", "--force")
    assert released.returncode == 0 and "carol" in released.stdout
    assert account.run().returncode == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "phase, hold, restored",
    [
        ("during the delete", ("DELETE", "request"), True),
        ("between delete and create", ("DELETE", "answer"), True),
        ("during the create", ("POST", "request"), False),
    ],
)
def test_a_signal_in_each_phase_leaves_a_running_version(account, sig, phase, hold, restored):
    old, _ = only_stack(account)
    volume = account.volume()
    with SlowProxy(account.target.lizzy_url) as proxy:
        proxy.holds[hold] = 3.0
        point_lizzy_at(account, proxy.url)
        process = account.start()
        assert proxy.seen[hold].wait(60), "the deploy never got there"
        process.send_signal(sig)
        out, err = process.communicate(timeout=120)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert "Traceback" not in err
    name, status = only_stack(account)
    assert status == "CREATE_COMPLETE"
    if restored:
        assert name == old and f"restored {old}" in err
    else:
        assert name != old and f"finished the create: staging runs {name}" in err
    assert account.volume() == volume
    assert not lock.read(account.store(), "staging").held
    last = account.attempts()[-1]
    assert last["result"] == "interrupted" and last["left"].startswith("runs ")
    point_lizzy_at(account, Resolution(REPO).sandbox_endpoints()["lizzy"]["staging"])
    following = account.run()
    assert following.returncode == 0, following.stderr


def test_a_second_signal_stops_at_once_saying_what_state_the_account_is_in(account):
    old, _ = only_stack(account)
    volume = account.volume()
    with SlowProxy(account.target.lizzy_url) as proxy:
        proxy.holds[("DELETE", "answer")] = 10.0
        point_lizzy_at(account, proxy.url)
        process = account.start()
        assert proxy.seen[("DELETE", "answer")].wait(60)
        process.send_signal(signal.SIGINT)
        time.sleep(0.5)
        stopped = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert time.monotonic() - stopped < 5  # at once, not after the held answer
    assert process.returncode == ExitCode.INTERRUPTED and "Traceback" not in err
    assert f"stopped at once while deleting {old}" in err and "staging may have NO backup instance" in err
    assert "inv deploy --account=staging recovers" in err
    assert not lock.read(account.store(), "staging").held
    assert account.attempts()[-1]["result"] == "interrupted"
    point_lizzy_at(account, Resolution(REPO).sandbox_endpoints()["lizzy"]["staging"])
    following = account.run()
    assert following.returncode == 0, following.stderr
    assert only_stack(account)[1] == "CREATE_COMPLETE" and account.volume() == volume


def test_an_agent_of_another_account_is_refused_even_when_both_are_empty(sandbox_accounts, shipped_tree):
    [staging, prod] = Resolution(shipped_tree).targets(["staging", "prod"], True)
    for target in (staging, prod):
        cfn = target.access().client("cloudformation")
        for stack in cfn.describe_stacks()["Stacks"]:
            if stack["StackName"].startswith("ghe-backup-"):
                cfn.delete_stack(StackName=stack["StackName"])
    wrong = dataclasses.replace(staging, lizzy_url=prod.lizzy_url)  # staging's overlay pointing at prod's agent
    image = ImageRef(tag="wrong1", digest="sha256:" + "12" * 32)
    with pytest.raises(WrongAccount) as excinfo:
        deploy_account(wrong, image, others=[staging, prod], connect=steps.connect, report=lambda line: None)
    message = str(excinfo.value)
    assert excinfo.value.exit_code == ExitCode.BAD_INPUT
    assert "in prod (123456789012), not in staging (210987654321); removed it there" in message
    for target in (staging, prod):
        cfn = target.access().client("cloudformation")
        assert not [
            s
            for s in cfn.describe_stacks()["Stacks"]
            if s["StackName"].startswith("ghe-backup-") and s["StackStatus"] != "DELETE_COMPLETE"
        ]

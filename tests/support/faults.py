"""Test helper: fault injection on private sandboxes, run concurrently, asserted one by one.

A fault scenario is a function of a ``FaultBox`` (a private sandbox, tests/support/private_sandbox.py)
that runs a real ``inv`` process (tests/support/pipeline_process.py), kills or stops a component
(SIGKILL, SIGSTOP) at a chosen phase, and returns what it saw as an ``Outcome``. Scenarios are
registered with ``@scenario(lane, seconds=...)``: scenarios of one lane share a sandbox and run one
after the other in the order they are defined; lanes run at the same time (most scenarios wait out a
deploy budget of retries, so running them one after another would take many minutes). A few
sandboxes start at a time (on 2 cores more at once only slow each other down), the longest lanes
first (``seconds``: what a scenario takes once its sandbox is up), so the suite takes about as long
as its longest lane. The tests/faults conftest starts every lane a selected test needs (its
``fault`` marker names its scenario), and each test asserts on its scenario's outcome.

Components: the processes in the sandbox's ``.sandbox/pids`` (``aws`` is moto, ``lizzy-<account>``,
``registry-<account>``, ``tokeninfo``), and, for a lane that asks for it, a unix-socket proxy in
front of the shared Docker engine (tests/support/socket_proxy.py): the shared engine itself is
never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.private_sandbox import PrivateSandbox

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "tests" / "support" / "pipeline_process.py"
PROXY = REPO / "tests" / "support" / "socket_proxy.py"
#: The budget every fault lane deploys with: deploy_timeout, the shortest the config allows.
BUDGET = 60
#: What a deploy may take at most when a component fails for good: its budget, the restore's
#: own budget (as long as the deploy's), and a margin: a call to a hung AWS endpoint gives up after
#: 2 tries of 10 s (one such call may end after each budget), the history and the lock are written
#: as the deploy ends (2 tries of 5 s each), and the process starts and checks its input.
DEADLINE = BUDGET + BUDGET + 90
#: Seconds the Docker engine may stay silent in the engine lanes (ghe.engine_timeout).
ENGINE_TIMEOUT = 10
#: Sandboxes started at the same time (the longest lanes first).
STARTING = 4


# -- a run of the pipeline ---------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    """What one ``inv`` run did: its exit code, output, how long it took; plus what the scenario saw after."""

    code: int | None
    stdout: str
    stderr: str
    seconds: float
    lines: list[tuple[float, str]]
    hung: bool = False
    after: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    def at(self, pattern: str) -> float | None:
        """When a line matching ``pattern`` appeared (seconds after the start), or None."""
        found = re.compile(pattern)
        return next((when for when, line in self.lines if found.search(line)), None)

    def between(self, start: str, end: str) -> list[str]:
        """The lines after the first matching ``start`` up to the first matching ``end``."""
        begin, stop = self.at(start), self.at(end)
        return [
            line for when, line in self.lines if begin is not None and begin < when and (stop is None or when <= stop)
        ]


class Run:
    """A pipeline process, its stderr read line by line (timed) while it runs."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.started = time.monotonic()
        self.lines: list[tuple[float, str]] = []
        self.seen = threading.Condition()
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stdout: list[str] = []
        self.readers = [
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=lambda: self.stdout.append(self.process.stdout.read()), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def _read_err(self) -> None:
        for line in self.process.stderr:
            with self.seen:
                self.lines.append((time.monotonic() - self.started, line.rstrip("\n")))
                self.seen.notify_all()
        with self.seen:
            self.seen.notify_all()

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        """The first stderr line matching ``pattern``; AssertionError when the run never gets there."""
        found = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.seen:
            while True:
                for _, line in self.lines:
                    if found.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self.readers[0].is_alive()):
                    text = "\n".join(line for _, line in self.lines)
                    raise AssertionError(f"the run never printed {pattern!r}:\n{text}")
                self.seen.wait(min(left, 1.0))

    def resume(self) -> None:
        """Let a process that paused itself (``PAUSED <point>``) go on, once it has stopped: it prints the
        line just before it stops, and a SIGCONT that comes first would be lost."""
        deadline = time.monotonic() + 30
        while _state(self.process.pid) not in ("T", None) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(self.process.pid, signal.SIGCONT)

    def finish(self, timeout: float) -> Outcome:
        """Wait for the end (at most ``timeout`` seconds from the start; then it is killed and marked hung)."""
        hung = False
        try:
            self.process.wait(timeout=max(0.0, self.started + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        seconds = time.monotonic() - self.started
        for reader in self.readers:
            reader.join(timeout=10)
        return Outcome(
            code=self.process.returncode,
            stdout="".join(self.stdout),
            stderr="\n".join(line for _, line in self.lines),
            seconds=round(seconds, 1),
            lines=list(self.lines),
            hung=hung,
        )


# -- a sandbox to break --------------------------------------------------------------------------


class FaultBox:
    """A private sandbox whose components a scenario kills, stops and brings back."""

    def __init__(self, root: Path, port_base: int, *, engine_proxy: bool = False):
        self.sandbox = PrivateSandbox(root, port_base)
        self.root = self.sandbox.root
        for account in ("prod", "staging"):  # the shortest budget the config allows: retries end in a minute
            self.sandbox.edit_overlay(account, {"pipeline": {"deploy_timeout": BUDGET}})
        self.socket = root.parent / f"{root.name}-engine.sock" if engine_proxy else None
        self.proxy: subprocess.Popen | None = None
        self.stopped: list[tuple[str, int]] = []  # (component, pid) left SIGSTOPped, let go at close
        self.closed = False

    @property
    def env(self) -> dict[str, str]:
        env = dict(self.sandbox.env, INVOKE_GHE_ENGINE_TIMEOUT=str(ENGINE_TIMEOUT))
        if self.socket is not None:
            env["DOCKER_HOST"] = f"unix://{self.socket}"
        return env

    @property
    def state(self) -> dict[str, Any]:
        return self.sandbox.state

    # -- the sandbox ---------------------------------------------------------------------------

    def up(self) -> None:
        """Start what is not running (a killed moto comes back empty and seeded again)."""
        if self.socket is not None:
            assert self.proxy is not None and self.proxy.poll() is None, "the engine proxy must run first"
            # with the proxy down, the sandbox would start a dockerd of its own on the proxy's socket
        done = self.inv("sandbox.up")
        assert done.returncode == 0, done.stdout + done.stderr

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for _, pid in self.stopped:
            with_group(pid, signal.SIGCONT)
        if self.socket is not None and (self.proxy is None or self.proxy.poll() is not None):
            self.start_proxy()  # sandbox.down reads the engine's address: keep it answering
        self.inv("sandbox.down", timeout=120)
        self.stop_proxy()

    def inv(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(Path(sys.executable).with_name("inv")), *argv],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run(self, *argv: str, stubs: str = "test,image,push", pause: str = "") -> Run:
        """``inv ARGV`` as a real process (tests/support/pipeline_process.py), with ``stubs`` as no-ops."""
        env = dict(self.env, PIPELINE_STUBS=stubs, PIPELINE_PAUSE=pause)
        return Run([sys.executable, str(DRIVER), *argv], env)

    def deploy(self, account: str, *more: str, pause: str = "", stubs: str = "test,image,push") -> Run:
        return self.run("deploy", f"--account={account}", "--sandbox", "--yes", *more, stubs=stubs, pause=pause)

    # -- components ----------------------------------------------------------------------------

    def pid(self, component: str) -> int | None:
        """The component's pid while it runs; only ever a process this sandbox started (its environment
        names this checkout), never a pid the system gave to someone else since."""
        try:
            pid = int((self.root / ".sandbox" / "pids" / f"{component}.pid").read_text())
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        return pid if f"GHE_BACKUP_ROOT={self.root}".encode() in environ else None

    def kill(self, component: str) -> None:
        pid = self.pid(component)
        if pid is not None:
            with_group(pid, signal.SIGKILL)

    def stop(self, component: str) -> None:
        pid = self.pid(component)
        assert pid is not None, f"{component} is not running"
        with_group(pid, signal.SIGSTOP)
        self.stopped.append((component, pid))

    def cont(self, component: str) -> None:
        for name, pid in list(self.stopped):
            if name == component:
                with_group(pid, signal.SIGCONT)
                self.stopped.remove((name, pid))

    def start_proxy(self, hold_on: str | None = None) -> None:
        """(Re)start the engine proxy; with ``hold_on`` it holds (and prints ``held``) when the engine's
        answer matches."""
        self.stop_proxy()
        assert self.socket is not None
        argv = [sys.executable, str(PROXY), str(self.socket), "/var/run/docker.sock"]
        self.proxy = subprocess.Popen(
            [*argv, *(["--hold-on", hold_on] if hold_on else [])], stdout=subprocess.PIPE, text=True
        )
        assert self.proxy.stdout.readline().strip() == "ready"

    def proxy_held(self, run: Run, timeout: float = 180) -> bool:
        """Wait until the proxy holds (True), or the run ended first (False: it never got there)."""
        assert self.proxy is not None
        ready = threading.Event()
        threading.Thread(target=lambda: (self.proxy.stdout.readline(), ready.set()), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and run.process.poll() is None:
            if ready.wait(0.2):
                return True
        return ready.is_set()

    def stop_proxy(self, sig: signal.Signals = signal.SIGKILL) -> None:
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy.send_signal(sig)
            if sig == signal.SIGKILL:
                self.proxy.wait()
        if sig == signal.SIGKILL:
            self.proxy = None

    # -- the accounts, read directly ----------------------------------------------------------

    def client(self, account: str, service: str) -> Any:
        """A boto3 client acting in ``account`` of this sandbox's moto (a session of its own: thread-safe)."""
        import boto3

        from ghe_backup.sandbox.state import SANDBOX_CREDENTIALS

        endpoint, seeded = self.state["aws_endpoint"], self.state["aws_accounts"][account]
        base = boto3.session.Session(region_name=seeded["region"], **SANDBOX_CREDENTIALS)
        creds = base.client("sts", endpoint_url=endpoint).assume_role(
            RoleArn=f"arn:aws:iam::{seeded['account_id']}:role/sandbox-seeder", RoleSessionName="faults"
        )["Credentials"]
        session = boto3.session.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name=seeded["region"],
        )
        return session.client(service, endpoint_url=endpoint)

    def stacks(self, account: str) -> dict[str, str]:
        """The account's ghe-backup stacks that exist: name -> status."""
        found = self.client(account, "cloudformation").describe_stacks()["Stacks"]
        return {
            s["StackName"]: s["StackStatus"]
            for s in found
            if s["StackName"].startswith("ghe-backup-") and s["StackStatus"] != "DELETE_COMPLETE"
        }

    def volume(self, account: str) -> str | None:
        """The id of the data volume (``ghe-backup-data``) the account has, if it has one."""
        found = self.client(account, "ec2").describe_volumes(
            Filters=[{"Name": "tag:Name", "Values": ["ghe-backup-data"]}]
        )["Volumes"]
        return found[0]["VolumeId"] if len(found) == 1 else None

    def lock_held(self, account: str) -> bool:
        item = self.client(account, "dynamodb").get_item(
            TableName="ghe-backup-state", Key={"pk": {"S": "lock"}, "sk": {"S": "deploy"}}
        )
        return "Item" in item

    def history(self, account: str) -> list[dict[str, Any]]:
        """This machine's copy of the account's deploy history (each attempt's last record)."""
        from ghe_backup.delivery.deploy import history

        return history.read(self.root / ".state", account)

    def record_push(self, account: str, tag: str, digest: str | None = None) -> None:
        """Say ``tag`` was pushed for ``account`` (what a deploy with push stubbed deploys); ``digest``:
        the one it has in the registry (default: a made-up one: nothing is pulled in the sandbox)."""
        from ghe_backup.delivery.push.records import PushResult, record_push

        registry = self.state["registries"][account]
        record_push(
            self.root / ".state",
            PushResult(
                account=account,
                registry=registry,
                repository=f"{registry}/ghe-backup",
                tag=tag,
                digest=digest or "sha256:" + tag.encode().hex().ljust(64, "0")[:64],
                image_id="sha256:1",
                uploaded_bytes=0,
                skipped=True,
                sandbox=True,
                seconds=0.0,
            ),
        )

    def push_tiny_image(self, account: str, tag: str) -> str:
        """A tiny image (one small file) really in the account's registry as ``ghe-backup:TAG``, recorded as
        pushed: a rollback to it finds it with its digest, at a fraction of a real build and push's cost."""
        import io
        import tarfile

        import docker

        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo(f"fault-{tag}")
            info.size = len(tag)
            tar.addfile(info, io.BytesIO(tag.encode()))
        repository = f"{self.state['registries'][account]}/ghe-backup"
        engine = docker.APIClient(base_url=self.state["docker_host"], version="auto")
        try:
            engine.import_image_from_data(data.getvalue(), repository=repository, tag=tag)
            records = list(engine.push(repository, tag, stream=True, decode=True))
        finally:
            engine.remove_image(f"{repository}:{tag}", force=True)
            engine.close()
        [digest] = [r["aux"]["Digest"] for r in records if isinstance(r.get("aux"), dict) and "Digest" in r["aux"]]
        return digest

    def running(self, account: str, tag: str, digest: str | None = None) -> str:
        """Deploy ``tag`` (push stubbed; ``digest``: see ``record_push``) so the account runs a version; its stack's name."""
        self.record_push(account, tag, digest)
        done = self.deploy(account).finish(180)
        assert done.code == 0, done.stderr
        [(name, status)] = self.stacks(account).items()
        assert status == "CREATE_COMPLETE"
        return name


def with_group(pid: int, sig: signal.Signals) -> None:
    """Signal a sandbox process and what it started (it runs in a session of its own)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _state(pid: int) -> str | None:
    """A process's state letter (R, S, T for stopped, ...), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


# -- scenarios and lanes -----------------------------------------------------------------------


@dataclasses.dataclass
class Scenario:
    name: str
    lane: str
    run: Callable[[FaultBox], Outcome]
    seconds: float


class InTurn:
    """At most ``slots`` holders at once, let in in the order of their tickets (0, 1, 2, ...)."""

    def __init__(self, slots: int):
        self.slots, self.next = slots, 0
        self.changed = threading.Condition()

    @contextlib.contextmanager
    def admit(self, ticket: int) -> Any:
        with self.changed:
            self.changed.wait_for(lambda: self.next == ticket and self.slots > 0)
            self.next, self.slots = self.next + 1, self.slots - 1
            self.changed.notify_all()
        try:
            yield
        finally:
            with self.changed:
                self.slots += 1
                self.changed.notify_all()


@dataclasses.dataclass
class Lane:
    name: str
    engine_proxy: bool = False


SCENARIOS: dict[str, Scenario] = {}
LANES: dict[str, Lane] = {}


def scenario(
    lane: str, *, seconds: float, engine_proxy: bool = False
) -> Callable[[Callable[[FaultBox], Outcome]], Any]:
    """Register a scenario in ``lane`` (a lane asking for the engine proxy gets it from its start).
    ``seconds``: about what it takes on 2 cores (a lane's sum orders the sandboxes' start)."""

    def register(run: Callable[[FaultBox], Outcome]) -> Callable[[FaultBox], Outcome]:
        SCENARIOS[run.__name__] = Scenario(run.__name__, lane, run, seconds)
        known = LANES.setdefault(lane, Lane(lane))
        known.engine_proxy = known.engine_proxy or engine_proxy
        return run

    return register


class Runner:
    """Runs the lanes of the wanted scenarios at once, each in a sandbox of its own; outcomes by name."""

    def __init__(self, workdir: Path, wanted: list[str]):
        self.workdir = workdir
        order = list(SCENARIOS)  # definition order within a lane
        self.lanes: dict[str, list[Scenario]] = {}
        for name in sorted(wanted, key=order.index):
            self.lanes.setdefault(SCENARIOS[name].lane, []).append(SCENARIOS[name])
        self.results: dict[str, Outcome | BaseException] = {}
        self.done: dict[str, threading.Event] = {name: threading.Event() for name in wanted}
        self.boxes: list[FaultBox] = []
        self.threads: list[threading.Thread] = []
        self.started = time.monotonic()
        self.marks: list[str] = []  # when each lane got where (the summary at the end)
        self.starting = InTurn(STARTING)

    def start(self) -> None:
        from support.private_sandbox import free_port_base

        bases, first = [], 7300
        for _ in self.lanes:  # distinct, free port bases, chosen before any sandbox starts
            base = free_port_base(first)
            bases.append(base)
            first = base + 131
        # the longest lanes (of the scenarios wanted) get their sandbox first
        lanes = sorted(self.lanes.items(), key=lambda item: -sum(s.seconds for s in item[1]))
        for ticket, ((lane, scenarios), base) in enumerate(zip(lanes, bases, strict=True)):
            thread = threading.Thread(target=self._lane, args=(lane, scenarios, base, ticket), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _lane(self, lane: str, scenarios: list[Scenario], base: int, ticket: int) -> None:
        box: FaultBox | None = None
        try:
            # a few at a time, in turn: on 2 cores, eleven at once delay every one of them
            with self.starting.admit(ticket):
                root = self.workdir / lane
                root.mkdir()
                box = FaultBox(root, base, engine_proxy=LANES[lane].engine_proxy)
                self.boxes.append(box)
                if box.socket is not None:
                    box.start_proxy()
                box.up()
            self.marks.append(f"lane {lane}: sandbox up at {time.monotonic() - self.started:.0f}s")
        except BaseException as err:  # every scenario of the lane reports it
            for item in scenarios:
                self.results[item.name] = err
                self.done[item.name].set()
            return
        for item in scenarios:
            try:
                self.results[item.name] = item.run(box)
            except BaseException as err:
                self.results[item.name] = err
            self.marks.append(f"lane {lane}: {item.name} done at {time.monotonic() - self.started:.0f}s")
            self.done[item.name].set()
        with contextlib.suppress(Exception):  # down while other lanes still run (close() reports nothing)
            box.close()

    def outcome(self, name: str, timeout: float = 900) -> Outcome:
        assert name in self.done, f"scenario {name} was not started (is the test marked fault({name!r})?)"
        assert self.done[name].wait(timeout), f"scenario {name} did not end within {timeout}s"
        result = self.results[name]
        if isinstance(result, BaseException):  # its traceback as text: one exception object fails one test
            text = "".join(traceback.format_exception(result))
            raise AssertionError(f"scenario {name} could not run:\n{text}")
        return result

    def close(self) -> None:
        for thread in self.threads:
            thread.join(timeout=900)
        for box in self.boxes:
            with contextlib.suppress(Exception):  # a sandbox that cannot stop must not hide the tests' results
                box.close()
        print(f"\nfault lanes: {time.monotonic() - self.started:.0f}s in all", file=sys.stderr)
        for mark in self.marks:
            print(f"  {mark}", file=sys.stderr)
        for name, result in self.results.items():
            if isinstance(result, Outcome):
                said = result.errors[0] if result.errors else "(no error line)"
                print(f"  {name}: exit {result.code} after {result.seconds}s: {said}", file=sys.stderr)
            else:
                print(f"  {name}: {type(result).__name__}: {result}", file=sys.stderr)


# -- the scenarios' common shape: staging replaced, a fault on the way ---------------------------


def replace_version(box: FaultBox, pause: str, fault: Callable[[Run], None]) -> Outcome:
    """staging runs a version ("old1"); a deploy of "new2" pauses at ``pause``, ``fault(run)`` is done,
    the deploy goes on. The outcome knows the old stack (``old``) and the volume before."""
    old = box.running("staging", "old1")
    volume = box.volume("staging")
    box.record_push("staging", "new2")
    run = box.deploy("staging", pause=pause)
    run.wait_for(f"^PAUSED {pause}$")
    fault(run)
    outcome = run.finish(DEADLINE + 60)
    outcome.after.update(old=old, volume_before=volume)
    return outcome


def look(box: FaultBox, outcome: Outcome, *, history: bool = True) -> Outcome:
    """What staging has after the run: stacks, volume, whether its lock is held (and its last history entry)."""
    outcome.after.update(stacks=box.stacks("staging"), volume=box.volume("staging"), lock_held=box.lock_held("staging"))
    if history:
        outcome.after["history"] = box.history("staging")[-1]
    return outcome


def settle(box: FaultBox, done: Callable[[dict[str, str]], bool], seconds: float = 60) -> dict[str, str]:
    """staging's stacks once two looks 3 s apart agree and ``done`` says so (or after ``seconds``)."""
    settled, deadline = None, time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = box.stacks("staging")
        if now == settled and done(now):
            break
        settled = now
        time.sleep(3)
    return box.stacks("staging")


def deploy_again(box: FaultBox, outcome: Outcome) -> Outcome:
    """What the error line says to run: another deploy of staging, and the stacks after it."""
    following = box.deploy("staging").finish(180)
    outcome.after.update(following=following, stacks_after_following=box.stacks("staging"))
    return outcome


# -- what every fault must look like ------------------------------------------------------------


def one_error_line(outcome: Outcome, code: int) -> str:
    """The run's one error line, after checking its exit code, no traceback and no hang."""
    assert not outcome.hung, f"still running after its deadline:\n{outcome.stderr}"
    assert outcome.code == code, f"exit {outcome.code}, wanted {code}:\n{outcome.stderr}"
    assert "Traceback" not in outcome.stderr, outcome.stderr
    [line] = outcome.errors or [""]
    assert line, f"no error line:\n{outcome.stderr}"
    return line

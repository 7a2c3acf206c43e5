"""The test stage: the fast unit tests (no sandbox), the pipeline's gate.

Runs pytest on the unit selection, on every core (pytest-xdist). A pass is recorded against the
hash of what the tests read (``inputs.gate_key``); with ``reuse`` (the stage as a prerequisite
of image/push/deploy, or ``inv test --reuse``) a run whose inputs passed before is skipped,
saying so with the hash. Named directly, ``inv test`` always runs the tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ghe_backup.delivery.gate import passes
from ghe_backup.delivery.gate.inputs import GateKey, gate_key
from ghe_backup.errors import StageFailed, UsageError
from ghe_backup.plumbing import deferred
from ghe_backup.plumbing.command import CommandFailed, CommandTimedOut, run
from ghe_backup.plumbing.progress import say

UNIT_SELECTION = ("-m", "not integration and not process")
#: The gate takes seconds; this only stops a hung test from hanging the pipeline.
TIMEOUT = 900.0


@dataclass(frozen=True)
class GateResult:
    ran: bool  # False: skipped, these inputs passed before
    key: str | None  # the inputs' hash (None outside a git checkout: nothing is remembered)
    seconds: float
    workers: int  # pytest-xdist workers (0: in one process)


def workers_wanted() -> int:
    """pytest-xdist workers: one per usable core, none (a single process) on one core or without
    xdist. The tests hardly wait any more (events instead of sleeps), so a worker more than the
    cores only adds its start-up (about 1 s of CPU: Python, pytest, collecting every test); on 2
    cores 2 and 3 workers took the same wall time, 3 about 1.5 s more CPU (docs/benchmarks.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if cores < 2 or importlib.util.find_spec("xdist") is None:
        return 0
    return cores


def pytest_command(selection: list[str], workers: int) -> list[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection]
    # worksteal: idle workers take queued tests from busy ones, so a few slow tests don't leave a core idle
    return command + (["-n", str(workers), "--dist", "worksteal"] if workers else [])


def junit_args(junit: Path | None) -> list[str]:
    """pytest's own JUnit XML report: one <testcase> per test run (a CI shows it per test).

    Kept apart from the selection and the gate's key: where the report goes does not change what is tested.
    """
    if junit is None:
        return []
    path = Path(junit).resolve()  # relative to where inv was started, not to the checkout pytest runs in
    if path.is_dir():
        raise UsageError(
            f"--junit: {junit} is a directory", hint="name the report file, e.g. --junit=reports/junit.xml"
        )
    return [f"--junitxml={path}", "-o", "junit_suite_name=ghe-backup", "-o", "junit_family=xunit2"]


def run_unit_tests(
    root: Path,
    extra_args: list[str] | None = None,
    *,
    reuse: bool = False,
    workers: int | None = None,
    junit: Path | None = None,
    report: Callable[[str], None] = say,
) -> GateResult:
    """Run the unit selection (plus ``extra_args``) in ``root``; with ``reuse``, skip a recorded pass.

    With ``junit`` the tests always run (a remembered pass has no report to write) and pytest's
    JUnit XML report is written there.
    """
    started = time.monotonic()
    selection = [*UNIT_SELECTION, *(extra_args or [])]
    state_dir = root / ".state"
    key = gate_key(root, selection)
    if key is None:
        report("test: not a git checkout, so passes are not remembered; running the tests")
    elif reuse and junit is None:
        found = passes.passed_before(state_dir, key.digest)
        if found is not None:
            report(
                f"test: skipped: these inputs passed at {found.at} (hash {key.short}, {key.files} files; "
                f"run `inv test` to run them anyway)"
            )
            return GateResult(ran=False, key=key.digest, seconds=round(time.monotonic() - started, 2), workers=0)
    deferred.before_change()  # the checks a deploy left for its first change (the agents' tokens)
    workers = workers_wanted() if workers is None else workers
    _run_pytest(root, pytest_command(selection, workers) + junit_args(junit))
    seconds = time.monotonic() - started
    if key is not None:
        _remember(root, state_dir, key, seconds, report)
    return GateResult(ran=True, key=key.digest if key else None, seconds=round(seconds, 2), workers=workers)


def _run_pytest(root: Path, command: list[str]) -> None:
    # Follow sys.stdout: when `test` runs as a prerequisite its output belongs on stderr.
    # Ctrl-C (KeyboardInterrupt) and a timeout propagate: only a run that got here passed.
    try:
        with _terminated_as_interrupted():
            run(command, what="unit tests", cwd=root, env=_env(), timeout=TIMEOUT, capture=False, stdout=_stdout_fd())
    except CommandTimedOut:
        raise
    except CommandFailed as err:
        raise StageFailed(
            f"unit tests failed (pytest exit {err.returncode})", hint="see the test output above"
        ) from None


@contextlib.contextmanager
def _terminated_as_interrupted() -> Iterator[None]:
    """SIGTERM (a cancelled CI job) stops pytest as Ctrl-C does, instead of leaving it running orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _remember(root: Path, state_dir: Path, key: GateKey, seconds: float, report: Callable[[str], None]) -> None:
    after = gate_key(root, key.selection)
    if after is None or after.digest != key.digest:  # what passed is not what is there now
        report("test: passed, but the inputs changed while the tests ran; this pass is not remembered")
        return
    passes.record_pass(state_dir, key.digest, seconds=seconds, files=key.files, selection=list(key.selection))
    report(f"test: passed; recorded for inputs {key.short} ({key.files} files)")


def _env() -> dict[str, str]:
    """The caller's environment, with byte-code caching on and the tests' scratch files in memory.

    With PYTHONDONTWRITEBYTECODE every worker compiles every module and pytest rewrites every test
    module again (about 1.4 s of CPU per process here). The caches go to ``__pycache__``, which
    git, the image and the key ignore. Without a TMPDIR of the caller's, the tests' temporary
    directories go to ``/dev/shm`` when it is a writable memory file system with room: a run
    makes and later removes about 6,000 files, which cost 2.5 s of system time on this machine's
    disk and almost nothing in memory (``scratch_dir``).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    scratch = scratch_dir(env)
    if scratch is not None:
        env["TMPDIR"] = scratch
    return env


#: Room the tests' scratch needs in memory: pytest keeps the last three runs (about 25 MB each).
SCRATCH_ROOM = 512 * 1024 * 1024


def scratch_dir(env: dict[str, str], memory: Path = Path("/dev/shm")) -> str | None:
    """Where the tests' temporary directories go, when not the caller's choice: ``memory`` if it
    is a writable directory with ``SCRATCH_ROOM`` free; else None (the system's default)."""
    if env.get("TMPDIR"):
        return None
    try:
        if not (memory.is_dir() and os.access(memory, os.W_OK | os.X_OK)):
            return None
        room = os.statvfs(memory)
    except OSError:
        return None
    return str(memory) if room.f_bavail * room.f_frsize >= SCRATCH_ROOM else None


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: inherit fd 1
        return None

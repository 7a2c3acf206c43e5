"""The test stage: the fast unit tests (no sandbox), the pipeline's gate."""

from __future__ import annotations

import sys
from pathlib import Path

from ghe_backup.errors import StageFailed, UsageError
from ghe_backup.plumbing.command import CommandFailed, CommandTimedOut, run

UNIT_SELECTION = "not integration"
#: The gate takes well under a minute; this only stops a hung test from hanging the pipeline.
TIMEOUT = 900.0


def junit_args(junit: Path | None) -> list[str]:
    """pytest's own JUnit XML report: one <testcase> per test run (a CI shows it per test).

    Kept apart from the selection: where the report goes does not change what is tested.
    """
    if junit is None:
        return []
    path = Path(junit).resolve()  # relative to where inv was started, not to the checkout pytest runs in
    if path.is_dir():
        raise UsageError(
            f"--junit: {junit} is a directory", hint="name the report file, e.g. --junit=reports/junit.xml"
        )
    return [f"--junitxml={path}", "-o", "junit_suite_name=ghe-backup", "-o", "junit_family=xunit2"]


def run_unit_tests(root: Path, extra_args: list[str] | None = None, *, junit: Path | None = None) -> None:
    """Run the unit selection in ``root``; with ``junit``, also write the JUnit XML report there."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        UNIT_SELECTION,
        "-p",
        "no:cacheprovider",
        *(extra_args or []),
        *junit_args(junit),
    ]
    # Follow sys.stdout: when `test` runs as a prerequisite its output belongs on stderr.
    try:
        run(command, what="unit tests", cwd=root, timeout=TIMEOUT, capture=False, stdout=_stdout_fd())
    except CommandTimedOut:
        raise
    except CommandFailed as err:
        raise StageFailed(
            f"unit tests failed (pytest exit {err.returncode})", hint="see the test output above"
        ) from None


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: inherit fd 1
        return None

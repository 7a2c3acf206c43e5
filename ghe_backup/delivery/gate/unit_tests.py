"""The test stage: the fast unit tests (no sandbox), the pipeline's gate."""

from __future__ import annotations

import sys
from pathlib import Path

from ghe_backup.errors import StageFailed
from ghe_backup.plumbing.command import CommandFailed, CommandTimedOut, run

UNIT_SELECTION = "not integration"
#: The gate takes well under a minute; this only stops a hung test from hanging the pipeline.
TIMEOUT = 900.0


def run_unit_tests(root: Path, extra_args: list[str] | None = None) -> None:
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

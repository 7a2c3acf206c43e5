"""The pipeline's test stage: the fast unit tests (no sandbox, under a minute)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ghe_backup.errors import StageFailed

UNIT_SELECTION = "not integration"


def run_unit_tests(root: Path, extra_args: list[str] | None = None) -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-m", UNIT_SELECTION, "-p", "no:cacheprovider", *(extra_args or [])]
    # Follow sys.stdout: when `test` runs as a prerequisite its output belongs on stderr.
    result = subprocess.run(command, cwd=root, check=False, stdout=_stdout_fd())
    if result.returncode != 0:
        raise StageFailed(f"unit tests failed (pytest exit {result.returncode})", hint="see the test output above")


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream: inherit fd 1
        return None

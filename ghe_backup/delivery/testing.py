"""The pipeline's test stage: the fast unit tests (no sandbox, under a minute)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ghe_backup.errors import StageFailed

UNIT_SELECTION = "not integration"


def run_unit_tests(root: Path, extra_args: list[str] | None = None) -> None:
    command = [sys.executable, "-m", "pytest", "-q", "-m", UNIT_SELECTION, "-p", "no:cacheprovider", *(extra_args or [])]
    result = subprocess.run(command, cwd=root, check=False)
    if result.returncode != 0:
        raise StageFailed(f"unit tests failed (pytest exit {result.returncode})", hint="see the test output above")

"""Test helper: a tiny git checkout with its own unit tests, for the test stage's own tests.

Its one test appends a line to the file named by ``GATE_RUNS`` (outside the checkout), so a
test can count how often pytest really ran; ``GATE_RED=1`` makes it fail.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.context_repo import commit_all

TINY_TEST = """import os


def test_counts_its_runs():
    with open(os.environ["GATE_RUNS"], "a") as out:
        out.write("ran\\n")
    assert os.environ.get("GATE_RED") != "1"
    if os.environ.get("GATE_TMPDIR"):  # where this run's temporary files go
        with open(os.environ["GATE_TMPDIR"], "w") as out:
            out.write(os.environ.get("TMPDIR", ""))
"""


def make_test_repo(root: Path) -> Path:
    """``root`` as a committed git checkout: a test, a lock, a module, ignored ``.state/``."""
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_tiny.py").write_text(TINY_TEST)
    (root / "requirements.lock").write_text("pytest==8\n")
    (root / "module.py").write_text("VALUE = 1\n")
    (root / ".gitignore").write_text(".state/\nignored/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    commit_all(root, "tiny")
    return root


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0

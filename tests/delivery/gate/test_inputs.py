"""The gate's key: what changes the hash of the unit tests' inputs, and what does not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ghe_backup.delivery.gate import inputs
from ghe_backup.delivery.gate.inputs import gate_key
from support.context_repo import commit_all
from support.gate_repo import make_test_repo

SELECTION = ["-m", "not integration"]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return make_test_repo(tmp_path_factory.mktemp("gate-inputs") / "repo")


@pytest.fixture
def repo(template, tmp_path):
    """A fresh copy of the tiny checkout for each test (copying beats three git commands)."""
    return Path(shutil.copytree(template, tmp_path / "repo", symlinks=True))


def key(repo, selection=SELECTION):
    return gate_key(repo, selection).digest


def test_the_key_is_stable_and_counts_every_file(repo):
    first = gate_key(repo, SELECTION)
    assert first == gate_key(repo, SELECTION) and len(first.digest) == 64
    assert first.files == 4  # .gitignore, module.py, requirements.lock, tests/test_tiny.py
    assert first.short == first.digest[:12]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda r: (r / "module.py").write_text("VALUE = 2\n"), id="a tracked file edited, uncommitted"),
        pytest.param(lambda r: (r / "tests" / "test_tiny.py").write_text("def test_x(): pass\n"), id="a test edited"),
        pytest.param(lambda r: (r / "new.py").write_text("X = 1\n"), id="an untracked file that is not ignored"),
        pytest.param(lambda r: (r / "module.py").unlink(), id="a tracked file deleted"),
        pytest.param(lambda r: (r / "module.py").chmod(0o755), id="the executable bit"),
        pytest.param(lambda r: (r / "requirements.lock").write_text("pytest==9\n"), id="the lock"),
        pytest.param(lambda r: (r / "module.py").rename(r / "renamed.py"), id="a rename"),
    ],
)
def test_what_changes_the_key(repo, change):
    before = key(repo)
    change(repo)
    assert key(repo) != before


def test_a_dirty_tree_is_hashed_as_it_is_not_as_committed(repo):
    (repo / "module.py").write_text("VALUE = 2\n")
    dirty = key(repo)
    commit_all(repo, "the same content, committed")
    assert key(repo) == dirty  # content, not commits: committing what passed keeps the pass


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(
            lambda r: (r / ".state").mkdir() or (r / ".state" / "x.json").write_text("{}"), id="ignored state"
        ),
        pytest.param(lambda r: (r / "ignored").mkdir() or (r / "ignored" / "a.py").write_text("A = 1"), id="ignored"),
        pytest.param(lambda r: os.utime(r / "module.py", (0, 0)), id="a timestamp"),
        pytest.param(
            lambda r: (r / "__pycache__").mkdir() or (r / "__pycache__" / "m.pyc").write_bytes(b"x"), id="byte-code"
        ),
        pytest.param(lambda r: subprocess.run(["git", "add", "-A"], cwd=r, check=True), id="staging"),
    ],
)
def test_what_does_not_change_the_key(repo, change):
    before = key(repo)
    change(repo)
    assert key(repo) == before


def test_the_lock_counts_even_when_git_ignores_it(repo):
    (repo / ".gitignore").write_text(".state/\nignored/\nrequirements.lock\n")
    subprocess.run(["git", "rm", "-q", "--cached", "requirements.lock"], cwd=repo, check=True)
    before = key(repo)
    (repo / "requirements.lock").write_text("pytest==9\n")
    assert key(repo) != before


def test_the_selection_and_the_python_are_part_of_the_key(repo, monkeypatch):
    before = key(repo)
    assert key(repo, ["-m", "integration"]) != before
    assert key(repo, [*SELECTION, "tests/test_tiny.py"]) != before
    real = inputs.python_identity()
    monkeypatch.setattr(inputs, "python_identity", lambda: ["3.12.0 (main)", *real[1:]])
    assert key(repo) != before
    monkeypatch.setattr(inputs, "python_identity", lambda: [*real, "newpackage==1.0"])
    assert key(repo) != before


def test_the_python_identity_names_the_version_and_what_is_installed():
    import sys

    identity = inputs.python_identity()
    from importlib import metadata

    assert identity[0] == sys.version and f"pytest-{metadata.version('pytest')}" in identity
    assert f"pyyaml-{metadata.version('pyyaml')}" in identity  # PyYAML-6.0.x.dist-info, lowered


def test_outside_a_git_checkout_there_is_no_key(tmp_path):
    (tmp_path / "module.py").write_text("VALUE = 1\n")
    assert gate_key(tmp_path, SELECTION) is None

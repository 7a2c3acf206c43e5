"""Shared fixtures. Integration fixtures (real services) live beside the tests that need them."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest

# The debug switches of whoever runs the tests (GHE_BACKUP_DEBUG=1 on a deploy, INVOKE_DEBUG) must
# change no test's outcome, and the gate runs these tests inside such a deploy. They are dropped
# here, before Invoke is imported (INVOKE_DEBUG turns on its logging at import); tests of debug
# output set them themselves. Subprocesses (the installed inv) inherit the cleaned environment.
for _name in ("GHE_BACKUP_DEBUG", "INVOKE_DEBUG"):
    os.environ.pop(_name, None)

REPO = Path(__file__).resolve().parents[1]
#: The tests' own config tree (a senza base, defaults, prod and staging overlays): the gate tests
#: the code, never the operators' settings in config/.
FIXTURE_TREE = Path(__file__).resolve().parent / "data" / "tree"


def pytest_collection_finish(session):
    """What collection imported (pytest, boto3's models, every module) lives to the end: moved out
    of the garbage collector's sight, so its full collections during the tests and at exit walk only
    what the tests made (the gate: about 1.5 s less CPU over its workers)."""
    gc.freeze()


@pytest.fixture
def config_tree(tmp_path, monkeypatch):
    """A copy of the fixture config tree in a temp dir: the working directory and GHE_BACKUP_ROOT."""
    for folder in ("config", "senza"):
        shutil.copytree(FIXTURE_TREE / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GHE_BACKUP_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture
def shipped_tree(tmp_path, monkeypatch):
    """A copy of the repo's own config/ and senza/, seeing the repo's sandbox (integration tests: the
    sandbox is seeded from the shipped accounts)."""
    for folder in ("config", "senza"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    (tmp_path / ".sandbox").symlink_to(REPO / ".sandbox", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GHE_BACKUP_ROOT", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def sandbox_engine_registry():
    """The sandbox's Docker engine, registry and offline base image (integration tests).

    Reuses what already runs; at the end stops only what this fixture started. Yields the
    sandbox state (``endpoints``: docker_host, registries (account -> host:port), base_image).
    """
    from ghe_backup.sandbox import SandboxState, baseimage, engine, registry

    components = (engine, registry, baseimage)
    state = SandboxState.load(REPO)
    started = [c for c in components if not c.is_up(state)]
    for component in components:
        component.start(state)
    mine = {k: state.endpoints[k] for k in ("docker_host", "registries", "base_image")}
    current = SandboxState.load(REPO)  # others may have written meanwhile: merge only our keys
    current.endpoints.update(mine)
    current.save()
    yield state
    for component in reversed(started):
        component.stop(state)


@pytest.fixture(scope="session")
def sandbox_accounts():
    """The sandbox's emulated AWS accounts, token-info endpoint and Lizzy agents (integration tests).

    Reuses what already runs; at the end stops only what this fixture started. Yields the
    endpoints (aws_endpoint, aws_accounts, lizzy, token_env, token_file, tokeninfo).
    """
    from ghe_backup.sandbox import SandboxState, aws, lizzy, tokeninfo

    components = (aws, tokeninfo, lizzy)
    state = SandboxState.load(REPO)
    started = [c for c in components if not c.is_up(state)]
    for component in components:
        component.start(state)
    keys = ("aws_endpoint", "aws_accounts", "lizzy", "token_env", "token_file", "tokeninfo")
    current = SandboxState.load(REPO)  # others may have written meanwhile: merge only our keys
    current.endpoints.update({k: state.endpoints[k] for k in keys})
    current.save()
    yield state
    for component in reversed(started):
        component.stop(state)

"""Shared fixtures. Integration fixtures (real services) live beside the tests that need them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_tree(tmp_path, monkeypatch):
    """A copy of the repo's config/ and senza/ in a temp dir (the working directory for the test)."""
    for folder in ("config", "senza"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    return tmp_path

"""Test helper: a temporary git repo holding this checkout's build context (stable tags in tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from invoke import Config

from ghe_backup.delivery.tagging import context_files

REPO = Path(__file__).resolve().parents[2]


def commit_all(root: Path, message: str) -> None:
    for args in (["add", "-A"], ["commit", "-qm", message]):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True)


def make_repo(root: Path) -> Path:
    """A git repo holding the current build context of this checkout, committed."""
    for name in context_files(REPO):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    (root / ".gitignore").write_text(".state/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    commit_all(root, "context")
    return root


def sandbox_config(state) -> Config:
    """Invoke config building on the sandbox's base image with the stand-in backup-utils."""
    return Config(overrides={"ghe": {"image": {"base_image": state.endpoints["base_image"], "backup_utils_source": "context"}}})

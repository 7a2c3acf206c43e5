"""Test helper: a temporary git repo holding this checkout's build context (stable tags in tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ghe_backup.delivery.image.args import build_args
from ghe_backup.delivery.image.context import context_files
from ghe_backup.delivery.target import AwsEndpoint, BuildSite, Target

REPO = Path(__file__).resolve().parents[2]
FIXTURE_TREE = REPO / "tests" / "data" / "tree"


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


def sandbox_site(root: Path, state, **changes) -> BuildSite:
    """Building ``root`` on the sandbox's engine and base image with the stand-in backup-utils."""
    from ghe_backup.edge.settings import pip_cert

    args = build_args({"base_image": state.endpoints["base_image"], "backup_utils_source": "context"})
    changes.setdefault("pip_cert", pip_cert(None))  # the host's CAs, as the edge would resolve them
    return BuildSite(root=root, docker_host=state.endpoints.get("docker_host"), build_args=args, **changes)


def registry_targets(site: BuildSite, registry: str, *names: str) -> list[Target]:
    """The fixture tree's accounts, pushing to ``registry`` from ``site``."""
    from ghe_backup.delivery.config import load_accounts

    accounts = load_accounts(FIXTURE_TREE)
    return [
        Target(account=accounts[n], build=site, registry=registry, aws=AwsEndpoint(), lizzy_url=None) for n in names
    ]

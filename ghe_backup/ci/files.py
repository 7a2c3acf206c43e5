"""Writing the generated CI files, and comparing them with what is in the checkout."""

from __future__ import annotations

import difflib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ghe_backup.ci import github, jenkins
from ghe_backup.ci.layout import layout
from ghe_backup.delivery.config import AccountConfig
from ghe_backup.errors import StageFailed


@dataclass(frozen=True)
class GeneratedFile:
    path: str  # relative to the checkout
    text: str = field(repr=False)
    generator: str  # the task that writes it, e.g. "ci.github"


@dataclass(frozen=True)
class FileState:
    """One generated file in the checkout: ``written``, ``unchanged``, ``up to date`` or ``stale``."""

    path: str
    state: str
    generator: str
    diff: str = field(default="", repr=False)


def github_files(accounts: dict[str, AccountConfig]) -> list[GeneratedFile]:
    return [GeneratedFile(p, t, "ci.github") for p, t in github.workflows(layout(accounts)).items()]


def jenkins_files(accounts: dict[str, AccountConfig]) -> list[GeneratedFile]:
    return [GeneratedFile(p, t, "ci.jenkins") for p, t in jenkins.files(layout(accounts)).items()]


def _current(root: Path, path: str) -> str | None:
    try:
        return (root / path).read_text()
    except FileNotFoundError:
        return None


def write_files(root: Path, files: list[GeneratedFile]) -> list[FileState]:
    """Write each file (atomically) where its text changed."""
    states = []
    for generated in files:
        if _current(root, generated.path) == generated.text:
            states.append(FileState(generated.path, "unchanged", generated.generator))
            continue
        target = root / generated.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=f".{target.name}.", delete=False) as tmp:
            tmp.write(generated.text)
        os.replace(tmp.name, target)
        states.append(FileState(generated.path, "written", generated.generator))
    return states


def check_files(root: Path, files: list[GeneratedFile]) -> list[FileState]:
    """Each file's state against the checkout; ``StageFailed`` naming the stale ones and the fix."""
    states = []
    for generated in files:
        current = _current(root, generated.path)
        if current == generated.text:
            states.append(FileState(generated.path, "up to date", generated.generator))
            continue
        diff = "".join(
            difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                generated.text.splitlines(keepends=True),
                fromfile=f"{generated.path} (checkout)" if current is not None else "/dev/null",
                tofile=f"{generated.path} (generated now)",
            )
        )
        states.append(
            FileState(generated.path, "stale" if current is not None else "missing", generated.generator, diff)
        )
    return states


def require_current(states: list[FileState]) -> None:
    stale = [s for s in states if s.state in ("stale", "missing")]
    if stale:
        names = ", ".join(f"{s.path} ({s.state})" for s in stale)
        fixes = " and ".join(f"inv {g}" for g in dict.fromkeys(s.generator for s in stale))
        raise StageFailed(
            f"generated CI files differ from what config/accounts gives now: {names}",
            hint=f"run {fixes} and commit the result",
        )

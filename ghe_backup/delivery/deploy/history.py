"""The deploy history: one JSON line per attempt in ``.state/history.jsonl``, successful or not."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"
RESULTS = ("succeeded", "failed", "restored", "refused", "unreachable", "timeout")


def current_user() -> str:
    """Who deploys: ``GHE_BACKUP_USER`` (CI sets it), else the login name."""
    try:
        return os.environ.get("GHE_BACKUP_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class Attempt:
    time: str
    account: str
    deployer: str
    sandbox: bool
    user: str = field(default_factory=current_user)
    stack_version: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    ami: str | None = None
    replaced: list[str] = field(default_factory=list)
    result: str = "started"  # one of RESULTS
    duration: float = 0.0
    reason: str = ""


def append(state_dir: Path, attempt: Attempt) -> None:
    path = state_dir / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(attempt), sort_keys=False) + "\n")


def read(state_dir: Path, account: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Attempts, oldest first; lines that are not JSON (a torn write) are skipped."""
    path = state_dir / HISTORY_FILE
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (account is None or entry.get("account") == account):
            entries.append(entry)
    return entries[-limit:] if limit else entries

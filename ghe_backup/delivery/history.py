"""The deploy history: one JSON line per attempt in ``.state/history.jsonl``, successful or not."""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.delivery import render

HISTORY_FILE = Path(".state/history.jsonl")
#: The table's columns; --json has every field (digest, AMI, replaced stacks, sandbox).
COLUMNS = ("time (UTC)", "user", "account", "deployer", "stack version", "image", "result", "took", "reason")


@dataclass
class Attempt:
    time: str
    account: str
    deployer: str
    sandbox: bool
    user: str = field(default_factory=lambda: os.environ.get("GHE_BACKUP_USER") or _user())
    stack_version: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    ami: str | None = None
    replaced: list[str] = field(default_factory=list)
    result: str = "started"  # succeeded | failed | restored | refused | unreachable
    duration: float = 0.0
    reason: str = ""


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def append(root: Path, attempt: Attempt) -> None:
    path = root / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(attempt), sort_keys=False) + "\n")


def read(root: Path, account: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Attempts, oldest first; lines that are not JSON (a torn write) are skipped."""
    path = root / HISTORY_FILE
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


def show_history(root: Path, account: str | None = None, *, as_json: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
    """Print the account's deploy attempts as a table or JSON."""
    entries = read(root, account, limit)
    if as_json:
        render.print_json(entries)
        return entries
    rows = [
        (e.get("time", "")[:19].replace("T", " "), e.get("user"), e.get("account", "") + (" (sandbox)" if e.get("sandbox") else ""),
         e.get("deployer"), e.get("stack_version"), e.get("image_tag"), e.get("result"), f"{e.get('duration', 0):.0f}s",
         e.get("reason", ""))
        for e in entries
    ]
    render.print_table(COLUMNS, rows, title=f"deploy history{' of ' + account if account else ''}")
    return entries

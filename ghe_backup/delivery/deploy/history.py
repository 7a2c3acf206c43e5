"""The deploy history: every attempt, in the account's state table (seen by every machine), and a
local copy in ``.state/history.jsonl`` (the offline cache).

An attempt is written when it starts (``started``) and again when it ends, so an attempt whose
process was killed still shows, as ``started``. In the table: ``pk = "history"``, ``sk = <time>#<id>``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.errors import GheBackupError

HISTORY_FILE = "history.jsonl"
PK = "history"
#: succeeded | up to date | failed | restored | refused | locked | unreachable | timeout | interrupted (| started)
RESULTS = (
    "succeeded",
    "up to date",
    "failed",
    "restored",
    "refused",
    "locked",
    "unreachable",
    "timeout",
    "interrupted",
)


@dataclass
class Attempt:
    time: str
    account: str
    deployer: str
    sandbox: bool
    user: str = "unknown"
    host: str = ""
    pid: int = 0
    ci_url: str | None = None
    operation: str = "deploy"  # deploy | rollback | refresh
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stack_version: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    git_sha: str | None = None
    ami: str | None = None
    definition_hash: str | None = None
    replaced: list[str] = field(default_factory=list)
    result: str = "started"
    duration: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    #: What runs in the account afterwards, when it is not simply the new version (interrupts, failures).
    left: str = ""

    def key(self) -> dict[str, str]:
        return {"pk": PK, "sk": f"{self.time}#{self.id}"}


def record(store: Any, attempt: Attempt, warn: Callable[[str], None]) -> None:
    """Write the attempt to the account's table; a failure to write is a warning, never the result."""
    if store is None:
        return
    try:
        store.put({**attempt.key(), **asdict(attempt)})
    except GheBackupError as err:
        warn(f"could not write the history to the account ({err}); the local copy has it")


def append(state_dir: Path, attempt: Attempt) -> None:
    path = state_dir / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(attempt), sort_keys=False) + "\n")


def read(state_dir: Path, account: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The local copy's attempts, oldest first; lines that are not JSON (a torn write) are skipped."""
    path = state_dir / HISTORY_FILE
    if not path.exists():
        return []
    latest: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and (account is None or entry.get("account") == account):
            latest[entry.get("id") or str(len(latest))] = entry  # the end of an attempt replaces its start
    entries = list(latest.values())
    return entries[-limit:] if limit else entries


def read_account(store: Any, limit: int | None = None) -> list[dict[str, Any]]:
    """The account's attempts from its table, oldest first."""
    items = store.query(PK, limit=limit, newest_first=True)
    return [{k: v for k, v in item.items() if k not in ("pk", "sk")} for item in reversed(items)]

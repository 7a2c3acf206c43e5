"""Recorded passes of the unit tests: ``.state/test-passes.json``, keyed by the inputs' hash.

Only a run that passed is written (after pytest exited 0 and the inputs were unchanged by the
run); a failed, interrupted or timed-out run never is. The newest ``KEEP`` passes are kept, so
switching between branches finds each one's pass again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path

from ghe_backup.plumbing.state import read_json, write_json_atomic

STATE_FILE = "test-passes.json"
KEEP = 50


@dataclass(frozen=True)
class RecordedPass:
    key: str  # the inputs' sha256 (inputs.GateKey.digest)
    at: str  # when the run ended, UTC ISO 8601
    seconds: float  # how long it took
    files: int
    selection: list[str]


def _load(state_dir: Path) -> dict[str, dict]:
    data = read_json(state_dir / STATE_FILE, {})
    passes = data.get("passes") if isinstance(data, dict) else None
    return passes if isinstance(passes, dict) else {}


def passed_before(state_dir: Path, key: str) -> RecordedPass | None:
    """The recorded pass for exactly these inputs, or None."""
    entry = _load(state_dir).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return RecordedPass(
            key=key,
            at=str(entry["at"]),
            seconds=float(entry["seconds"]),
            files=int(entry["files"]),
            selection=[str(a) for a in entry["selection"]],
        )
    except (KeyError, TypeError, ValueError):  # a hand-edited or older record is no pass
        return None


def record_pass(state_dir: Path, key: str, *, seconds: float, files: int, selection: list[str]) -> RecordedPass:
    found = RecordedPass(
        key=key,
        at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        seconds=round(seconds, 2),
        files=files,
        selection=list(selection),
    )
    passes = _load(state_dir)
    passes.pop(key, None)
    passes[key] = {k: v for k, v in asdict(found).items() if k != "key"}
    newest = sorted(passes.items(), key=lambda item: str(item[1].get("at", "")))[-KEEP:]
    write_json_atomic(state_dir / STATE_FILE, {"passes": dict(newest)})
    return found

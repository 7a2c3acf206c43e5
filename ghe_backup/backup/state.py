"""The result of the last backup run, kept in a small JSON file on the data volume.

Only the holder of the backup lock writes it, so concurrent writers cannot interleave; the
write is atomic (temp file and rename). ``/metrics`` reads it, so the last run's exit code
and duration survive restarts. A missing or damaged file reads as "no run yet".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .logs import log_event

log = logging.getLogger(__name__)
RESULTS = ("success", "failed", "terminated")


@dataclass(frozen=True)
class RunRecord:
    started_at: float  # unix time
    finished_at: float
    duration_seconds: float
    exit_code: int
    result: str  # one of RESULTS


@dataclass
class BackupState:
    last_run: RunRecord | None = None
    last_success_at: float | None = None
    runs_total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))


def load_state(path: Path) -> BackupState:
    """Read the state file; a missing or unreadable one gives an empty state."""
    try:
        data = json.loads(path.read_text())
        last = data.get("last_run")
        totals = {r: int(data.get("runs_total", {}).get(r, 0)) for r in RESULTS}
        return BackupState(
            last_run=RunRecord(**last) if last else None,
            last_success_at=data.get("last_success_at"),
            runs_total=totals,
        )
    except FileNotFoundError:
        return BackupState()
    except (OSError, ValueError, TypeError, AttributeError) as err:
        log_event(log, "state_unreadable", level=logging.WARNING, path=str(path), error=type(err).__name__)
        return BackupState()


def save_state(path: Path, state: BackupState) -> None:
    """Write the state file atomically; on failure (a full disk) the old file stays, no temp file."""
    data = {
        "last_run": asdict(state.last_run) if state.last_run else None,
        "last_success_at": state.last_success_at,
        "runs_total": state.runs_total,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ghe-backup-state.")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record_run(path: Path, run: RunRecord) -> BackupState:
    """Add one finished run to the state file (call with the backup lock held).

    Best effort: a volume that is full or read-only is logged, never raised, so the run's
    outcome still reaches the log, the metrics of this process and the account's state table.
    """
    state = load_state(path)
    state.last_run = run
    if run.result == "success":
        state.last_success_at = run.finished_at
    state.runs_total[run.result] = state.runs_total.get(run.result, 0) + 1
    try:
        save_state(path, state)
    except OSError as err:
        log_event(log, "state_unwritable", level=logging.WARNING, path=str(path), error=err.strerror)
    return state

"""The sandbox's published state: ``.sandbox/state.json`` (endpoints of what runs) and its dummy AWS keys.

Light on purpose: the edge reads it once per run to resolve targets, without importing the
components (boto3, the Docker SDK).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.errors import UsageError
from ghe_backup.plumbing.state import write_json_atomic

STATE_DIR = ".sandbox"
#: Any key id works with moto; these never leave the machine (and never reach real AWS).
SANDBOX_CREDENTIALS = {"aws_access_key_id": "AKIASANDBOXGHEBACKUP", "aws_secret_access_key": "sandbox-not-a-secret"}


#: The sandbox's ports: moto at base+1, token-info at base+2, Lizzy agents from base+10, the
#: registry preferably at base-500 (5000 by default). A second sandbox (another checkout, a
#: fault-injection test) sets GHE_SANDBOX_PORT_BASE to stay out of the first one's way.
DEFAULT_PORT_BASE = 5500


def port_base(value: str | None = None) -> int:
    """The sandbox's port base: ``value``, else ``GHE_SANDBOX_PORT_BASE``, else the default."""
    value = os.environ.get("GHE_SANDBOX_PORT_BASE", "") if value is None else value
    try:
        base = int(value) if value else DEFAULT_PORT_BASE
    except ValueError:
        base = -1
    if not (base - 500 > 1024 and base + 100 < 65536):
        raise UsageError(f"GHE_SANDBOX_PORT_BASE: {value!r} is not a port base", hint="use a number from 1525 to 65000")
    return base


@dataclass
class SandboxState:
    root: Path
    endpoints: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    @classmethod
    def load(cls, root: Path) -> SandboxState:
        state = cls(root=root)
        try:
            loaded = json.loads(state.file.read_text())
        except (OSError, ValueError):
            loaded = {}
        state.endpoints = loaded if isinstance(loaded, dict) else {}
        return state

    def save(self) -> None:
        write_json_atomic(self.file, self.endpoints)

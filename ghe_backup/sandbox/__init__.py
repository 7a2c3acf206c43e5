"""The local sandbox: a Docker engine, a registry, emulated AWS accounts and Lizzy agents on 127.0.0.1.

``up`` starts each component in order (each is idempotent and records what it started under
``.sandbox/``); ``down`` stops, in reverse order, only what ``up`` started. Components are
modules of this package with ``start(state)``, ``stop(state)`` and they publish their
endpoints in ``state.endpoints`` (saved to ``.sandbox/state.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any

from ghe_backup.errors import Unreachable

STATE_DIR = ".sandbox"
#: Start order; ``down`` stops in reverse.
COMPONENTS = ("engine", "registry", "baseimage", "aws", "tokeninfo", "lizzy")


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
            state.endpoints = json.loads(state.file.read_text())
        except (OSError, ValueError):
            pass
        return state

    def save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.endpoints, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.file)


def _component(name: str) -> Any:
    return import_module(f"ghe_backup.sandbox.{name}")


def up(root: Path) -> dict[str, Any]:
    state = SandboxState.load(root)
    for name in COMPONENTS:
        _component(name).start(state)
        state.save()
    return status(root)


def down(root: Path) -> dict[str, Any]:
    state = SandboxState.load(root)
    for name in reversed(COMPONENTS):
        _component(name).stop(state)
    state.endpoints = {}
    state.save()
    return status(root)


def status(root: Path) -> dict[str, Any]:
    """One JSON-able object: registry, aws_endpoint, lizzy (account -> URL), token_env, components."""
    state = SandboxState.load(root)
    components = {name: _component(name).is_up(state) for name in COMPONENTS}
    return {**state.endpoints, "components": components, "up": all(components.values())}


def endpoints(root: Path) -> dict[str, Any]:
    """The running sandbox's endpoints, or Unreachable (exit 3) telling how to start it."""
    current = status(root)
    if not current["up"]:
        down_parts = ", ".join(name for name, ok in current["components"].items() if not ok)
        raise Unreachable(f"the sandbox is not running ({down_parts} down)", hint="start it with: inv sandbox.up")
    return current

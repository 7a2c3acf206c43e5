"""The local sandbox: a Docker engine, a registry, emulated AWS accounts and Lizzy agents on 127.0.0.1.

``up`` starts each component in order (each is idempotent and records what it started under
``.sandbox/``); ``down`` stops, in reverse order, only what ``up`` started. Components are
modules of this package with ``start(state)``, ``stop(state)`` and they publish their
endpoints in ``state.endpoints`` (saved to ``.sandbox/state.json``).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from ghe_backup.errors import Unreachable
from ghe_backup.sandbox.state import STATE_DIR, SandboxState

__all__ = ["COMPONENTS", "STATE_DIR", "SandboxState", "down", "endpoints", "probe", "status", "up"]

#: Start order; ``down`` stops in reverse.
COMPONENTS = ("engine", "registry", "baseimage", "aws", "tokeninfo", "lizzy")


def _component(name: str) -> Any:
    return import_module(f"ghe_backup.sandbox.{name}")


def up(root: Path) -> dict[str, Any]:
    state = SandboxState.load(root)
    emulator_was_up = _component("aws").is_up(state)
    for name in COMPONENTS:
        if name == "lizzy" and not emulator_was_up:
            # The agents act with credentials the emulator gave them; a new emulator knows none of
            # them (moto takes unknown keys for its default account: another account's).
            _component(name).stop(state)
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


def probe(state: SandboxState) -> dict[str, bool]:
    """Which components answer now (each asked once)."""
    return {name: _component(name).is_up(state) for name in COMPONENTS}


def status(root: Path, state: SandboxState | None = None) -> dict[str, Any]:
    """One JSON-able object: registry, aws_endpoint, lizzy (account -> URL), token_env, components."""
    state = state or SandboxState.load(root)
    components = probe(state)
    return {**state.endpoints, "components": components, "up": all(components.values())}


def endpoints(root: Path, state: SandboxState | None = None) -> dict[str, Any]:
    """The running sandbox's endpoints, or Unreachable (exit 3) telling how to start it."""
    current = status(root, state)
    if not current["up"]:
        down_parts = ", ".join(name for name, ok in current["components"].items() if not ok)
        raise Unreachable(f"the sandbox is not running ({down_parts} down)", hint="start it with: inv sandbox.up")
    return current

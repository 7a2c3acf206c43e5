"""Sandbox component: tokeninfo (not implemented yet)."""

from __future__ import annotations

from typing import Any

from ghe_backup.errors import NotBuiltYet


def start(state: Any) -> None:
    raise NotBuiltYet("sandbox component 'tokeninfo' is not implemented yet")


def stop(state: Any) -> None:
    return None


def is_up(state: Any) -> bool:
    return False

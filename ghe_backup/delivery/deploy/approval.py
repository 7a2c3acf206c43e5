"""Manual approval per account: who needs it, and refusing up front when it cannot be had.

The question itself is asked by the edge (``ghe_backup.edge.prompt``) on a terminal; CI gives
``--yes`` after its own approval.
"""

from __future__ import annotations

from typing import Any

from ghe_backup.errors import UsageError


def needs_approval(targets: list[Any]) -> list[Any]:
    return [t for t in targets if t.settings.approval]


def check_approval_possible(targets: list[Any], *, assume_yes: bool, interactive: bool) -> None:
    """Refuse up front when approval is required but can be neither asked for nor given."""
    pending = needs_approval(targets)
    if pending and not assume_yes and not interactive:
        names = ", ".join(t.name for t in pending)
        raise UsageError(
            f"{names}: deployment needs approval and there is no terminal to ask on",
            hint="approve in your CI system, then pass --yes",
        )

"""stdout of a run with ``--json``: exactly one JSON document, whether the run succeeds or fails.

A CI job reads ``inv deploy --account=prod --json > result.json`` without looking at stderr.
So while a run with ``--json`` goes on, what the named tasks print is held back; at the end it
is printed as it is (success), or replaced by one error document that keeps it under
``result`` (failure). The executor decides which (``ghe_backup.edge.executor``); this module
only holds the output and builds the document.
"""

from __future__ import annotations

import io
import json
import sys
from dataclasses import dataclass, field
from typing import IO, Any

from invoke import Call


def json_wanted(calls: list[Call]) -> bool:
    """True when any task named on the command line was given ``--json``."""
    return any(call.kwargs.get("json") for call in calls)


def call_account(call: Call | None) -> str | None:
    """The one account a call names, else None (none, or several: the error must say which)."""
    named = call.kwargs.get("account") if call is not None else None
    if isinstance(named, str):
        return named or None
    if isinstance(named, (list, tuple)) and len(dict.fromkeys(named)) == 1:
        return named[0]
    return None


@dataclass
class Where:
    """What the run was doing: the stage (a task's name, or ``preflight``) and its call."""

    stage: str | None = None
    call: Call | None = None


@dataclass
class HeldOutput:
    """The named tasks' stdout during a ``--json`` run, printed only when the run ends."""

    buffer: io.StringIO = field(default_factory=io.StringIO)

    def release(self, out: IO[str] | None = None) -> None:
        out = out or sys.stdout
        out.write(self.buffer.getvalue())
        out.flush()

    def documents(self) -> Any:
        """What was printed, parsed: None, one document, or a list when several tasks printed."""
        text = self.buffer.getvalue()
        decoder = json.JSONDecoder()
        found, at = [], 0
        while True:
            while at < len(text) and text[at].isspace():
                at += 1
            if at >= len(text):
                break
            try:
                value, at = decoder.raw_decode(text, at)
            except json.JSONDecodeError:
                return text  # not JSON after all: keep it whole rather than lose it
            found.append(value)
        if not found:
            return None
        return found[0] if len(found) == 1 else found


def error_document(
    message: str, exit_code: int, *, where: Where, error: Any = None, held: HeldOutput | None = None
) -> dict[str, Any]:
    """The one document of a failed run: the error's own account/stage first, else the call's."""
    document: dict[str, Any] = {
        "error": message,
        "exit_code": exit_code,
        "account": getattr(error, "account", None) or call_account(where.call),
        "stage": getattr(error, "stage", None) or where.stage,
    }
    printed = held.documents() if held is not None else None
    if printed is not None:
        document["result"] = printed
    return document

"""Structured logs: one JSON object per line on stdout, one line per event.

Modules log through ``log_event(logger, "event_name", key=value, ...)``; the formatter turns
the record into ``{"time": ..., "level": ..., "logger": ..., "event": ..., **fields}``.
Callers never pass key material: the SSH key module logs paths and actions only.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

_ROOT = "ghe_backup"
_HANDLER_MARK = "_ghe_backup_json_handler"


class JsonLineFormatter(logging.Formatter):
    """Format a record as one JSON line; extra fields come from ``record.event_fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, "event_fields", {}) or {})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str, sort_keys=False)


def _iso_time(created: float) -> str:
    millis = int((created - int(created)) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


class _StdoutHandler(logging.StreamHandler):
    """Write to the *current* sys.stdout, so redirection after setup still works."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__(stream)
        self._fixed = stream

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self._fixed or sys.stdout
        super().emit(record)


def configure_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send the ``ghe_backup`` loggers to stdout as JSON lines (idempotent)."""
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = _StdoutHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonLineFormatter())
    root.addHandler(handler)
    root.setLevel(level)


def log_event(logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with structured fields."""
    logger.log(level, event, extra={"event_fields": fields})

"""Structured logs: one JSON object per line on stdout."""

from __future__ import annotations

import json
import logging

from ghe_backup.backup.logs import configure_logging, log_event


def test_each_event_is_one_json_line(capsys):
    configure_logging()
    configure_logging()  # idempotent: still one handler, one line per event
    log = logging.getLogger("ghe_backup.backup.test")
    log_event(log, "backup_finished", result="success", exit_code=0, duration_seconds=1.5)
    log_event(log, "backup_output", level=logging.WARNING, line='quote " and\nnewline')
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["event"] == "backup_finished" and first["exit_code"] == 0 and first["level"] == "info"
    assert first["logger"] == "ghe_backup.backup.test" and first["time"].endswith("Z")
    assert second["line"] == 'quote " and\nnewline' and second["level"] == "warning"


def test_debug_events_need_debug_level(capsys):
    configure_logging(logging.INFO)
    log_event(logging.getLogger("ghe_backup.x"), "noisy", level=logging.DEBUG)
    assert capsys.readouterr().out == ""

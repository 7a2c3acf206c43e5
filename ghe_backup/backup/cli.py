"""The ``ghe-backup-service`` command line: one subcommand per job of the container's program.

The name is not ``ghe-backup``: that is backup-utils' command, which starts a backup without our
lock. Each command reads the settings from the environment, calls one function and returns an
exit code; errors propagate as ``GheBackupError`` to ``ghe_backup.__main__.main``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import replace
from datetime import UTC, datetime

from ghe_backup import __version__
from ghe_backup.errors import ExitCode, StageFailed, Unreachable

from .backup_config import render_backup_config, write_backup_config
from .entrypoint import run_service
from .hygiene import run_hygiene
from .logs import log_event
from .runner import BackupRunner
from .schedule import next_run, parse_schedule
from .settings import load_settings
from .sshkey import install_ssh_key
from .state_table import open_state_table, run_hooks

PROG = "ghe-backup-service"
log = logging.getLogger(__name__)


def cmd_run(args: argparse.Namespace) -> int:
    return run_service(load_settings())


def cmd_backup_once(args: argparse.Namespace) -> int:
    settings = load_settings()
    write_backup_config(settings)
    with contextlib.suppress(OSError):  # the runner reports an unwritable volume as a failed run
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    table = open_state_table(settings)
    runner = BackupRunner(settings, hooks=run_hooks(settings, table))
    signals = []

    def on_signal(signum, _frame):
        # Ctrl-C reaches only us: backup-utils runs in its own session. Stop it and wait for its
        # clean-up, so the lock is released only when it is gone; a second signal kills it.
        signals.append(signum)
        log_event(log, "shutdown_requested", signal=signal.Signals(signum).name)
        if len(signals) == 1:
            threading.Thread(target=runner.stop, args=(settings.shutdown_grace,), daemon=True).start()
        else:
            runner.kill()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    outcome = runner.run_once()
    if table is not None:
        table.flush(5.0)
    if outcome.result in ("failed", "terminated"):
        code = "" if outcome.exit_code is None else f" with exit code {outcome.exit_code}"
        raise StageFailed(
            f"backup {outcome.result}{code}{': ' + outcome.reason if outcome.reason else ''}",
            hint="see the log lines above",
        )
    return ExitCode.OK


def cmd_decrypt_key(args: argparse.Namespace) -> int:
    settings = load_settings()
    install_ssh_key(replace(settings, replace_ssh_key=settings.replace_ssh_key or args.replace))
    return ExitCode.OK


def cmd_render_config(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.stdout:
        sys.stdout.write(render_backup_config(settings))
    else:
        write_backup_config(settings)
        print(settings.backup_config_path)
    return ExitCode.OK


def cmd_hygiene(args: argparse.Namespace) -> int:
    s = load_settings()
    run_hygiene(
        s.data_dir, s.lock_path, stale_marker_age=s.stale_marker_age, stalled_snapshot_age=s.stalled_snapshot_age
    )
    return ExitCode.OK


def cmd_schedule(args: argparse.Namespace) -> int:
    expression = parse_schedule(load_settings().schedule)
    due = datetime.now(UTC)
    for _ in range(args.count):
        due = next_run(expression, due)
        print(due.isoformat())
    return ExitCode.OK


#: Wildcard addresses the server may bind; asked on loopback, which they include.
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def health_url(bind: str, port: int) -> str:
    """Where this host reaches the server bound to ``HEALTH_BIND``/``HEALTH_PORT``."""
    host = _WILDCARDS.get(bind, bind)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/health"


def cmd_health(args: argparse.Namespace) -> int:
    if args.url:
        url = args.url
    else:
        settings = load_settings()
        url = health_url(settings.health_bind, settings.health_port)
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as err:
        text = err.read().decode()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise Unreachable(
            f"health endpoint {url} did not answer: {reason}",
            hint=f"is '{PROG} run' running? check HEALTH_BIND and HEALTH_PORT",
        ) from None
    print(text)
    try:
        status = json.loads(text).get("status")
    except (ValueError, AttributeError):
        status = None
    # /health answers 200 whenever the service runs; the verdict is its status.
    return ExitCode.OK if status in ("healthy", "starting") else ExitCode.FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="GitHub Enterprise backup service (backup-utils' own command is ghe-backup)."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true", help="debug logs and tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(func=func)
        return sub

    add("run", cmd_run, "Run the service: key, config, hygiene, then scheduled backups and /health.")
    add("backup-once", cmd_backup_once, "Run one backup now (skipped if one is running).")
    add("decrypt-key", cmd_decrypt_key, "Decrypt the SSH key with KMS and install it.").add_argument(
        "--replace", action="store_true", help="replace an existing key file"
    )
    add("render-config", cmd_render_config, "Write backup-utils' backup.config.").add_argument(
        "--stdout", action="store_true", help="print it instead of writing GHE_BACKUP_CONFIG"
    )
    add("hygiene", cmd_hygiene, "Remove stale run markers and stalled snapshots.")
    add("schedule", cmd_schedule, "Print the next due times of BACKUP_SCHEDULE (UTC).").add_argument(
        "--count", type=int, default=5, help="how many due times"
    )
    health = add("health", cmd_health, "Query /health; exit 0 if healthy or starting, 1 if degraded, 3 if no answer.")
    health.add_argument("--url", help="default http://$HEALTH_BIND:$HEALTH_PORT/health (127.0.0.1 for 0.0.0.0)")
    health.add_argument("--timeout", type=float, default=5.0)
    return parser

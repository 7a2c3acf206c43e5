"""Start, record and stop the sandbox's background processes (pid files under .sandbox/)."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from ghe_backup.errors import Unreachable
from ghe_backup.plumbing.command import spawn


def pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / "pids" / f"{name}.pid"


def log_file(state_dir: Path, name: str) -> Path:
    return state_dir / "logs" / f"{name}.log"


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child is not running
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def recorded_pid(state_dir: Path, name: str) -> int | None:
    """The pid that ``up`` recorded for ``name`` if that process still runs."""
    try:
        pid = int(pid_file(state_dir, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_running(pid) else None


def start_process(
    state_dir: Path, name: str, argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> int:
    """Start ``argv`` in its own session, logging to .sandbox/logs/NAME.log; record its pid."""
    pid_file(state_dir, name).parent.mkdir(parents=True, exist_ok=True)
    pid = spawn(argv, log_path=log_file(state_dir, name), env=env, cwd=cwd)
    pid_file(state_dir, name).write_text(f"{pid}\n")
    return pid


def stop_process(state_dir: Path, name: str, timeout: float = 10.0) -> bool:
    """Stop the recorded process (TERM, then KILL); True if one was running."""
    pid = recorded_pid(state_dir, name)
    pid_file(state_dir, name).unlink(missing_ok=True)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_running(pid):
                return True
            time.sleep(0.1)
    return True


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(ready: Callable[[], bool], what: str, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    where = f"; see {log}" if log else ""
    raise Unreachable(f"{what} did not become ready within {timeout:.0f}s{where}")

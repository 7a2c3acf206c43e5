"""The one way to run an external program (senza, git, pytest, apt-get, the sandbox's servers).

``run`` logs the command (secrets redacted), enforces a timeout, and raises a typed error:
``CommandMissing`` when the program is not installed, ``CommandTimedOut`` when it did not end in
time, ``CommandFailed`` (with the exit code and the last lines of its output) when it failed.
``spawn`` starts a long-running server in its own session, its output going to a log file.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ghe_backup.errors import StageFailed, Unreachable
from ghe_backup.plumbing.redact import redact_text

log = logging.getLogger("ghe_backup.command")


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class CommandFailed(StageFailed):
    """The program ran and exited non-zero; ``output`` is what it printed (redacted)."""

    def __init__(self, what: str, returncode: int | None, output: str = "", *, hint: str | None = None):
        self.what, self.returncode, self.output = what, returncode, output
        last = [line.strip() for line in output.strip().splitlines() if line.strip()][-1:]
        detail = f": {last[0]}" if last else ""
        super().__init__(f"{what} failed (exit {returncode}){detail}", hint=hint)


class CommandTimedOut(CommandFailed):
    def __init__(self, what: str, timeout: float, output: str = ""):
        self.what, self.returncode, self.output = what, None, output
        StageFailed.__init__(self, f"{what} did not finish within {timeout:g}s", hint="it was stopped")


class CommandMissing(Unreachable):
    """The program is not installed (or not executable)."""


def describe(argv: Sequence[str], secrets: Iterable[str | None] = ()) -> str:
    return redact_text(" ".join(str(a) for a in argv), list(secrets))


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    what: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    secrets: Iterable[str | None] = (),
    echo: Callable[[str], None] | None = None,
    capture: bool = True,
    stdout: int | IO[bytes] | None = None,
    stderr: int | IO[bytes] | None = None,
    check: bool = True,
) -> CommandResult:
    """Run ``argv`` to completion; output captured (text, redacted) unless ``capture`` is False.

    ``echo`` receives ``$ <command>`` for people (progress); the log always gets it at debug level.
    """
    hidden = [s for s in secrets if s]
    shown = describe(argv, hidden)
    what = what or os.path.basename(str(argv[0]))
    log.debug("$ %s", shown)
    if echo is not None:
        echo(f"$ {shown}")
    options = {"capture_output": True, "text": True} if capture else {"stdout": stdout, "stderr": stderr}
    try:
        done = subprocess.run(
            list(map(str, argv)),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            **options,
        )
    except FileNotFoundError:
        raise CommandMissing(f"{what}: '{argv[0]}' is not installed") from None
    except PermissionError:
        raise CommandMissing(f"{what}: '{argv[0]}' cannot be run (permission denied)") from None
    except subprocess.TimeoutExpired as err:
        partial = redact_text(_text(err.stdout) + _text(err.stderr), hidden)
        raise CommandTimedOut(what, timeout, partial) from None
    result = CommandResult(
        argv=tuple(map(str, argv)),
        returncode=done.returncode,
        stdout=redact_text(done.stdout or "", hidden) if capture else "",
        stderr=redact_text(done.stderr or "", hidden) if capture else "",
    )
    log.debug("exit %s: %s", result.returncode, shown)
    if check and result.returncode != 0:
        raise CommandFailed(what, result.returncode, result.output)
    return result


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def spawn(argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start a server in its own session (so a Ctrl-C in the caller's terminal does not reach it),
    appending its output to ``log_path``; its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log.debug("$ %s &  (log: %s)", describe(argv), log_path)
    with open(log_path, "ab") as out:
        try:
            process = subprocess.Popen(
                list(map(str, argv)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise CommandMissing(f"'{argv[0]}' is not installed") from None
    return process.pid

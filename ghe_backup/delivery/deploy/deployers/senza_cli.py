"""The senza CLI as a deployer needs it: run it with exactly the account's credentials, read its errors.

senza's output on failure is noisy (and on Python 3.10+ its own crash handler fails, adding a
second traceback), so ``first_error_line`` picks the line a person needs. Lizzy returns the same
output in its 500 problems, so the Lizzy client uses it too.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from ghe_backup.delivery.deploy.deployers.base import DeployerError
from ghe_backup.errors import ConfigError, Unreachable
from ghe_backup.plumbing.command import CommandFailed, CommandTimedOut, run

#: Lines that are never the answer: progress, traceback scaffolding, senza's broken crash handler.
_NOISE = re.compile(
    r"^(Traceback \(most recent call last\)|File \"|During handling of the above exception|"
    r"The above exception was the direct cause|Generating Cloud Formation template|Creating Cloud Formation stack|"
    r"Deleting Cloud Formation stack|\^+$|~+$|Unknown Error|Please create an issue|.*format_exception\(\) got an unexpected)"
)
_EXCEPTION = re.compile(
    r"^(?:[a-zA-Z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Failure)|NoSuchEntity\w*|ValidationError)\b:?\s*(.*)"
)
_ERROR_WORD = re.compile(r"\b(error|failed|denied|not found|does not exist|invalid|no taupage ami)\b", re.I)
TIMEOUT = 900.0


class SenzaError(DeployerError):
    """senza ran and failed; ``line`` is the first meaningful line of its output."""

    def __init__(self, action: str, code: int | None, line: str):
        self.line = line
        super().__init__(f"senza {action} failed: {line}", line, hint=f"exit {code}" if code is not None else None)


#: senza's words when it could not reach AWS (not a verdict on the definition: a fault, exit 3).
_AWS_UNREACHABLE = re.compile(
    r"Could not connect to the endpoint URL|EndpointConnectionError|Connection refused|ConnectTimeoutError|"
    r"Read timeout on endpoint|Max retries exceeded",
    re.I,
)


def aws_unreachable(output: str) -> str | None:
    """The line saying AWS could not be reached, when that is why senza failed."""
    for line in output.splitlines():
        if _AWS_UNREACHABLE.search(line):
            return line.strip()
    return None


def first_error_line(output: str) -> str:
    """The first line that says what went wrong: an exception message, else an error-ish line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    useful = [line for line in lines if not _NOISE.match(line) and not line.startswith(("File ", "at ", "  "))]
    for line in useful:
        match = _EXCEPTION.match(line)
        if match and "format_exception" not in line:
            name, message = match.groups()
            return f"{name}: {message}".strip().rstrip(":") if message else name
    for line in useful:
        if _ERROR_WORD.search(line) and not line.startswith(("raise ", "return ")) and "format_exception" not in line:
            return line
    return useful[-1] if useful else "no output"


def senza_command() -> str:
    """senza next to this Python (the project's virtualenv), else on PATH."""
    local = Path(sys.executable).with_name("senza")
    if local.exists():
        return str(local)
    found = shutil.which("senza")
    if not found:
        raise ConfigError("senza is not installed", hint="install the project's requirements (stups-senza)")
    return found


def run_senza(
    action: str,
    args: Iterable[str],
    *,
    env: dict[str, str],
    secrets: Iterable[str] = (),
    log: Callable[[str], None] = lambda line: None,
    timeout: float = TIMEOUT,
) -> str:
    """Run ``senza ACTION ARGS`` with exactly ``env``'s AWS settings; its output, or SenzaError."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    try:
        result = run(
            [senza_command(), action, *args],
            what=f"senza {action}",
            env={**base, **env},
            secrets=secrets,
            echo=log,
            timeout=timeout,
        )
    except CommandTimedOut:  # senza waits on AWS calls (and retries them): a hung endpoint, or one far too slow
        raise Unreachable(
            f"senza {action} did not finish within {timeout:.0f}s (AWS not answering?)",
            what="AWS (as senza sees it)",
            maybe_done=True,
        ) from None
    except CommandFailed as err:
        unreachable = aws_unreachable(err.output)
        if unreachable:
            raise Unreachable(
                f"senza {action}: AWS unreachable: {unreachable}", what="AWS (as senza sees it)"
            ) from None
        raise SenzaError(action, err.returncode, first_error_line(err.output)) from None
    return result.output

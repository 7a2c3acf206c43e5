"""Every ``inv`` command line the generated CI files run, built in this one place.

Both generators take their command lines from here, and the tests parse each line found in the
committed files with Invoke's parser against the real task list (``tasks.ns``), so a renamed
task or flag breaks the build rather than a deploy. Lines are shell text: values are quoted for
the shell, except references to variables the CI sets (``Var``), which the shell expands.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ghe_backup.ci.layout import CiAccount

#: The checkout's own Invoke (``make setup`` creates the virtualenv): no PATH set-up per CI.
INV = ".venv/bin/inv"
#: How long a CI deploy waits for the account's deploy lock held by someone else (a laptop, a hold
#: with ``inv lock.acquire``) before giving up with exit 4. CI's own jobs are already serialised.
LOCK_WAIT = 600
JUNIT_REPORT = "reports/junit.xml"
#: The variable CI jobs keep the pushed image's tag in.
IMAGE_TAG = "IMAGE_TAG"


@dataclass(frozen=True)
class Var:
    """A reference to an environment variable, expanded by the shell (``"$NAME"``)."""

    name: str


def _flag(name: str, value: str | Var | None = None) -> str:
    if value is None:
        return f"--{name}"
    if isinstance(value, Var):
        return f'--{name}="${value.name}"'
    return f"--{name}={shlex.quote(value)}"


def _line(*parts: str) -> str:
    return " ".join([INV, *parts])


def test() -> str:
    return _line("test", _flag("junit", JUNIT_REPORT))


def image() -> str:
    return _line("image")


def push(account: CiAccount) -> str:
    """Push to the account's registry; stdout is ``[{"account", "repository", "tag", "digest", ...}]``."""
    return _line("push", _flag("account", account.name), _flag("json"))


def plan(account: CiAccount) -> str:
    """What deploying the pushed tag would change: markdown on stdout, the plan saved, exit 5 when
    something would change (0: nothing to deploy, so nobody is asked to approve anything)."""
    return _line(
        "plan",
        _flag("account", account.name),
        _flag("image", Var(IMAGE_TAG)),
        _flag("markdown"),
        _flag("out", account.plan_file),
        _flag("exit-code"),
    )


def deploy(account: CiAccount) -> str:
    """Apply exactly the approved plan (refused with exit 2 if the account moved on since)."""
    return _line(
        "deploy",
        _flag("account", account.name),
        _flag("plan", account.plan_file),
        _flag("yes"),
        _flag("lock-wait", str(LOCK_WAIT)),
        _flag("json"),
    )


def status_check(account: CiAccount) -> str:
    """Exit 5 when the account is stale (an old Taupage AMI or an old backup)."""
    return _line("status", _flag("account", account.name), _flag("check"))


def refresh(account: CiAccount) -> str:
    """Redeploy the running image on the newest Taupage (nothing happens where it is not stale)."""
    return _line("refresh", _flag("account", account.name), _flag("yes"))

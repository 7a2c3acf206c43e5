"""Install a missing Debian package for the sandbox, or say clearly what the user must install.

The sandbox installs its own tools (``docker.io``, ``docker-registry``, ``mmdebstrap``) only
where that is safe and expected: as root on Debian (CI machines, fresh boxes). Elsewhere it
never runs a package manager; it raises one line naming the package instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ghe_backup.errors import Unreachable
from ghe_backup.plumbing.command import run

_updated = False
APT_TIMEOUT = 900.0


def can_install() -> bool:
    return os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def ensure_command(command: str, package: str, log: Path) -> str:
    """The path of ``command``, installing ``package`` with apt-get first if it is missing."""
    found = shutil.which(command) or _in_sbin(command)
    if found:
        return found
    if not can_install():
        raise Unreachable(
            f"'{command}' is not installed",
            hint=f"install the Debian/Ubuntu package '{package}' (apt-get install {package}) or its equivalent",
        )
    global _updated
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    steps = ([] if _updated else [["apt-get", "update"]]) + [["apt-get", "install", "-y", package]]
    with open(log, "ab") as out:
        for argv in steps:
            result = run(
                argv,
                what=argv[0],
                env=env,
                timeout=APT_TIMEOUT,
                capture=False,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
            if result.returncode != 0:
                raise Unreachable(f"'{' '.join(argv)}' failed (exit {result.returncode})", hint=f"see {log}")
    _updated = True
    found = shutil.which(command) or _in_sbin(command)
    if not found:
        raise Unreachable(f"installed '{package}' but '{command}' is still missing", hint=f"see {log}")
    return found


def _in_sbin(command: str) -> str | None:
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = Path(folder) / command
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None

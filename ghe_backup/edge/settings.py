"""Every ``ghe.*`` Invoke setting, with its default, in one place; and strict reading of switches.

Invoke config (``invoke.yaml``, ``~/.invoke.yaml``, ``INVOKE_GHE_*`` variables) and our own
environment variables are read here only. Switches are parsed strictly: ``1/0``, ``true/false``,
``yes/no``, ``on/off`` (any case); anything else is an error, never a silent "on".
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ghe_backup.errors import UsageError
from ghe_backup.plumbing.redact import shown

#: The defaults tasks.py registers with ``ns.configure``; a key not here is not a setting.
DEFAULTS: dict[str, Any] = {
    "ghe": {
        # Target the local sandbox (also --sandbox, or INVOKE_GHE_SANDBOX=1).
        "sandbox": None,
        # How many accounts deploy at once (deploy, rollback, refresh with several accounts).
        "parallel": 4,
        # Seconds the Docker engine may stay silent (no answer, no build or push progress) before
        # it is taken as hung: exit 3 instead of waiting for ever.
        "engine_timeout": 300,
        "image": {
            "base_image": None,  # the image's base (default: the Dockerfile's python:3.11-slim)
            # release (default: GitHub's release archive; git is its old name) or context (the stand-in, offline)
            "backup_utils_source": None,
            # the backup-utils release to download (default: VERSION in ghe_backup/backup/backup_utils.py)
            "backup_utils_version": None,
            "pip_cert": None,  # CA bundle for the build's pip (default: PIP_CERT, SSL_CERT_FILE, ...)
        },
    }
}
#: Where the image gets backup-utils from: GitHub's release archive (release, or git, its old name) or
#: the stand-in in the build context (context, offline): the sources the Dockerfile accepts.
BACKUP_UTILS_SOURCES = ("release", "git", "context")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})
#: Where the build's pip looks for the host's trusted CAs, in order (behind a TLS-inspecting proxy).
CA_VARIABLES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def parse_switch(value: Any, where: str) -> bool:
    """A yes/no setting; ``where`` names it in the error (e.g. ``INVOKE_GHE_SANDBOX``)."""
    if isinstance(value, bool) or value is None:
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise UsageError(
        f"{where}: {shown(value, 20)} is not a yes/no value", hint="use one of: 1, 0, true, false, yes, no"
    )


def repo_root() -> Path:
    """The checkout the pipeline works on: ``GHE_BACKUP_ROOT`` (tests, forks) or this one."""
    return Path(os.environ.get("GHE_BACKUP_ROOT") or Path(__file__).resolve().parents[2]).resolve()


def _section(config: Any, *keys: str) -> Any:
    node = config
    for key in keys:
        try:
            node = node[key]
        except (TypeError, KeyError, AttributeError):
            return None
    return node


def sandbox_wanted(flag: bool | None, config: Any) -> bool:
    """``--sandbox``, else ``INVOKE_GHE_SANDBOX``, else Invoke config ``ghe.sandbox``."""
    if flag:
        return True
    if "INVOKE_GHE_SANDBOX" in os.environ:  # read here: Invoke would turn any non-empty string into True
        return parse_switch(os.environ["INVOKE_GHE_SANDBOX"], "INVOKE_GHE_SANDBOX")
    return parse_switch(_section(config, "ghe", "sandbox"), "ghe.sandbox (Invoke config)")


def parallel(config: Any) -> int:
    """``ghe.parallel``: accounts deployed at once (1 to 16)."""
    value = _section(config, "ghe", "parallel")
    value = 4 if value is None else value
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= 16:
        raise UsageError(
            f"ghe.parallel (Invoke config): {value!r} is not a number from 1 to 16", hint="e.g. ghe: {parallel: 4}"
        )
    return number


#: ghe.engine_timeout: a build step or a push may be quiet for a while, but not for an hour.
ENGINE_TIMEOUT = (5, 3600)


def engine_timeout(config: Any) -> float:
    """``ghe.engine_timeout``: seconds of silence from the Docker engine taken as hung."""
    value = _section(config, "ghe", "engine_timeout")
    value = 300 if value is None else value
    low, high = ENGINE_TIMEOUT
    try:
        number = float(str(value).strip())
    except ValueError:
        number = -1.0
    if not low <= number <= high:  # NaN fails this too
        raise UsageError(
            f"ghe.engine_timeout (Invoke config): {value!r} is not a number of seconds from {low} to {high}",
            hint="e.g. ghe: {engine_timeout: 300}",
        )
    return number


def image_settings(config: Any) -> dict[str, Any]:
    """Invoke config ``ghe.image``: only keys that are set."""
    section = _section(config, "ghe", "image") or {}
    try:
        return {k: v for k, v in dict(section).items() if v not in (None, "")}
    except (TypeError, ValueError):
        raise UsageError("ghe.image (Invoke config): expected a mapping", hint="see docs/image-and-push.md") from None


def check_config(config: Any) -> None:
    """The ``ghe.*`` settings of the Invoke config have values they can be used with, before any task runs."""
    if "INVOKE_GHE_SANDBOX" not in os.environ:
        parse_switch(_section(config, "ghe", "sandbox"), "ghe.sandbox (Invoke config)")
    for key, value in image_settings(config).items():
        where = f"ghe.image.{key} (Invoke config)"
        if not isinstance(value, str) or not value.strip() or not value.isprintable() or " " in value.strip():
            raise UsageError(f"{where}: {shown(value)} is not a one-word text", hint="see docs/image-and-push.md")
        if key == "backup_utils_source" and value not in BACKUP_UTILS_SOURCES:
            raise UsageError(
                f"{where}: {shown(value)} is not allowed", hint=f"use one of: {', '.join(BACKUP_UTILS_SOURCES)}"
            )
    parallel(config)
    engine_timeout(config)


def pip_cert(config: Any, system_bundle: Path = SYSTEM_CA_BUNDLE) -> Path | None:
    """The CA bundle for pip in the build: ghe.image.pip_cert, PIP_CERT, SSL_CERT_FILE,
    REQUESTS_CA_BUNDLE, else the host's system bundle if it has one."""
    named = [("ghe.image.pip_cert", image_settings(config).get("pip_cert"))]
    named += [(name, os.environ.get(name)) for name in CA_VARIABLES]
    for source, value in named:
        if value:
            path = Path(value).expanduser()
            if not path.is_file():
                raise UsageError(
                    f"the CA bundle for pip ({path}, from {source}) is not a file", hint=f"fix or unset {source}"
                )
            return path
    return system_bundle if system_bundle.is_file() else None


#: Who runs a deploy, from the CI's own variables first (CI runners' $USER says nothing).
USER_VARIABLES = (
    "GHE_BACKUP_USER",
    "GITHUB_ACTOR",
    "BUILD_USER_ID",
    "GITLAB_USER_LOGIN",
    "BUILDKITE_BUILD_CREATOR",
    "USER",
)


def ci_job_url(env: Any = None) -> str | None:
    """The CI job's URL when a CI says it (GitHub Actions, Jenkins, GitLab, Buildkite)."""
    env = os.environ if env is None else env
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    for name in ("BUILD_URL", "CI_JOB_URL", "BUILDKITE_BUILD_URL"):
        if env.get(name):
            return env[name]
    return None


def actor(env: Any = None) -> Any:
    """The ``Actor`` of this run: user, host, pid and the CI job."""
    import getpass
    import socket

    from ghe_backup.delivery.target import Actor

    env = os.environ if env is None else env
    user = next((env[name] for name in USER_VARIABLES if env.get(name)), None)
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
    return Actor(user=user, host=socket.gethostname(), pid=os.getpid(), ci_url=ci_job_url(env))


def debug_wanted() -> bool:
    """``GHE_BACKUP_DEBUG`` or ``INVOKE_DEBUG`` set to a yes value (a bad value is refused by
    ``check_environment`` first; here, where an error is being shown, it is simply not debug)."""
    for name in DEBUG_VARIABLES:
        try:
            if parse_switch(os.environ.get(name), name):
                return True
        except UsageError:
            continue
    return False


DEBUG_VARIABLES = ("GHE_BACKUP_DEBUG", "INVOKE_DEBUG")
#: Switches read from the environment, each strictly (checked before any task runs).
SWITCH_VARIABLES = (*DEBUG_VARIABLES, "INVOKE_GHE_SANDBOX")


def setting_variables() -> set[str]:
    """The ``INVOKE_GHE_*`` variables Invoke maps onto a ``ghe.*`` setting."""

    def names(node: dict[str, Any], prefix: str) -> list[str]:
        found = []
        for key, value in node.items():
            name = f"{prefix}_{key.upper()}"
            found += names(value, name) if isinstance(value, dict) else [name]
        return found

    return set(names(DEFAULTS["ghe"], "INVOKE_GHE"))


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Every environment variable the pipeline reads has a value it can use, before any task runs.

    Switches are yes/no values; ``INVOKE_GHE_*`` name a setting (Invoke ignores a misspelled one);
    ``GHE_BACKUP_ROOT`` is a checkout with ``config/``; ``GHE_SANDBOX_PORT_BASE`` is a port base;
    ``GHE_BACKUP_USER`` (who deploys, in the history) is one printable line. The CA bundles of the
    build are checked when the build site resolves (in the image's preflight), the Lizzy token
    when a probe or the deployer reads it: each with the same one-line errors, before any stage.
    """
    env = os.environ if environ is None else environ
    for name in SWITCH_VARIABLES:
        if name in env:
            parse_switch(env[name], name)
    known = setting_variables()
    for name in sorted(n for n in env if n.startswith("INVOKE_GHE_") and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        raise UsageError(
            f"{name}: not a setting (Invoke would ignore it)",
            hint=f"did you mean {close[0]}?" if close else f"settings: {', '.join(sorted(known))}",
        )
    if "GHE_SANDBOX_PORT_BASE" in env:  # read by the sandbox when it starts; wrong is wrong for every task
        from ghe_backup.sandbox.state import port_base

        port_base(env["GHE_SANDBOX_PORT_BASE"])
    root = env.get("GHE_BACKUP_ROOT")
    if root:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise UsageError(f"GHE_BACKUP_ROOT: {root!r} is not a directory", hint="point it at a ghe-backup checkout")
        if not (path / "config").is_dir() or not (path / "senza").is_dir():
            raise UsageError(
                f"GHE_BACKUP_ROOT: {root!r} has no config/ and senza/", hint="point it at a ghe-backup checkout"
            )
    user = env.get("GHE_BACKUP_USER")
    if user is not None and (not user.strip() or not user.isprintable() or len(user) > 64):
        raise UsageError(
            "GHE_BACKUP_USER: not a user name (empty, too long or with control characters)",
            hint="unset it, or give the name to record in the history",
        )

"""Render backup-utils' ``backup.config`` from the settings, after checking them.

backup-utils sources the file with bash, so every value is shell-quoted. The data directory
must lie on the mounted data volume: backups on the root disk would fill it and vanish with
the instance.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from pathlib import Path

from ghe_backup.errors import ConfigError

from .settings import Settings

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BackupConfigError(ConfigError):
    """A value for backup-utils' config is missing or unusable."""


def validate_hostname(value: str | None) -> str:
    """Check ``GHE_HOSTNAME``: a DNS name or IPv4 address, optionally ``:port``."""
    if not value:
        raise BackupConfigError(
            "GHE_HOSTNAME is not set", hint="set GHE_HOSTNAME to the appliance's host name, e.g. github.example.com"
        )
    host, _, port = value.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise BackupConfigError(
            f"GHE_HOSTNAME={value!r} has an invalid port", hint="use host or host:port with a port 1-65535"
        )
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit() and not _is_ipv4(host):
        raise BackupConfigError(
            f"GHE_HOSTNAME={value!r} is not a valid host name",
            hint="use letters, digits and hyphens in dot-separated labels, e.g. github.example.com",
        )
    return value


def _is_ipv4(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)


def validate_data_dir(data_dir: Path, mount: Path, *, require_mount: bool) -> Path:
    """Check that ``GHE_DATA_DIR`` lies on the data volume mounted at ``DATA_MOUNT``."""
    if not data_dir.is_absolute():
        raise BackupConfigError(
            f"GHE_DATA_DIR={str(data_dir)!r} is not an absolute path", hint=f"use a path under {mount}"
        )
    if not mount.is_dir():
        raise BackupConfigError(
            f"DATA_MOUNT={str(mount)!r} does not exist", hint="mount the data volume there or set DATA_MOUNT"
        )
    real_dir, real_mount = Path(os.path.realpath(data_dir)), Path(os.path.realpath(mount))
    if real_dir == real_mount or real_mount not in real_dir.parents:
        raise BackupConfigError(
            f"GHE_DATA_DIR={str(data_dir)!r} is not inside the data volume DATA_MOUNT={str(mount)!r}",
            hint=f"set GHE_DATA_DIR to a directory under {mount}, e.g. {mount / 'ghe-data'}",
        )
    if require_mount and not os.path.ismount(real_mount):
        raise BackupConfigError(
            f"DATA_MOUNT={str(mount)!r} is not a mount point",
            hint="attach and mount the data volume, or set REQUIRE_DATA_MOUNT=0 for a local test",
        )
    return data_dir


def _option(name: str, value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise BackupConfigError(f"{name} contains control characters", hint=f"put {name} on one line")
    return value


def render_backup_config(settings: Settings) -> str:
    """The text of ``backup.config`` for these settings; raises on invalid values."""
    hostname = validate_hostname(settings.ghe_hostname)
    validate_data_dir(settings.data_dir, settings.data_mount, require_mount=settings.require_data_mount)
    ssh_opts = _option("GHE_EXTRA_SSH_OPTS", settings.extra_ssh_opts)
    if ssh_opts is None:
        # accept-new: trust the appliance's host key on first contact, refuse a changed one.
        ssh_opts = f"-i {settings.ssh_key_path} -o StrictHostKeyChecking=accept-new"
    values = {
        "GHE_HOSTNAME": hostname,
        "GHE_DATA_DIR": str(settings.data_dir),
        "GHE_NUM_SNAPSHOTS": str(settings.num_snapshots),
        "GHE_EXTRA_SSH_OPTS": ssh_opts,
    }
    rsync_opts = _option("GHE_EXTRA_RSYNC_OPTS", settings.extra_rsync_opts)
    if rsync_opts is not None:
        values["GHE_EXTRA_RSYNC_OPTS"] = rsync_opts
    lines = ["# Written by ghe-backup at container start; edits are overwritten.\n"]
    lines += [f"{name}={shlex.quote(value)}\n" for name, value in values.items()]
    return "".join(lines)


def write_backup_config(settings: Settings) -> Path:
    """Render and write ``backup.config`` atomically to ``settings.backup_config_path``."""
    text = render_backup_config(settings)
    path = settings.backup_config_path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".backup.config.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        raise BackupConfigError(
            f"cannot write {path}: {err.strerror}", hint="set GHE_BACKUP_CONFIG to a writable path"
        ) from None
    return path

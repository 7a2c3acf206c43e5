"""Render backup-utils' ``backup.config`` (and the pinned known_hosts) from the settings.

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

from .hostspec import parse_hostname
from .settings import Settings
from .ssh_options import check_user_options, parse_host_keys, render_known_hosts, ssh_options
from .volume import not_a_volume

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class BackupConfigError(ConfigError):
    """A value for backup-utils' config is missing or unusable."""


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
            hint=f"set GHE_DATA_DIR to a directory under {mount}, e.g. {mount / 'ghe-production-data'}",
        )
    reason = not_a_volume(real_mount) if require_mount else None
    if reason:
        raise BackupConfigError(
            f"DATA_MOUNT={str(mount)!r} {reason}",
            hint="attach and mount the data volume, or set REQUIRE_DATA_MOUNT=0 for a local test",
        )
    return data_dir


def _option(name: str, value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise BackupConfigError(f"{name} contains control characters", hint=f"put {name} on one line")
    return value


def _rsync_options(settings: Settings) -> str | None:
    extra = _option("GHE_EXTRA_RSYNC_OPTS", settings.extra_rsync_opts)
    if settings.rsync_bwlimit is None:
        return extra
    if extra and "--bwlimit" in extra:
        raise BackupConfigError(
            "GHE_EXTRA_RSYNC_OPTS has --bwlimit and RSYNC_BWLIMIT is set",
            hint="set the limit in one place: RSYNC_BWLIMIT",
        )
    limit = f"--bwlimit={settings.rsync_bwlimit}"
    return f"{extra} {limit}" if extra else limit


def pinned_host_keys(settings: Settings) -> list[tuple[str, str]] | None:
    """The appliance's pinned keys (type, base64), or None when keys are accepted on first use.

    Raises on a combination of ``GHE_KNOWN_HOSTS``, ``SSH_HOST_KEY_POLICY`` and
    ``GHE_EXTRA_SSH_OPTS`` the container refuses; the pipeline's config checks call it too, so
    they refuse the same before a deploy. Needs neither the host name nor the data volume.
    """
    check_user_options(settings.extra_ssh_opts)
    if settings.host_key_policy == "accept-new":
        if settings.known_hosts:
            raise BackupConfigError(
                "GHE_KNOWN_HOSTS is set and SSH_HOST_KEY_POLICY=accept-new",
                hint="pin the keys with SSH_HOST_KEY_POLICY=pinned, or accept new ones without GHE_KNOWN_HOSTS, "
                "not both",
            )
        return None
    if not settings.known_hosts:
        raise BackupConfigError(
            "GHE_KNOWN_HOSTS is not set: the appliance's host key must be pinned",
            hint="set it to the output of 'ssh-keyscan -p 122 <GHE_HOSTNAME>' checked against the appliance, "
            "or set SSH_HOST_KEY_POLICY=accept-new to trust the first key seen",
        )
    return parse_host_keys(settings.known_hosts)


def known_hosts_text(settings: Settings) -> str | None:
    """The pinned known_hosts file, or None when keys are accepted on first use."""
    host = parse_hostname(settings.ghe_hostname)
    keys = pinned_host_keys(settings)
    return None if keys is None else render_known_hosts(host, keys)


def render_backup_config(settings: Settings) -> str:
    """The text of ``backup.config`` for these settings; raises on invalid values."""
    host = parse_hostname(settings.ghe_hostname)
    validate_data_dir(settings.data_dir, settings.data_mount, require_mount=settings.require_data_mount)
    known_hosts_text(settings)  # checked here, so every command that renders the config checks it
    values = {
        "GHE_HOSTNAME": host.for_backup_utils(),
        "GHE_DATA_DIR": str(settings.data_dir),
        "GHE_NUM_SNAPSHOTS": str(settings.num_snapshots),
        "GHE_EXTRA_SSH_OPTS": ssh_options(
            key_path=str(settings.ssh_key_path),
            known_hosts_path=str(settings.known_hosts_path),
            policy=settings.host_key_policy,
            extra=_option("GHE_EXTRA_SSH_OPTS", settings.extra_ssh_opts),
        ),
    }
    rsync_opts = _rsync_options(settings)
    if rsync_opts is not None:
        values["GHE_EXTRA_RSYNC_OPTS"] = rsync_opts
    lines = ["# Written by ghe-backup-service at container start; edits are overwritten.\n"]
    lines += [f"{name}={shlex.quote(value)}\n" for name, value in values.items()]
    return "".join(lines)


def _write_atomically(path: Path, text: str, variable: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as err:
        raise BackupConfigError(
            f"cannot write {path}: {err.strerror}", hint=f"set {variable} to a writable path"
        ) from None


def write_backup_config(settings: Settings) -> Path:
    """Render and write ``backup.config`` (and the pinned known_hosts next to it) atomically."""
    text = render_backup_config(settings)
    pinned = known_hosts_text(settings)
    if pinned is not None:
        _write_atomically(settings.known_hosts_path, pinned, "GHE_BACKUP_CONFIG")
    _write_atomically(settings.backup_config_path, text, "GHE_BACKUP_CONFIG")
    return settings.backup_config_path

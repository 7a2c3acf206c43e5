"""The container's settings, read once from the environment.

The senza TaupageConfig passes these variables; ``ENVIRONMENT`` names them all and
``docs/backup-program.md`` lists them with their defaults.
Numbers and flags are checked here, with errors naming the variable and the fix; values
only some commands need (``GHE_HOSTNAME``, ``BACKUP_SCHEDULE``) are checked where they are
used (``backup_config``, ``schedule``), so ``decrypt-key`` runs without them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ghe_backup.errors import ConfigError

DAY = 86400
DEFAULT_DATA_DIR_NAME = "ghe-production-data"
DEFAULT_STATE_TABLE = "ghe-backup-state"
#: Seconds backup-utils gets for its own clean-up after SIGTERM (re-enabling git gc on the
#: appliance over ssh, removing its markers). The container's stop timeout must exceed it:
#: docs/backup-program.md, "Shutdown".
DEFAULT_SHUTDOWN_GRACE = 60

#: Every environment variable ``load_settings`` reads, and the ``Settings`` field it sets (None:
#: it only changes another variable's default). Not used by ``load_settings`` itself: it is the
#: list docs/backup-program.md's table must match, which tests/backup/test_docs.py checks
#: against what ``load_settings`` really reads.
ENVIRONMENT: dict[str, str | None] = {
    "GHE_HOSTNAME": "ghe_hostname",
    "GHE_NUM_SNAPSHOTS": "num_snapshots",
    "GHE_DATA_DIR": "data_dir",
    "DATA_MOUNT": "data_mount",
    "REQUIRE_DATA_MOUNT": "require_data_mount",
    "GHE_EXTRA_SSH_OPTS": "extra_ssh_opts",
    "GHE_EXTRA_RSYNC_OPTS": "extra_rsync_opts",
    "RSYNC_BWLIMIT": "rsync_bwlimit",
    "GHE_KNOWN_HOSTS": "known_hosts",
    "SSH_HOST_KEY_POLICY": "host_key_policy",
    "GHE_BACKUP_CONFIG": "backup_config_path",
    "GHE_BACKUP_COMMAND": "backup_command",
    "BACKUP_SCHEDULE": "schedule",
    "HEALTH_BIND": "health_bind",
    "HEALTH_PORT": "health_port",
    "MAX_SNAPSHOT_AGE": "max_snapshot_age",
    "MIN_FREE_BYTES": "min_free_bytes",
    "MIN_FREE_PERCENT": "min_free_percent",
    "KMS_REGION": "aws_region",
    "AWS_REGION": "aws_region",
    "AWS_DEFAULT_REGION": "aws_region",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT": "metadata_endpoint",
    "METADATA_TIMEOUT": "metadata_timeout",
    "TAUPAGE_CONFIG": "taupage_config",
    "SSH_KEY_SECRET_FILE": "ssh_key_secret_file",
    "SSH_KEY_PATH": "ssh_key_path",
    "HOME": None,  # the default of SSH_KEY_PATH
    "SSH_KEY_REPLACE": "replace_ssh_key",
    "STALE_MARKER_AGE": "stale_marker_age",
    "STALLED_SNAPSHOT_AGE": "stalled_snapshot_age",
    "SHUTDOWN_GRACE": "shutdown_grace",
    "STATE_TABLE": "state_table",
}


class SettingError(ConfigError):
    """An environment variable has a value the program cannot use."""


@dataclass(frozen=True)
class Settings:
    ghe_hostname: str | None
    num_snapshots: int
    data_dir: Path
    data_mount: Path
    require_data_mount: bool
    extra_ssh_opts: str | None
    extra_rsync_opts: str | None
    rsync_bwlimit: str | None
    known_hosts: str | None  # the appliance's host keys, known_hosts lines
    host_key_policy: str  # "pinned" or "accept-new"
    backup_config_path: Path
    backup_command: str
    schedule: str | None
    health_bind: str
    health_port: int
    max_snapshot_age: int
    min_free_bytes: int
    min_free_percent: float
    aws_region: str | None  # KMS and the state table; None: from instance metadata
    metadata_endpoint: str
    metadata_timeout: float
    taupage_config: Path
    ssh_key_secret_file: Path | None
    ssh_key_path: Path
    replace_ssh_key: bool
    stale_marker_age: int
    stalled_snapshot_age: int
    shutdown_grace: int
    state_table: str | None  # DynamoDB table for the pipeline; None: disabled

    @property
    def lock_path(self) -> Path:
        """The lock every backup run holds; on the data volume so it spans processes."""
        return self.data_dir / ".ghe-backup.lock"

    @property
    def state_path(self) -> Path:
        """Where the last run's result is kept across restarts."""
        return self.data_dir / ".ghe-backup-state.json"

    @property
    def known_hosts_path(self) -> Path:
        """Pinned keys are rewritten from the config at every start, next to backup.config;
        keys accepted on first use live on the data volume, so the next container keeps them."""
        if self.host_key_policy == "accept-new":
            return self.data_dir / ".ghe-backup-known_hosts"
        return self.backup_config_path.parent / "known_hosts"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check all settings from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    data_mount = Path(_text(env, "DATA_MOUNT") or "/data")
    return Settings(
        ghe_hostname=_text(env, "GHE_HOSTNAME"),
        num_snapshots=_int(env, "GHE_NUM_SNAPSHOTS", 10, minimum=1),
        # The original ghe-backup's directory: an old volume continues its chain (and its pruning).
        data_dir=Path(_text(env, "GHE_DATA_DIR") or data_mount / DEFAULT_DATA_DIR_NAME),
        data_mount=data_mount,
        require_data_mount=_flag(env, "REQUIRE_DATA_MOUNT", True),
        extra_ssh_opts=_text(env, "GHE_EXTRA_SSH_OPTS"),
        extra_rsync_opts=_text(env, "GHE_EXTRA_RSYNC_OPTS"),
        rsync_bwlimit=_bwlimit(env, "RSYNC_BWLIMIT"),
        known_hosts=_raw(env, "GHE_KNOWN_HOSTS"),
        host_key_policy=_choice(env, "SSH_HOST_KEY_POLICY", ("pinned", "accept-new")),
        backup_config_path=Path(_text(env, "GHE_BACKUP_CONFIG") or "/etc/github-backup-utils/backup.config"),
        backup_command=_text(env, "GHE_BACKUP_COMMAND") or "ghe-backup",
        schedule=_text(env, "BACKUP_SCHEDULE"),
        health_bind=_text(env, "HEALTH_BIND") or "0.0.0.0",
        health_port=_int(env, "HEALTH_PORT", 8080, minimum=0, maximum=65535),
        max_snapshot_age=_int(env, "MAX_SNAPSHOT_AGE", 2 * DAY, minimum=60),
        min_free_bytes=_int(env, "MIN_FREE_BYTES", 0, minimum=0),
        min_free_percent=_percent(env, "MIN_FREE_PERCENT", 5.0),
        aws_region=(_text(env, "KMS_REGION") or _text(env, "AWS_REGION") or _text(env, "AWS_DEFAULT_REGION")),
        metadata_endpoint=(_text(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT") or "http://169.254.169.254").rstrip("/"),
        metadata_timeout=_float(env, "METADATA_TIMEOUT", 1.0),
        taupage_config=Path(_text(env, "TAUPAGE_CONFIG") or "/meta/taupage.yaml"),
        ssh_key_secret_file=_path_or_none(env, "SSH_KEY_SECRET_FILE"),
        ssh_key_path=Path(_text(env, "SSH_KEY_PATH") or home / ".ssh" / "id_rsa"),
        replace_ssh_key=_flag(env, "SSH_KEY_REPLACE", False),
        stale_marker_age=_int(env, "STALE_MARKER_AGE", 6 * 3600, minimum=60),
        stalled_snapshot_age=_int(env, "STALLED_SNAPSHOT_AGE", DAY, minimum=60),
        shutdown_grace=_int(env, "SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE, minimum=0),
        # Unset: the default table; set but empty: recording in the account is off.
        state_table=(_text(env, "STATE_TABLE") if "STATE_TABLE" in env else DEFAULT_STATE_TABLE),
    )


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _raw(env: Mapping[str, str], name: str) -> str | None:
    """A multi-line value as given (known_hosts lines), or None if empty."""
    value = env.get(name, "")
    return value if value.strip() else None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    raw = _text(env, name)
    if raw is None:
        return choices[0]
    if raw.lower() not in choices:
        raise SettingError(f"{name}={raw!r} is not one of {', '.join(choices)}", hint=f"set {name} to {choices[0]}")
    return raw.lower()


_BWLIMIT = re.compile(r"^(\d+(?:\.\d+)?)([KMG]?)$", re.IGNORECASE)


def _bwlimit(env: Mapping[str, str], name: str) -> str | None:
    """rsync's --bwlimit: a rate in KiB/s, or with a K/M/G suffix (``500``, ``20M``)."""
    raw = _text(env, name)
    if raw is None:
        return None
    match = _BWLIMIT.match(raw)
    if not match or float(match[1]) <= 0:
        raise SettingError(
            f"{name}={raw!r} is not a transfer rate",
            hint=f"set {name} to KiB per second, e.g. 20000, or with a suffix, e.g. 20M",
        )
    return raw


def _path_or_none(env: Mapping[str, str], name: str) -> Path | None:
    value = _text(env, name)
    return Path(value) if value else None


def _int(env, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(
            f"{name}={raw!r} is not a whole number", hint=f"set {name} to an integer, e.g. {default}"
        ) from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingError(f"{name}={value} is out of range", hint=f"set {name} {bounds}")
    return value


def _float(env, name: str, default: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number", hint=f"set {name} e.g. to {default}") from None
    if not value > 0:
        raise SettingError(f"{name}={raw} must be positive", hint=f"set {name} e.g. to {default}")
    return value


def _percent(env, name: str, default: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0 <= value < 100:
        raise SettingError(f"{name}={raw!r} is not a percentage", hint=f"set {name} between 0 and 99, e.g. 5")
    return value


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(env, name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r} is not a yes/no value", hint=f"set {name} to 1 or 0")

"""The container's settings, read once from the environment.

The senza TaupageConfig passes these variables; ``docs/backup-program.md`` lists them all.
Numbers and flags are checked here, with errors naming the variable and the fix; values
only some commands need (``GHE_HOSTNAME``, ``BACKUP_SCHEDULE``) are checked where they are
used (``backup_config``, ``schedule``), so ``decrypt-key`` runs without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ghe_backup.errors import ConfigError

DAY = 86400


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
    backup_config_path: Path
    backup_command: str
    schedule: str | None
    health_bind: str
    health_port: int
    max_snapshot_age: int
    min_free_bytes: int
    min_free_percent: float
    kms_region: str | None
    metadata_endpoint: str
    metadata_timeout: float
    taupage_config: Path
    ssh_key_secret_file: Path | None
    ssh_key_path: Path
    replace_ssh_key: bool
    stale_marker_age: int
    stalled_snapshot_age: int
    shutdown_grace: int

    @property
    def lock_path(self) -> Path:
        """The lock every backup run holds; on the data volume so it spans processes."""
        return self.data_dir / ".ghe-backup.lock"

    @property
    def state_path(self) -> Path:
        """Where the last run's result is kept across restarts."""
        return self.data_dir / ".ghe-backup-state.json"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check all settings from ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    return Settings(
        ghe_hostname=_text(env, "GHE_HOSTNAME"),
        num_snapshots=_int(env, "GHE_NUM_SNAPSHOTS", 10, minimum=1),
        data_dir=Path(_text(env, "GHE_DATA_DIR") or "/data/ghe-data"),
        data_mount=Path(_text(env, "DATA_MOUNT") or "/data"),
        require_data_mount=_flag(env, "REQUIRE_DATA_MOUNT", True),
        extra_ssh_opts=_text(env, "GHE_EXTRA_SSH_OPTS"),
        extra_rsync_opts=_text(env, "GHE_EXTRA_RSYNC_OPTS"),
        backup_config_path=Path(
            _text(env, "GHE_BACKUP_CONFIG") or "/etc/github-backup-utils/backup.config"
        ),
        backup_command=_text(env, "GHE_BACKUP_COMMAND") or "ghe-backup",
        schedule=_text(env, "BACKUP_SCHEDULE"),
        health_bind=_text(env, "HEALTH_BIND") or "0.0.0.0",
        health_port=_int(env, "HEALTH_PORT", 8080, minimum=0, maximum=65535),
        max_snapshot_age=_int(env, "MAX_SNAPSHOT_AGE", 2 * DAY, minimum=60),
        min_free_bytes=_int(env, "MIN_FREE_BYTES", 0, minimum=0),
        min_free_percent=_percent(env, "MIN_FREE_PERCENT", 5.0),
        kms_region=(
            _text(env, "KMS_REGION") or _text(env, "AWS_REGION") or _text(env, "AWS_DEFAULT_REGION")
        ),
        metadata_endpoint=(
            _text(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT") or "http://169.254.169.254"
        ).rstrip("/"),
        metadata_timeout=_float(env, "METADATA_TIMEOUT", 1.0),
        taupage_config=Path(_text(env, "TAUPAGE_CONFIG") or "/meta/taupage.yaml"),
        ssh_key_secret_file=_path_or_none(env, "SSH_KEY_SECRET_FILE"),
        ssh_key_path=Path(_text(env, "SSH_KEY_PATH") or home / ".ssh" / "id_rsa"),
        replace_ssh_key=_flag(env, "SSH_KEY_REPLACE", False),
        stale_marker_age=_int(env, "STALE_MARKER_AGE", 6 * 3600, minimum=60),
        stalled_snapshot_age=_int(env, "STALLED_SNAPSHOT_AGE", DAY, minimum=60),
        shutdown_grace=_int(env, "SHUTDOWN_GRACE", 8, minimum=0),
    )


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


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

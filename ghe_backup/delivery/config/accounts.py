"""Account configuration: the senza base, shared defaults and one overlay per account.

``load_accounts`` reads and validates every file before anything runs, so bad input fails
with one line (exit 2) and no side effects. ``AccountConfig.definition`` is the merged senza
definition as configured, with ``${...}`` pipeline values filled in; where it is deployed to
(the real account or the sandbox) is the ``Target``'s business, not the config's.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ghe_backup.delivery.config.merge import Merged, logical_path, merge_layers
from ghe_backup.delivery.config.schema import CONFIG_FILE, SENZA, dotted, validate_document, where
from ghe_backup.delivery.config.yamlfile import YamlDocument, display_path, load_yaml
from ghe_backup.errors import ConfigError

BASE_FILE = Path("senza/ghe-backup.yaml")
DEFAULTS_FILE = Path("config/defaults.yaml")
ACCOUNTS_DIR = Path("config/accounts")

REQUIRED = ("account_id", "region", "deployer", "registry", "image")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")


@dataclass(frozen=True)
class AccountSettings:
    """The pipeline settings of one account (the ``pipeline:`` section, merged with defaults)."""

    name: str
    source: Path
    account_id: str
    region: str
    deployer: str
    registry: str
    image: str
    approval: bool = False
    lizzy_url: str | None = None
    lizzy_token_env: str = "LIZZY_TOKEN"
    lizzy_token_command: str | None = None
    deploy_role: str | None = None
    deploy_timeout: int = 1800
    poll_max_interval: float = 10.0
    #: The account's DynamoDB table for the deploy lock, the history and the backup status.
    state_table: str = "ghe-backup-state"
    #: A deploy lock older than this (seconds) is reported as stale (and broken only by --force).
    lock_ttl: int = 7200
    #: Taupage freshness: an AMI older than this is stale (inv status --check, inv refresh) ...
    max_ami_age_days: int = 30
    #: ... and so is one AWS retires (DeprecationTime) within this many days.
    refresh_days_before_expiry: int = 7
    #: The newest complete backup may be this old before the account needs attention.
    max_backup_age_hours: int = 26
    #: A deploy waits this long (seconds) for a running backup to finish before it replaces the stack.
    backup_wait: int = 1800

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.image}"

    def placeholders(self) -> dict[str, str]:
        return {"registry": self.registry, "image": self.image, "account_id": self.account_id, "region": self.region}


@dataclass(frozen=True)
class AccountConfig:
    settings: AccountSettings
    merged: Merged

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def definition(self) -> dict[str, Any]:
        """The senza definition for this account, ready for senza or Lizzy."""
        return substitute(self.merged, self.settings.placeholders())

    def component(self, name: str) -> dict[str, Any]:
        for item in self.definition.get("SenzaComponents", []):
            if name in item:
                return item[name]
        raise ConfigError(f"{display_path(self.settings.source)}: SenzaComponents.{name}: missing")


def account_files(root: Path) -> dict[str, Path]:
    folder = root / ACCOUNTS_DIR
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def load_accounts(root: Path) -> dict[str, AccountConfig]:
    """Read and validate the base, the defaults and every account overlay under ``root``."""
    base = load_yaml(root / BASE_FILE)
    validate_document(base, SENZA)
    defaults = load_yaml(root / DEFAULTS_FILE)
    validate_document(defaults, CONFIG_FILE)
    accounts: dict[str, AccountConfig] = {}
    seen_ids: dict[str, YamlDocument] = {}
    for name, path in account_files(root).items():
        overlay = load_yaml(path)
        if overlay.data is not None and not isinstance(overlay.data, dict):
            raise ConfigError(f"{where(overlay, ())}: expected a mapping with 'pipeline' and 'senza'")
        validate_document(overlay, CONFIG_FILE)
        account = _build_account(name, base, defaults, overlay)
        account_id = account.settings.account_id
        if account_id in seen_ids:
            other = seen_ids[account_id]
            raise ConfigError(
                f"{where(overlay, ('pipeline', 'account_id'))}: pipeline.account_id: {account_id} is already "
                f"claimed by {display_path(other.path)}",
                hint="each account overlay must name its own AWS account",
            )
        seen_ids[account_id] = overlay
        accounts[name] = account
    return accounts


def select_accounts(
    names: list[str] | str | None, accounts: dict[str, AccountConfig], root: Path
) -> list[AccountConfig]:
    """The named accounts, in the order given, each once; unknown names list the known ones."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ConfigError("no account given", hint="pass --account=NAME (see: inv accounts)")
    unknown = [n for n in names if n not in accounts]
    if unknown:
        known = ", ".join(accounts) or "none"
        raise ConfigError(
            f"unknown account '{unknown[0]}' (no {display_path(root / ACCOUNTS_DIR / (unknown[0] + '.yaml'))})",
            hint=f"known accounts: {known}",
        )
    return [accounts[n] for n in dict.fromkeys(names)]


def _build_account(name: str, base: YamlDocument, defaults: YamlDocument, overlay: YamlDocument) -> AccountConfig:
    pipeline_layers = merge_layers(
        [
            ("defaults", (defaults.data or {}).get("pipeline") or {}),
            ("overlay", (overlay.data or {}).get("pipeline") or {}),
        ]
    ).data
    for key in REQUIRED:
        if key not in pipeline_layers:
            raise ConfigError(
                f"{where(overlay, ('pipeline',))}: pipeline.{key}: missing required key",
                hint=f"add '{key}:' under 'pipeline:' in {display_path(overlay.path)}",
            )
    if pipeline_layers["deployer"] == "lizzy":
        url = pipeline_layers.get("lizzy_url")
        if not url:
            raise ConfigError(
                f"{where(overlay, ('pipeline',))}: pipeline.lizzy_url: missing required key",
                hint="deployer 'lizzy' needs the agent's https URL",
            )
        check_lizzy_url(url, where(overlay, ("pipeline", "lizzy_url")))
    settings = AccountSettings(name=name, source=overlay.path, **pipeline_layers)
    merged = merge_layers(
        [
            (display_path(base.path), base.data or {}),
            (display_path(defaults.path), (defaults.data or {}).get("senza") or {}),
            (display_path(overlay.path), (overlay.data or {}).get("senza") or {}),
        ]
    )
    substitute(merged, settings.placeholders())  # unknown placeholders fail now, not at deploy time
    return AccountConfig(settings=settings, merged=merged)


def check_lizzy_url(url: str, location: str) -> None:
    parsed = urlparse(url)
    loopback = parsed.hostname in LOOPBACK_HOSTS
    if (parsed.scheme == "https" or (parsed.scheme == "http" and loopback)) and parsed.hostname:
        return
    raise ConfigError(
        f"{location}: pipeline.lizzy_url: {url!r} is not an https URL",
        hint="tokens are only sent over https (plain http is allowed for 127.0.0.1/localhost)",
    )


def substitute(merged: Merged, values: dict[str, str]) -> dict[str, Any]:
    """Fill ``${name}`` placeholders in every string of the merged definition."""

    def fill(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: fill(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, (*path, str(i))) for i, v in enumerate(value)]
        if isinstance(value, str):
            return _PLACEHOLDER.sub(lambda m: _lookup(m.group(1), path, merged, values), value)
        return value

    return fill(copy.deepcopy(merged.data), ())


def _lookup(name: str, path: tuple[str, ...], merged: Merged, values: dict[str, str]) -> str:
    if name in values:
        return values[name]
    logical = logical_path(path, merged.data)
    source = merged.origins.get(logical, "senza definition")
    raise ConfigError(
        f"{source}: {dotted(logical)}: unknown placeholder ${{{name}}}",
        hint=f"use one of: {', '.join('${' + k + '}' for k in values)}",
    )

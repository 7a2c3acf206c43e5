"""Account configuration: the senza base, shared defaults and one overlay per account.

``load_accounts`` reads and validates every file before anything runs, so bad input fails
with one line (exit 2) and no side effects. ``AccountConfig.definition`` is the merged senza
definition as configured, with ``${...}`` pipeline values filled in; where it is deployed to
(the real account or the sandbox) is the ``Target``'s business, not the config's.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ghe_backup.delivery.config import meaning
from ghe_backup.delivery.config.merge import Merged, logical_path, merge_layers
from ghe_backup.delivery.config.schema import CONFIG_FILE, SENZA, dotted, validate_document, where
from ghe_backup.delivery.config.volume import Finding, taupage_groups
from ghe_backup.delivery.config.yamlfile import YamlDocument, display_path, load_yaml
from ghe_backup.errors import ConfigError
from ghe_backup.plumbing.redact import shown

BASE_FILE = Path("senza/ghe-backup.yaml")
DEFAULTS_FILE = Path("config/defaults.yaml")
ACCOUNTS_DIR = Path("config/accounts")

REQUIRED = ("account_id", "region", "deployer", "registry", "image")
#: Account names are file names, flags, stack role sessions and history entries: plain ASCII.
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
#: Mappings whose keys may be whole numbers (Taupage's port map); everywhere else keys are names.
NUMBER_KEYS_UNDER = ("ports",)
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

    def container_environment(self) -> dict[str, str]:
        """What the pipeline gives the container unless the config sets it: the table the deploy's
        backup wait and ``inv status`` read, so the container records its runs there."""
        return {"STATE_TABLE": self.state_table}


@dataclass(frozen=True)
class Sources:
    """The three files an account is made of, to name the line a value or a problem comes from."""

    base: YamlDocument
    defaults: YamlDocument
    overlay: YamlDocument

    def where(self, path: tuple[str, ...]) -> str:
        """``file:line`` of ``("pipeline", key)`` or of a key path of the merged senza definition.

        The layer that sets the deepest part of the path wins; on a tie the later layer (the
        overlay over the defaults over the base), as in the merge.
        """
        if path[:1] == ("pipeline",):
            layers = [(self.overlay, ()), (self.defaults, ())]
        else:
            layers = [(self.overlay, ("senza",)), (self.defaults, ("senza",)), (self.base, ())]
        best: tuple[int, YamlDocument, tuple[str, ...]] | None = None
        for doc, prefix in layers:
            for depth in range(len(path), 0, -1):
                if (*prefix, *path[:depth]) in doc.lines:
                    if best is None or depth > best[0]:
                        best = (depth, doc, (*prefix, *path[:depth]))
                    break
        if best is None:
            return display_path(layers[-1][0].path)
        return f"{display_path(best[1].path)}:{best[1].lines[best[2]]}"


@dataclass(frozen=True)
class AccountConfig:
    settings: AccountSettings
    merged: Merged
    sources: Sources | None = field(default=None, repr=False, compare=False)
    #: The merged ``pipeline:`` values as written (``settings`` adds the defaults of absent keys).
    pipeline: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def definition(self) -> dict[str, Any]:
        """The senza definition for this account, ready for senza or Lizzy."""
        return self.render(self.settings.placeholders())

    def render(self, placeholders: dict[str, str]) -> dict[str, Any]:
        """The merged definition with ``placeholders`` filled in and the pipeline's container
        variables (``AccountSettings.container_environment``) added where the config leaves them out."""
        return with_container_environment(substitute(self.merged, placeholders), self.settings.container_environment())

    def component(self, name: str) -> dict[str, Any]:
        for item in self.definition.get("SenzaComponents", []):
            if name in item:
                return item[name]
        raise ConfigError(f"{display_path(self.settings.source)}: SenzaComponents.{name}: missing")

    def problem(self, finding: Finding) -> ConfigError:
        """A finding about this account as the one-line error: ``file:line: key.path: problem (fix)``."""
        place = self.sources.where(finding.path) if self.sources else display_path(self.settings.source)
        return ConfigError(f"{place}: {dotted(finding.path)}: {finding.problem}", hint=finding.fix)


def account_files(root: Path) -> dict[str, Path]:
    """Each account's overlay by name; a misnamed or mistyped overlay is an error, not silently skipped."""
    folder = root / ACCOUNTS_DIR
    if not folder.exists():
        return {}
    if not folder.is_dir():
        raise ConfigError(f"{display_path(folder)}: is not a directory", hint="it holds one <name>.yaml per account")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # editors' swap and lock files
        if path.suffix == ".yml":
            raise ConfigError(
                f"{display_path(path)}: account overlays end in .yaml", hint=f"rename it to {path.stem}.yaml"
            )
        if path.suffix != ".yaml":
            continue
        if not ACCOUNT_NAME.fullmatch(path.stem):
            raise ConfigError(
                f"{display_path(path)}: {shown(path.stem)} is not an account name",
                hint="name the file with lower-case letters, digits, '-' and '_', e.g. prod.yaml",
            )
        found[path.stem] = path
    return found


def load_accounts(root: Path) -> dict[str, AccountConfig]:
    """Read and validate the base, the defaults and every account overlay under ``root``."""
    base = _load(root / BASE_FILE, SENZA, "the senza definition (SenzaInfo, SenzaComponents)")
    defaults = _load(root / DEFAULTS_FILE, CONFIG_FILE, "'pipeline:' and 'senza:' defaults for every account")
    accounts: dict[str, AccountConfig] = {}
    seen_ids: dict[str, YamlDocument] = {}
    for name, path in account_files(root).items():
        overlay = _load(path, CONFIG_FILE, "'pipeline:' (account_id, registry, ...) and 'senza:' for this account")
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
    for account in accounts.values():  # meaning after shape, for every account: the file's problem is read first
        finding = meaning.check_account(account.settings, account.pipeline, account.merged.data)
        if finding:
            raise account.problem(finding)
    clash = meaning.check_accounts(list(accounts.values()))
    if clash:
        account, finding = clash
        raise account.problem(finding)
    return accounts


def _load(path: Path, schema: dict[str, Any], holds: str) -> YamlDocument:
    """One config file, read safely, a mapping, valid against ``schema``."""
    doc = load_yaml(path, number_keys_under=NUMBER_KEYS_UNDER)
    if doc.empty:
        raise ConfigError(f"{display_path(path)}: the file is empty", hint=f"it holds {holds}; restore it from git")
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"a single value ({shown(doc.data)})"
        raise ConfigError(f"{where(doc, ())}: (top level): is {kind}, not a mapping", hint=f"it holds {holds}")
    validate_document(doc, schema)
    return doc


def select_accounts(
    names: list[str] | str | None, accounts: dict[str, AccountConfig], root: Path
) -> list[AccountConfig]:
    """The named accounts, in the order given, each once; unknown names list the known ones."""
    if isinstance(names, str):
        names = [names]
    names = [n for n in names or [] if n != ""]  # --account= names nothing
    if not names:
        raise ConfigError("no account given", hint="pass --account=NAME (see: inv accounts)")
    known = ", ".join(accounts) or "none"
    for name in names:
        if not isinstance(name, str) or not ACCOUNT_NAME.fullmatch(name):
            raise ConfigError(
                f"--account: {shown(name)} is not an account name",
                hint=f"names are the files in {ACCOUNTS_DIR}/ without .yaml: {known}",
            )
    unknown = [n for n in names if n not in accounts]
    if unknown:
        raise ConfigError(
            f"unknown account '{unknown[0]}' (no {display_path(root / ACCOUNTS_DIR / (unknown[0] + '.yaml'))})",
            hint=f"known accounts: {known}",
        )
    return [accounts[n] for n in dict.fromkeys(names)]


def _build_account(name: str, base: YamlDocument, defaults: YamlDocument, overlay: YamlDocument) -> AccountConfig:
    sources = Sources(base, defaults, overlay)
    pipeline_layers = merge_layers(
        [
            (display_path(defaults.path), defaults.data.get("pipeline") or {}),
            (display_path(overlay.path), overlay.data.get("pipeline") or {}),
        ]
    ).data
    for key in REQUIRED:
        if key not in pipeline_layers:
            raise ConfigError(
                f"{where(overlay, ('pipeline',))}: pipeline.{key}: missing required key",
                hint=f"add '{key}:' under 'pipeline:' in {display_path(overlay.path)} (or {display_path(defaults.path)})",
            )
    settings = AccountSettings(name=name, source=overlay.path, **pipeline_layers)
    merged = merge_layers(
        [
            (display_path(base.path), base.data),
            (display_path(defaults.path), defaults.data.get("senza") or {}),
            (display_path(overlay.path), overlay.data.get("senza") or {}),
        ]
    )
    account = AccountConfig(settings=settings, merged=merged, sources=sources, pipeline=pipeline_layers)
    substitute(merged, settings.placeholders())  # unknown placeholders fail now, not at deploy time
    return account


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


def with_container_environment(definition: dict[str, Any], variables: dict[str, str]) -> dict[str, Any]:
    """``definition`` (changed in place) with ``variables`` in its Taupage group's environment,
    except those the config sets itself (the config checks refuse a value the pipeline disagrees with)."""
    for _, body in taupage_groups(definition)[:1]:
        taupage = body.setdefault("TaupageConfig", {})
        environment = taupage.get("environment")
        if not isinstance(environment, dict):
            environment = taupage["environment"] = {}
        for name, value in variables.items():
            environment.setdefault(name, value)
    return definition


def _lookup(name: str, path: tuple[str, ...], merged: Merged, values: dict[str, str]) -> str:
    if name in values:
        return values[name]
    logical = logical_path(path, merged.data)
    source = merged.origins.get(logical, "senza definition")
    raise ConfigError(
        f"{source}: {dotted(logical)}: unknown placeholder ${{{name}}}",
        hint=f"use one of: {', '.join('${' + k + '}' for k in values)}",
    )

"""What config values mean, checked once the schema has checked their shape.

The schema (``schema.py``) says a value is a string, a number, a known key. This module says
whether it makes sense, in three tables:

- ``PIPELINE``: ``pipeline:`` key -> check of its merged value;
- ``GROUP``: key path inside the Taupage group (``SenzaComponents.AppServer``) -> check;
- ``ACCOUNTS``: checks across accounts (one agent each, backup schedules that overlap);

plus ``GUARDS`` (a sweep for secrets pasted into any value, the data volume guard of ``volume``)
and ``DEFINITION`` (checks relating several values: zones and region, the container's environment,
how fresh backups stay). A value check (``values``) takes ``(value, settings)`` (``MISSING``
when the key is absent) and returns ``(problem, fix)`` or None. The first finding becomes the
one-line ``ConfigError`` ``file:line: key.path: problem (fix)``, with the file and line the value
came from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Any

from ghe_backup.delivery.config import schedules, values, volume
from ghe_backup.delivery.config.volume import Finding
from ghe_backup.plumbing.redact import secret_kind, shown

KeyPath = tuple[str, ...]

PIPELINE: dict[str, values.Check] = {
    "account_id": values.account_id,
    "region": values.region,
    "lizzy_url": values.lizzy_url,
    "lizzy_token_env": values.token_env,
    "lizzy_token_command": values.token_command,
    "deploy_role": values.deploy_role,
    "registry": values.registry,
    "deploy_timeout": values.deploy_timeout,
    "poll_max_interval": values.poll_max_interval,
}
#: Paths inside the Taupage group (``SenzaComponents.AppServer``).
GROUP: dict[KeyPath, values.Check] = {
    ("InstanceType",): values.instance_type,
    ("TaupageConfig", "source"): values.image_source,
    ("TaupageConfig", "kms_private_ssh_key"): values.kms_ciphertext,
    ("TaupageConfig", "environment", "GHE_HOSTNAME"): values.hostname,
    ("TaupageConfig", "environment", "GHE_NUM_SNAPSHOTS"): values.snapshots,
    ("TaupageConfig", "environment", "BACKUP_SCHEDULE"): values.schedule,
}
_AZ = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]")

# -- the whole definition ----------------------------------------------------------------------


def availability_zones(definition: dict[str, Any], settings: Any) -> Iterable[Finding]:
    """Every AvailabilityZones entry, placeholders filled, lies in the account's region."""
    for item in definition.get("SenzaComponents") or []:
        for name, body in (item or {}).items():
            for index, zone in enumerate((body or {}).get("AvailabilityZones") or []):
                filled = str(zone).replace("${region}", settings.region)
                if not (_AZ.fullmatch(filled) and filled[:-1] == settings.region):
                    yield Finding(
                        ("SenzaComponents", str(name), "AvailabilityZones", str(index)),
                        f"{shown(filled)} is not an availability zone of {settings.region}",
                        "use ${region}a, the zone the data volume lives in",
                    )


def freshness(definition: dict[str, Any], settings: Any) -> Iterable[Finding]:
    """Backups run at least as often as /health wants a fresh snapshot (else its stale alert)."""
    for name, body in volume.taupage_groups(definition)[:1]:
        env = (body.get("TaupageConfig") or {}).get("environment") or {}
        expression, max_age = env.get("BACKUP_SCHEDULE"), env.get("MAX_SNAPSHOT_AGE", 2 * 86400)
        if not isinstance(max_age, int) or schedules.schedule_problem(expression):
            continue
        gap = schedules.longest_gap(expression)
        if gap.total_seconds() > max_age:
            yield Finding(
                ("SenzaComponents", name, "TaupageConfig", "environment", "BACKUP_SCHEDULE"),
                f"{shown(expression)} leaves up to {_hours(gap.total_seconds())} between backups, but "
                f"MAX_SNAPSHOT_AGE is {_hours(max_age)}: /health would raise the stale alert between backups",
                "back up more often, or raise MAX_SNAPSHOT_AGE",
            )


def environment(definition: dict[str, Any], settings: Any) -> Iterable[Finding]:
    """The container's environment: names it reads spelled right, values it accepts (each, and the
    host-key settings together), its health port."""
    from ghe_backup.backup.backup_config import pinned_host_keys
    from ghe_backup.backup.settings import SettingError, load_settings
    from ghe_backup.errors import ConfigError

    for name, body in volume.taupage_groups(definition)[:1]:
        taupage = body.get("TaupageConfig") or {}
        env = taupage.get("environment") or {}
        path = ("SenzaComponents", name, "TaupageConfig", "environment")
        for key in env:
            if key in values.CONTAINER_ENVIRONMENT:
                continue
            close = difflib.get_close_matches(key, values.CONTAINER_ENVIRONMENT, n=1, cutoff=0.85)
            if close:
                yield Finding(
                    (*path, key),
                    f"the container reads no such variable, so {close[0]} keeps its default or the base's value",
                    f"did you mean {close[0]}?",
                )
        try:  # what the container refuses at start would leave the account without backups
            pinned_host_keys(load_settings({k: _as_environment(v) for k, v in env.items()}))
        except SettingError as err:
            key = err.message.split("=", 1)[0] if "=" in err.message.split(" ", 1)[0] else None
            problem = err.message.split("=", 1)[1] if key else err.message
            yield Finding(
                (*path, key) if key else path, f"{problem}: the container would refuse to start", err.hint or ""
            )
        except ConfigError as err:  # the host keys: GHE_KNOWN_HOSTS, SSH_HOST_KEY_POLICY, GHE_EXTRA_SSH_OPTS
            yield _host_key_finding(path, env, err)
        port = _as_environment(env.get("HEALTH_PORT", 8080))
        if str(taupage.get("health_check_port", port)) != port:
            yield Finding(
                ("SenzaComponents", name, "TaupageConfig", "health_check_port"),
                f"{taupage.get('health_check_port')} is not HEALTH_PORT ({port}): the health check would find "
                "nothing there and the instance would be replaced again and again",
                f"use {port}, or set HEALTH_PORT to match",
            )


def _host_key_finding(path: KeyPath, env: dict[str, Any], err: Any) -> Finding:
    """The container's host-key refusal, on the line of the variable it names (if the config sets it,
    else of SSH_HOST_KEY_POLICY, which decided that keys must be pinned)."""
    variable, _, problem = err.message.partition(" ")
    where = variable if variable in env else "SSH_HOST_KEY_POLICY" if "SSH_HOST_KEY_POLICY" in env else None
    if where != variable:
        problem = err.message
    return Finding((*path, where) if where else path, f"{problem}: the container would refuse to start", err.hint or "")


def state_table(definition: dict[str, Any], settings: Any) -> Iterable[Finding]:
    """The container records its runs in the table the pipeline reads (the rendered definition
    passes ``pipeline.state_table`` as ``STATE_TABLE`` unless the config sets it)."""
    for name, body in volume.taupage_groups(definition)[:1]:
        env = (body.get("TaupageConfig") or {}).get("environment") or {}
        if "STATE_TABLE" in env and _as_environment(env["STATE_TABLE"]) != settings.state_table:
            value = _as_environment(env["STATE_TABLE"])
            what = "turns the container's recording off" if not value.strip() else "is not pipeline.state_table"
            yield Finding(
                ("SenzaComponents", name, "TaupageConfig", "environment", "STATE_TABLE"),
                f"{shown(value)} {what} ({settings.state_table}): deploys would not wait for this container's "
                "backups and inv status would not see them",
                "remove STATE_TABLE (the pipeline passes pipeline.state_table to the container), "
                "or set pipeline.state_table to that table",
            )


def _as_environment(value: Any) -> str:
    """A value as Taupage hands it to the container: text (YAML booleans as ``true``/``false``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def pasted_secrets(definition: dict[str, Any], _: Any) -> Iterable[Finding]:
    """No value anywhere looks like a plaintext secret (config is committed to git)."""

    def walk(value: Any, path: KeyPath) -> Iterable[Finding]:
        if isinstance(value, dict):
            for key, child in value.items():
                yield from walk(child, (*path, str(key)))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                if isinstance(child, dict) and len(child) == 1:
                    ((name, body),) = child.items()
                    yield from walk(body, (*path, str(name)))
                else:
                    yield from walk(child, (*path, str(index)))
        elif path[-1:] != ("kms_private_ssh_key",) and (kind := secret_kind(value)):
            yield Finding(
                path,
                f"looks like {kind} (not shown): config is committed to git, secrets do not belong in it",
                "encrypt it with KMS as aws:kms:<ciphertext>, or pass it another way; treat it as leaked if this file was shared",
            )

    yield from walk(definition, ())


def data_volume(definition: dict[str, Any], _: Any) -> Iterable[Finding]:
    """The data volume guard (``volume``)."""
    return volume.check_data_volume(definition)


DefinitionCheck = Callable[[dict[str, Any], Any], Iterable[Finding]]
#: Checks of the whole definition that say the most: run before the per-key checks.
GUARDS: tuple[DefinitionCheck, ...] = (pasted_secrets, data_volume)
#: Checks of the whole definition that relate several values: run after the per-key checks.
DEFINITION: tuple[DefinitionCheck, ...] = (availability_zones, environment, state_table, freshness)


def check_account(settings: Any, pipeline: dict[str, Any], definition: dict[str, Any]) -> Finding | None:
    """The first problem of one account: its pipeline settings, its Taupage group, its definition."""
    for key, check in PIPELINE.items():
        problem = check(pipeline.get(key, values.MISSING), settings)
        if problem:
            return Finding(("pipeline", key), *problem)
    for rule in GUARDS:
        for finding in rule(definition, settings):
            return finding
    for name, body in volume.taupage_groups(definition)[:1]:
        for path, check in GROUP.items():
            problem = check(_get(body, path), settings)
            if problem:
                return Finding(("SenzaComponents", name, *path), *problem)
    for rule in DEFINITION:
        for finding in rule(definition, settings):
            return finding
    return None


# -- across accounts ---------------------------------------------------------------------------


def same_agent(accounts: list[Any]) -> Iterable[tuple[Any, Finding]]:
    seen: dict[str, str] = {}
    for account in accounts:
        url = (account.settings.lizzy_url or "").rstrip("/")
        if account.settings.deployer == "lizzy" and url:
            if url in seen:
                yield (
                    account,
                    Finding(
                        ("pipeline", "lizzy_url"),
                        f"is also {seen[url]}'s agent: each account has its own Lizzy agent",
                        "use this account's agent",
                    ),
                )
            seen.setdefault(url, account.name)


def overlapping_schedules(accounts: list[Any]) -> Iterable[tuple[Any, Finding]]:
    found = []
    for account in accounts:
        for name, body in volume.taupage_groups(account.merged.data)[:1]:
            expression = ((body.get("TaupageConfig") or {}).get("environment") or {}).get("BACKUP_SCHEDULE")
            found.append((account, name, expression))
    for index, (account, name, expression) in enumerate(found):
        for other, _, other_expression in found[:index]:
            clash = schedules.first_overlap(other_expression, expression)
            if clash:
                yield (
                    account,
                    Finding(
                        ("SenzaComponents", name, "TaupageConfig", "environment", "BACKUP_SCHEDULE"),
                        f"{shown(expression)} starts within {int(schedules.SLOT.total_seconds() // 60)} minutes of "
                        f"{other.name}'s {shown(other_expression)} (e.g. {clash[0]:%a %H:%M} and {clash[1]:%a %H:%M} UTC): "
                        "two backups of the appliance would run at once",
                        "give each account its own hours, e.g. prod '0 */2 * * *' and staging '0 1-23/2 * * *'",
                    ),
                )


ACCOUNTS: tuple[Callable[[list[Any]], Iterable[tuple[Any, Finding]]], ...] = (same_agent, overlapping_schedules)


def check_accounts(accounts: list[Any]) -> tuple[Any, Finding] | None:
    """The first problem between accounts, with the account it is reported on."""
    for rule in ACCOUNTS:
        for found in rule(accounts):
            return found
    return None


def _get(body: dict[str, Any], path: KeyPath) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return values.MISSING
        node = node[key]
    return node


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"

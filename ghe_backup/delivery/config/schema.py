"""The one schema for config files (defaults, account overlays, the senza base) and its checks.

Unknown keys are errors with a suggestion of the closest known key; every message names the
file, the line, the key path and the fix, on one line.
"""

from __future__ import annotations

import difflib
from typing import Any

import jsonschema

from ghe_backup.delivery.config.merge import logical_path
from ghe_backup.delivery.config.yamlfile import YamlDocument, display_path
from ghe_backup.errors import ConfigError
from ghe_backup.plumbing.memo import Kept
from ghe_backup.plumbing.redact import secret_kind, shown

_STR = {"type": "string"}
_STR_LIST = {"type": "array", "items": _STR}
_SCALAR = {"type": ["string", "integer", "number", "boolean"]}


def _keyed_list(body: dict[str, Any]) -> dict[str, Any]:
    """A list of single-key mappings, such as SenzaComponents."""
    return {
        "type": "array",
        "items": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": body},
    }


def _closed(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **extra}


PIPELINE = _closed(
    {
        "account_id": {"type": "string", "pattern": r"^[0-9]{12}$"},
        "region": {"type": "string", "pattern": r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"},
        "deployer": {"enum": ["lizzy", "senza"]},
        "lizzy_url": _STR,
        "lizzy_token_env": {"type": "string", "pattern": r"^[A-Z_][A-Z0-9_]*$"},
        "lizzy_token_command": _STR,
        "deploy_role": _STR,
        "registry": {"type": "string", "pattern": r"^[A-Za-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)?$"},
        "image": {"type": "string", "pattern": r"^[a-z0-9]+([._/-][a-z0-9]+)*$"},
        "approval": {"type": "boolean"},
        "deploy_timeout": {"type": "integer"},
        "poll_max_interval": {"type": "number"},
        "state_table": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{3,255}$"},
        "lock_ttl": {"type": "integer", "minimum": 600, "maximum": 604800},
        "max_ami_age_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "refresh_days_before_expiry": {"type": "integer", "minimum": 0, "maximum": 90},
        "max_backup_age_hours": {"type": "integer", "minimum": 1, "maximum": 720},
        "backup_wait": {"type": "integer", "minimum": 0, "maximum": 86400},
    }
)

TAUPAGE = _closed(
    {
        "runtime": {"enum": ["Docker"]},
        "source": _STR,
        "application_id": _STR,
        "application_version": _STR,
        "root": {"type": "boolean"},
        "privileged": {"type": "boolean"},
        "docker_daemon_access": {"type": "boolean"},
        "read_only": {"type": "boolean"},
        "ports": {"type": "object", "additionalProperties": {"type": ["integer", "string"]}},
        "health_check_path": _STR,
        "health_check_port": {"type": "integer"},
        "health_check_timeout_seconds": {"type": "integer"},
        "environment": {
            "type": "object",
            "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
            "additionalProperties": _SCALAR,
        },
        "kms_private_ssh_key": {"type": "string", "pattern": r"^aws:kms:"},
        "mounts": {
            "type": "object",
            "additionalProperties": _closed(
                {"partition": _STR, "filesystem": _STR, "erase_on_boot": {"type": "boolean"}, "options": _STR}
            ),
        },
        "volumes": _closed({"ebs": {"type": "object", "additionalProperties": _STR}}),
        "notify_cfn": _closed({"stack": _STR, "resource": _STR}),
        "mint_bucket": _STR,
        "scalyr_account_key": _STR,
        "log_destination": _STR,
    }
)

COMPONENT = _closed(
    {
        "Type": {"enum": ["Senza::StupsAutoConfiguration", "Senza::TaupageAutoScalingGroup"]},
        "InstanceType": {"type": "string", "pattern": r"^[a-z0-9]+\.[a-z0-9]+$"},
        "SecurityGroups": _STR_LIST,
        "IamRoles": _STR_LIST,
        "AssociatePublicIpAddress": {"type": "boolean"},
        "AvailabilityZones": _STR_LIST,
        "PublicOnly": {"type": "boolean"},
        "Image": _STR,
        "AutoScaling": _closed(
            {"Minimum": {"type": "integer"}, "Maximum": {"type": "integer"}, "DesiredCapacity": {"type": "integer"}}
        ),
        "BlockDeviceMappings": {"type": "array"},
        "TaupageConfig": TAUPAGE,
    }
)

SENZA = _closed(
    {
        "SenzaInfo": _closed(
            {
                "StackName": {"type": "string", "pattern": r"^[a-z][a-z0-9-]*$"},
                "OperatorTopicId": _STR,
                "Tags": {"type": "array"},
                "Parameters": _keyed_list(
                    _closed({"Description": _STR, "Default": _SCALAR, "AllowedValues": {"type": "array"}})
                ),
            }
        ),
        "SenzaComponents": _keyed_list(COMPONENT),
    }
)

CONFIG_FILE = _closed({"pipeline": PIPELINE, "senza": SENZA})

#: What to do about a value that does not match its pattern, by key.
FIXES = {
    "account_id": 'use the 12-digit AWS account id as a quoted string, e.g. "123456789012"',
    "state_table": "use a DynamoDB table name (letters, digits, _ . -), e.g. ghe-backup-state",
    "region": "use an AWS region name such as eu-central-1",
    "registry": "use host[:port][/namespace], e.g. 123456789012.dkr.ecr.eu-central-1.amazonaws.com",
    "image": "use a lower-case repository name such as ghe-backup",
    "lizzy_token_env": "name an environment variable in upper case, e.g. LIZZY_TOKEN",
    "kms_private_ssh_key": 'use the KMS-encrypted key as "aws:kms:<base64>"',
    "StackName": "use lower-case letters, digits and dashes",
    "InstanceType": "use an EC2 instance type such as t3.medium",
}

#: How values and schema types read in messages.
_GOT = {str: "a string", bool: "a boolean", int: "a whole number", float: "a number", list: "a list", dict: "a mapping"}
_WANTED = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping",
}
#: What to do when a secret was pasted where something else belongs.
SECRET_FIXES = {
    "kms_private_ssh_key": "encrypt the key with the account's KMS key and write aws:kms:<base64 ciphertext>; "
    "treat the key as leaked if this file was shared",
    "lizzy_token_env": "give the NAME of the variable that holds the token, e.g. LIZZY_TOKEN; "
    "treat the token as leaked if this file was shared",
}
#: Why a key is not allowed where people are likely to try it.
UNKNOWN_KEY_REASONS = {
    "Resources": "stack resources are deleted with the stack: the data volume must never be one, it is attached by name",
}


def validate_document(doc: YamlDocument, schema: dict[str, Any] = CONFIG_FILE) -> None:
    """Raise a one-line ``ConfigError`` for the first problem in ``doc``, in document order."""
    if doc.data is None:
        return
    key = (id(schema), repr(doc.data))  # repr tells 1, "1", 1.0 and True apart, and keys' types too
    if _VALID.get(key) is schema:
        return
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc.data))
    if not errors:
        _VALID.keep(key, schema)
        return
    first = min(errors, key=lambda e: (_line(doc, e), len(e.absolute_path)))
    raise describe(doc, first)


#: Documents found valid in this process, by schema and value (a run validates the same files more
#: than once; the tests validate the same fixture files hundreds of times). Only passes are kept.
_VALID: Kept[tuple[int, str], dict[str, Any]] = Kept(256)


def _line(doc: YamlDocument, error: jsonschema.ValidationError) -> int:
    """Where the problem is: the offending key for unknown keys (the mapping starts higher up)."""
    path = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = set(error.instance) - set(error.schema.get("properties", {}))
        lines = [doc.lines.get((*path, str(key))) for key in extra]
        if any(lines):
            return min(line for line in lines if line)
    return doc.line_of(path) or 0


def _key_path(path: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in path)


def where(doc: YamlDocument, key_path: tuple[str, ...]) -> str:
    line = doc.line_of(key_path)
    return f"{display_path(doc.path)}:{line}" if line else display_path(doc.path)


def dotted(key_path: tuple[str, ...]) -> str:
    return ".".join(key_path) or "(top level)"


def describe(doc: YamlDocument, error: jsonschema.ValidationError) -> ConfigError:
    raw = _key_path(error.absolute_path)
    path = logical_path(raw, doc.data)
    value = error.instance
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in set(value) - set(known))
        key = extra[0]
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        fix = UNKNOWN_KEY_REASONS.get(key) or (
            f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(known)}"
        )
        if not key.isascii():
            fix = f"it has non-ASCII letters that look like ASCII ones; {fix}"
        return ConfigError(f"{where(doc, (*raw, key))}: {dotted((*path, _name(key)))}: unknown key", hint=fix)
    if error.validator == "type":
        wanted = error.validator_value
        wanted = " or ".join(_WANTED.get(w, w) for w in (wanted if isinstance(wanted, list) else [wanted]))
        got = "null (empty)" if value is None else _GOT.get(type(value), f"a {type(value).__name__}")
        fix = FIXES.get(path[-1] if path else "", "write true or false" if wanted == "a boolean" else f"give {wanted}")
        return ConfigError(f"{where(doc, raw)}: {dotted(path)}: expected {wanted}, got {got}", hint=fix)
    if error.validator == "enum":
        options = ", ".join(str(v) for v in error.validator_value)
        return ConfigError(
            f"{where(doc, raw)}: {dotted(path)}: {shown(value)} is not allowed", hint=f"use one of: {options}"
        )
    if error.validator == "pattern" and "propertyNames" in error.schema_path:
        key = str(value)
        return ConfigError(
            f"{where(doc, (*raw, key))}: {dotted((*path, _name(key)))}: not an environment variable name",
            hint="use ASCII letters, digits and _ (look-alike letters?)",
        )
    if error.validator == "pattern":
        fix = FIXES.get(path[-1] if path else "", f"match {error.validator_value}")
        kind = secret_kind(value)
        if kind:  # say what was found, never the value: it may be a live secret
            return ConfigError(
                f"{where(doc, raw)}: {dotted(path)}: got what looks like {kind}, not shown",
                hint=SECRET_FIXES.get(path[-1] if path else "", fix),
            )
        return ConfigError(f"{where(doc, raw)}: {dotted(path)}: invalid value {shown(value)}", hint=fix)
    if error.validator in ("minProperties", "maxProperties"):
        return ConfigError(
            f"{where(doc, raw)}: {dotted(path)}: each entry must be a mapping with exactly one key",
            hint="write entries as '- Name: {...}'",
        )
    if error.validator in ("minimum", "maximum"):
        bound = "at least" if error.validator == "minimum" else "at most"
        return ConfigError(
            f"{where(doc, raw)}: {dotted(path)}: {shown(value)} is out of range",
            hint=f"give {bound} {error.validator_value}",
        )
    return ConfigError(f"{where(doc, raw)}: {dotted(path)}: not valid here ({error.validator})")


def _name(key: str) -> str:
    """A key as a message may show it: names as they are, anything odd escaped or withheld."""
    plain = key.isascii() and key.isprintable() and len(key) <= 60 and not secret_kind(key)
    return key if plain else shown(key)

"""Checks of single config values: ``(value, settings) -> (problem, fix)`` or None.

Each function knows what one key must mean (a cron expression that fires, a region that exists,
a host name that is not a URL, ...). ``value`` is the merged value as written, or ``MISSING``
when the key is absent; ``settings`` are the account's pipeline settings, for checks that relate
two values (a registry of the account's own). The tables that apply them are in ``meaning``.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from ghe_backup.delivery.config import awsnames, schedules
from ghe_backup.plumbing.redact import secret_kind, shown

KeyPath = tuple[str, ...]
MISSING: Any = type("Missing", (), {"__repr__": lambda self: "missing"})()
Problem = tuple[str, str] | None
Check = Callable[[Any, Any], Problem]

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
#: The variables the container reads (ghe_backup/backup/settings.py's ENVIRONMENT, docs/backup-program.md);
#: a near miss of one is a typo.
CONTAINER_ENVIRONMENT = (
    "GHE_HOSTNAME",
    "GHE_NUM_SNAPSHOTS",
    "GHE_DATA_DIR",
    "DATA_MOUNT",
    "REQUIRE_DATA_MOUNT",
    "GHE_EXTRA_SSH_OPTS",
    "GHE_EXTRA_RSYNC_OPTS",
    "RSYNC_BWLIMIT",
    "GHE_KNOWN_HOSTS",
    "SSH_HOST_KEY_POLICY",
    "GHE_BACKUP_CONFIG",
    "GHE_BACKUP_COMMAND",
    "BACKUP_SCHEDULE",
    "HEALTH_PORT",
    "HEALTH_BIND",
    "MAX_SNAPSHOT_AGE",
    "MIN_FREE_BYTES",
    "MIN_FREE_PERCENT",
    "KMS_REGION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "METADATA_TIMEOUT",
    "TAUPAGE_CONFIG",
    "SSH_KEY_SECRET_FILE",
    "SSH_KEY_PATH",
    "HOME",
    "SSH_KEY_REPLACE",
    "STALE_MARKER_AGE",
    "STALLED_SNAPSHOT_AGE",
    "SHUTDOWN_GRACE",
    "STATE_TABLE",
)
MAX_SNAPSHOTS = 1000
DEPLOY_TIMEOUT = (60, 6 * 3600)  # seconds: a stack takes minutes; longer hides a hung deploy
POLL_INTERVAL = (0.1, 60.0)
_ECR = re.compile(r"([0-9]{12})\.dkr\.ecr(-fips)?\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?")
_ROLE_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,64}")
_CIPHERTEXT = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")  # base64, as KMS' CiphertextBlob is


# -- pipeline: settings ------------------------------------------------------------------------


def account_id(value: Any, _: Any) -> Problem:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{12}", value):
        return None
    if isinstance(value, str) and value.strip() != value:
        return f"{shown(value)} has spaces or a line break around it", "write exactly 12 digits, quoted"
    if isinstance(value, str) and not value.isascii():
        return f"{shown(value)} has characters that only look like digits", "type the 12 digits in ASCII"
    return f"{shown(value)} is not 12 digits", 'use the 12-digit AWS account id as a quoted string, e.g. "123456789012"'


def region(value: Any, _: Any) -> Problem:
    known = awsnames.regions()
    if known is None or value in known:
        return None
    close = difflib.get_close_matches(str(value), sorted(known), n=1, cutoff=0.6)
    return f"{shown(value)} is not an AWS region", (f"did you mean {close[0]}?" if close else "e.g. eu-central-1")


def lizzy_url(value: Any, settings: Any) -> Problem:
    if value is MISSING:
        if settings.deployer == "lizzy":
            return "missing required key", "deployer 'lizzy' needs the agent's https URL"
        return None
    try:
        parsed = urlparse(value)
        port = parsed.port
    except ValueError:
        return "is not a URL (a bad port?)", "use https://host[:port]"
    if parsed.username is not None or parsed.password is not None:
        return (
            "carries credentials (user:password@) in the URL (not shown)",
            "remove them: the agent is called with the bearer token from lizzy_token_env",
        )
    loopback = parsed.hostname in LOOPBACK_HOSTS
    if not parsed.hostname or not (parsed.scheme == "https" or (parsed.scheme == "http" and loopback)):
        return (
            f"{shown(value)} is not an https URL",
            "tokens are only sent over https (plain http is allowed for 127.0.0.1/localhost)",
        )
    if not parsed.hostname.isascii():
        return f"{shown(value)} has non-ASCII letters in its host name", "type the host name in ASCII (look-alikes?)"
    if parsed.query or parsed.fragment or any(c.isspace() for c in value) or port == 0:
        return f"{shown(value)} has a query, a fragment, spaces or port 0", "use https://host[:port][/path]"
    return None


def token_env(value: Any, _: Any) -> Problem:
    if value is MISSING or re.fullmatch(r"[A-Z_][A-Z0-9_]{0,127}", value):
        return None
    return f"{shown(value)} is not the name of an environment variable", "name the variable, e.g. LIZZY_TOKEN"


def token_command(value: Any, _: Any) -> Problem:
    if value is MISSING:
        return None
    try:
        words = shlex.split(value)
    except ValueError:
        return "cannot be split into words (an unclosed quote?)", "write it as on a shell command line"
    if not words:
        return "is empty", "give a command that prints the token, or remove the key"
    return None


def deploy_role(value: Any, settings: Any) -> Problem:
    if value is MISSING:
        return None
    if isinstance(value, str) and value.startswith("arn:"):
        owner = value.split(":")[4] if value.count(":") >= 5 else "?"
        other = f" of account {owner}" if owner != settings.account_id else ""
        return f"{shown(value)} is an ARN{other}", "give the role's name; the ARN is made from account_id"
    name = value.rsplit("/", 1)[-1] if isinstance(value, str) else ""
    if not _ROLE_NAME.fullmatch(name):
        return f"{shown(value)} is not an IAM role name", "use letters, digits and +=,.@_-, e.g. ghe-backup-deployer"
    return None


def registry(value: Any, settings: Any) -> Problem:
    host = str(value).split("/", 1)[0]
    ecr = _ECR.fullmatch(host)
    if ecr and ecr.group(1) != settings.account_id:
        return (
            f"{shown(value)} is the ECR registry of account {ecr.group(1)}, not of {settings.account_id}",
            f"use {settings.account_id}.dkr.ecr.{settings.region}.amazonaws.com",
        )
    known = awsnames.regions()
    if ecr and known is not None and ecr.group(3) not in known:
        return f"{shown(value)} names the region {ecr.group(3)!r}, which does not exist", "use the account's region"
    return None


def deploy_timeout(value: Any, _: Any) -> Problem:
    low, high = DEPLOY_TIMEOUT
    if value is MISSING or low <= value <= high:
        return None
    return f"{value} seconds is {'too short for a stack' if value < low else 'absurd'}", f"use {low} to {high}"


def poll_max_interval(value: Any, settings: Any) -> Problem:
    low, high = POLL_INTERVAL
    if value is MISSING:
        return None
    if not math.isfinite(value) or not low <= value <= high:
        return f"{value} is not a number of seconds between {low:g} and {high:g}", "e.g. 2"
    return None


# -- senza: the Taupage group ------------------------------------------------------------------


def instance_type(value: Any, _: Any) -> Problem:
    known = awsnames.instance_types()
    if value is MISSING or known is None or value in known:
        return None
    close = difflib.get_close_matches(str(value), sorted(known), n=3, cutoff=0.7)
    return f"{shown(value)} is not an EC2 instance type", (
        f"did you mean {' or '.join(close)}?" if close else "e.g. t3.medium"
    )


IMAGE_SOURCE = "${registry}/${image}:{{Arguments.ImageVersion}}"


def image_source(value: Any, _: Any) -> Problem:
    if value == IMAGE_SOURCE:
        return None
    if value is MISSING:
        return "missing: the instance would run no image", f"keep source: {IMAGE_SOURCE}"
    return (
        f"{shown(value)} is not the pushed image: the deploy would run another image than it tested and pushed",
        f"keep source: {IMAGE_SOURCE}",
    )


def kms_ciphertext(value: Any, _: Any) -> Problem:
    if value is MISSING:
        return "missing: the container could not log in to the appliance", 'give "aws:kms:<base64 ciphertext>"'
    kind = secret_kind(value)
    if kind:
        return (
            f"holds {kind[2:] if kind.startswith('a ') else kind}, not KMS ciphertext (not shown); "
            "treat the key as leaked if this file was shared",
            "encrypt it: aws kms encrypt --key-id KEY --plaintext fileb://id_rsa, then write aws:kms:<CiphertextBlob>",
        )
    if not _CIPHERTEXT.fullmatch(value[len("aws:kms:") :]):
        return "is not KMS ciphertext (base64 after aws:kms:)", "set the account's encrypted key in its overlay"
    return None


def hostname(value: Any, _: Any) -> Problem:
    from ghe_backup.backup.hostspec import HostnameError, parse_hostname

    if value is MISSING or value == "" or value is None:
        return "missing or empty: backups need the appliance's host name", "e.g. GHE_HOSTNAME: github.example.org"
    if not isinstance(value, str):
        return f"{shown(value)} is not a host name", "e.g. github.example.org"
    if secret_kind(value):
        return f"{shown(value)}, not a host name", "give the appliance's host name, e.g. github.example.org"
    if "://" in value or "/" in value:
        host = urlparse(value).hostname if "://" in value else value.split("/", 1)[0]
        return f"{shown(value)} is a URL, not a host name", f"give the host only{': ' + host if host else ''}"
    try:
        parse_hostname(value)  # the container's own rule ([user@]host[:122], IPv6 in brackets)
    except HostnameError as err:
        return (
            f"{shown(value)} is not a host backup-utils can reach: {err.message}",
            err.hint or "e.g. github.example.org",
        )
    return None


def snapshots(value: Any, _: Any) -> Problem:
    if value is MISSING:
        return None
    if type(value) is not int:
        return f"{shown(value)} is not a whole number", f"give a number from 1 to {MAX_SNAPSHOTS}, unquoted"
    if not 1 <= value <= MAX_SNAPSHOTS:
        why = "no snapshot would be kept" if value < 1 else "every snapshot holds a full set of hard links"
        return f"{value} is out of range: {why}", f"keep 1 to {MAX_SNAPSHOTS} snapshots"
    return None


def schedule(value: Any, settings: Any) -> Problem:
    if isinstance(value, str) and not value.isascii():
        return f"{shown(value)} has non-ASCII characters", "type the cron expression in ASCII (look-alike digits?)"
    problem = schedules.schedule_problem(None if value is MISSING else value)
    if problem:
        shown_value = f"{shown(value)} " if isinstance(value, str) and value.strip() else ""
        return f"{shown_value}{problem}", (
            "five fields in UTC: minute hour day-of-month month day-of-week, e.g. '0 */2 * * *'"
        )
    return None

"""A corpus of bad inputs, one group per kind of mistake, each run through the real task graph.

Each case is data: the input (a config edit, a file that is no file, an environment variable, a
command line), the exit code and a part of the one-line message. Every case runs ``inv`` (our
Program, Invoke's parser, our executor, every preflight check) on a copy of the tests' config
tree, with the stage functions recorded instead of run, and asserts that nothing was tested,
built, pushed or deployed, that the error is one line with no traceback, and that no secret of
the input appears in the output. The account's agent and registry are a small real server on
loopback, so the preflight probes run for real; STS is a fake that assumes or refuses.

A few cases that only the installed ``inv`` can show (console script, a checkout's invoke.yaml)
run it as a subprocess, at the end.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

import tasks
from ghe_backup.delivery import gate
from ghe_backup.delivery.deploy import run as deploy_run
from ghe_backup.delivery.deploy.run import Outcome
from ghe_backup.delivery.image import build as image_build
from ghe_backup.delivery.push import push as push_stage
from ghe_backup.edge.program import PipelineProgram
from ghe_backup.plumbing import deferred

REPO = Path(__file__).resolve().parents[1]
PROD, STAGING = "config/accounts/prod.yaml", "config/accounts/staging.yaml"
BASE, DEFAULTS = "senza/ghe-backup.yaml", "config/defaults.yaml"
TOKEN = "corpus-good-token-42"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZXBsb3llcjEyMyJ9.c2lnbmF0dXJlLXBhcnQtMTIzNDU2"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\\n-----END OPENSSH PRIVATE KEY-----"
GITHUB_TOKEN = "ghp_Zx9" + "aB3dE5" * 6
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DEPLOY = ("deploy", "--account=prod", "--yes")


# --- how cases change the input -----------------------------------------------------------------

Edit = Callable[[Path], None]


def replace(relpath: str, old: str, new: str) -> Edit:
    def edit(root: Path) -> None:
        path = root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new, 1))

    return edit


def append(relpath: str, text: str) -> Edit:
    return lambda root: (root / relpath).write_text((root / relpath).read_text() + text)


def write(relpath: str, text: str | bytes) -> Edit:
    def edit(root: Path) -> None:
        path = root / relpath
        path.unlink(missing_ok=True)
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)

    return edit


def swap(relpath: str, make: Callable[[Path], None]) -> Edit:
    """Replace a file by something else (a FIFO, a link, a directory)."""

    def edit(root: Path) -> None:
        (root / relpath).unlink()
        make(root / relpath)

    return edit


def both(*edits: Edit) -> Edit:
    return lambda root: [e(root) for e in edits] and None


def prod_env(line: str) -> Edit:
    """One more variable in prod's Taupage environment."""
    return replace(PROD, "GHE_NUM_SNAPSHOTS: 72", f"GHE_NUM_SNAPSHOTS: 72\n            {line}")


def base_env(old: str, new: str) -> Edit:
    return replace(BASE, old, new)


def lizzy_url_of(root: Path, relpath: str) -> str:
    return next(line.split(": ", 1)[1] for line in (root / relpath).read_text().splitlines() if "lizzy_url:" in line)


def host_key(seed: int = 1) -> str:
    """An ed25519 host key as ssh-keyscan prints it (the SSH wire format, base64)."""
    import base64
    import struct

    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", bytes([seed]) * 32))
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


PINNED_KEYS = f"GHE_KNOWN_HOSTS: |\n              [github.example.org]:122 {host_key()}"


def billion_laughs(root: Path) -> None:
    lines = ['lol0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    (root / PROD).write_text((root / PROD).read_text() + "\n".join(lines) + "\n")


# --- the corpus ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    says: str  # a part of the one-line error
    edit: Edit | None = None
    argv: tuple[str, ...] = DEPLOY
    env: dict[str, str] = field(default_factory=dict)
    code: int = 2
    secret: str | None = None  # must appear nowhere in the output
    sts: str = "ok"  # the fake STS: "ok" or "denied"


VALUES = [
    Case(
        "env-name-typo",
        "environment.BACKUP_SCHEDULES: the container reads no such variable",
        prod_env("BACKUP_SCHEDULES: '0 3 * * *'"),
    ),
    Case("env-name-look-alike", "not an environment variable name", prod_env("GHE_HОSTNAME: github.example.org")),
    Case(
        "health-port-out-of-range",
        "environment.HEALTH_PORT: 70000 is out of range: the container would refuse to start",
        prod_env("HEALTH_PORT: 70000"),
    ),
    Case(
        "state-table-other",
        "environment.STATE_TABLE: 'backup-state-old' is not pipeline.state_table (ghe-backup-state): deploys would "
        "not wait for this container's backups",
        prod_env("STATE_TABLE: backup-state-old"),
    ),
    Case(
        "state-table-off",
        "environment.STATE_TABLE: '' turns the container's recording off (ghe-backup-state)",
        prod_env("STATE_TABLE: ''"),
    ),
    Case(
        "state-table-left-behind",
        "environment.STATE_TABLE: 'ghe-backup-state' is not pipeline.state_table (prod-state): deploys would not",
        both(
            replace(PROD, "  deploy_timeout: 2400\n", "  deploy_timeout: 2400\n  state_table: prod-state\n"),
            prod_env("STATE_TABLE: ghe-backup-state"),
        ),
    ),
    Case(
        "host-keys-with-accept-new",
        "environment.GHE_KNOWN_HOSTS: is set and SSH_HOST_KEY_POLICY=accept-new: the container would refuse to start",
        prod_env(PINNED_KEYS),
    ),
    Case(
        "host-keys-pinned-without-keys",
        "environment.SSH_HOST_KEY_POLICY: GHE_KNOWN_HOSTS is not set: the appliance's host key must be pinned",
        prod_env("SSH_HOST_KEY_POLICY: pinned"),
    ),
    Case(
        "host-key-not-a-key",
        "environment.GHE_KNOWN_HOSTS: line 1 is not a host key: the container would refuse to start",
        prod_env("SSH_HOST_KEY_POLICY: Pinned\n            GHE_KNOWN_HOSTS: github.example.org"),
    ),
    Case(
        "ssh-opts-trust-any-host-key",
        "environment.GHE_EXTRA_SSH_OPTS: sets stricthostkeychecking, which decides which host key is trusted",
        prod_env("GHE_EXTRA_SSH_OPTS: '-C -oStrictHostKeyChecking=no'"),
    ),
    Case("health-port-mismatch", "health_check_port: 8080 is not HEALTH_PORT (9090)", prod_env("HEALTH_PORT: 9090")),
    Case("percent-over-100", "MIN_FREE_PERCENT: '250' is not a percentage", prod_env("MIN_FREE_PERCENT: 250")),
    Case("cron-look-alike-digits", "has non-ASCII characters", replace(PROD, '"0 */2 * * *"', '"０ */2 * * *"')),
    Case(
        "cron-invalid",
        "BACKUP_SCHEDULE: '0 25 * * *' is not a cron expression",
        replace(PROD, '"0 */2 * * *"', '"0 25 * * *"'),
    ),
    Case(
        "cron-words",
        "is not a cron expression the container accepts",
        replace(PROD, '"0 */2 * * *"', '"every two hours"'),
    ),
    Case("cron-seven-fields", "is not a cron expression", replace(PROD, '"0 */2 * * *"', '"0 0 */2 * * * *"')),
    Case("cron-never-fires", "'0 0 31 2 *' never fires within a year", replace(PROD, '"0 */2 * * *"', '"0 0 31 2 *"')),
    Case("cron-empty", "BACKUP_SCHEDULE: missing or empty", replace(PROD, '"0 */2 * * *"', '""')),
    Case(
        "cron-overlap-half-hour",
        "starts within 59 minutes of prod's",
        replace(STAGING, '"0 1-23/2 * * *"', '"30 */2 * * *"'),
    ),
    Case(
        "cron-overlap-hourly",
        "two backups of the appliance would run at once",
        replace(STAGING, '"0 1-23/2 * * *"', '"0 * * * *"'),
    ),
    Case("cron-overlap-same", "starts within 59 minutes", replace(STAGING, '"0 1-23/2 * * *"', '"0 */2 * * *"')),
    Case(
        "cron-too-rare-for-health",
        "leaves up to 24 h between backups, but MAX_SNAPSHOT_AGE is 4 h: /health would raise the stale alert",
        replace(PROD, '"0 */2 * * *"', '"0 2 * * *"'),
    ),
    Case(
        "hostname-url",
        "GHE_HOSTNAME: 'https://github.example.org' is a URL, not a host name",
        replace(DEFAULTS, "GHE_HOSTNAME: github.example.org", "GHE_HOSTNAME: https://github.example.org"),
    ),
    Case(
        "hostname-path",
        "is a URL, not a host name (give the host only: github.example.org)",
        replace(DEFAULTS, "GHE_HOSTNAME: github.example.org", "GHE_HOSTNAME: github.example.org/setup"),
    ),
    Case(
        "hostname-empty",
        "GHE_HOSTNAME: missing or empty",
        replace(DEFAULTS, "GHE_HOSTNAME: github.example.org", 'GHE_HOSTNAME: ""'),
    ),
    Case(
        "hostname-spaces",
        "is not a valid host name",
        replace(DEFAULTS, "GHE_HOSTNAME: github.example.org", "GHE_HOSTNAME: github example org"),
    ),
    Case(
        "snapshots-zero",
        "GHE_NUM_SNAPSHOTS: 0 is out of range: no snapshot would be kept",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: 0"),
    ),
    Case(
        "snapshots-negative",
        "GHE_NUM_SNAPSHOTS: -5 is out of range",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: -5"),
    ),
    Case(
        "snapshots-huge",
        "GHE_NUM_SNAPSHOTS: 100000000000000000000 is out of range",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: 100000000000000000000"),
    ),
    Case(
        "snapshots-string",
        "GHE_NUM_SNAPSHOTS: 'plenty' is not a whole number",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: plenty"),
    ),
    Case(
        "snapshots-float",
        "GHE_NUM_SNAPSHOTS: 7.5 is not a whole number",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: 7.5"),
    ),
    Case(
        "snapshots-null",
        "GHE_NUM_SNAPSHOTS: expected a string or a whole number or a number or a boolean, got null",
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: ~"),
    ),
    Case(
        "instance-type-typo",
        "InstanceType: 'm5.lrage' is not an EC2 instance type (did you mean m5.large",
        replace(PROD, "m5.large", "m5.lrage"),
    ),
    Case("instance-type-made-up", "'t9.medium' is not an EC2 instance type", replace(PROD, "m5.large", "t9.medium")),
    Case(
        "region-made-up",
        "pipeline.region: 'eu-central-9' is not an AWS region",
        replace(PROD, "region: eu-central-1", "region: eu-central-9"),
    ),
    Case(
        "region-look-alike",
        "pipeline.region: invalid value 'eu-\\u0441entral-1'",
        replace(PROD, "region: eu-central-1", "region: eu-сentral-1"),
    ),
    Case(
        "az-other-region",
        "AvailabilityZones.0: 'us-east-1a' is not an availability zone of eu-central-1",
        replace(BASE, '["${region}a"]', '["us-east-1a"]'),
    ),
    Case(
        "az-no-letter",
        "'eu-central-1' is not an availability zone of eu-central-1",
        replace(BASE, '["${region}a"]', '["${region}"]'),
    ),
    Case(
        "duplicate-pipeline-key",
        "pipeline.approval: duplicate key (first given on line 8)",
        replace(PROD, "  approval: true\n", "  approval: true\n  approval: false\n"),
    ),
    Case("duplicate-env-key", "environment.GHE_NUM_SNAPSHOTS: duplicate key", prod_env("GHE_NUM_SNAPSHOTS: 7")),
    Case(
        "duplicate-top-key",
        "config/accounts/prod.yaml:20: pipeline: duplicate key (first given on line 2)",
        append(PROD, "pipeline:\n  approval: false\n"),
    ),
    Case(
        "account-id-fullwidth-digits",
        "pipeline.account_id: invalid value '\\uff11",
        replace(PROD, '"123456789012"', '"１２３４５６７８９０１２"'),
    ),
    Case(
        "account-id-arabic-digits",
        "pipeline.account_id: invalid value",
        replace(PROD, '"123456789012"', '"١٢٣٤٥٦٧٨٩٠١٢"'),
    ),
    Case(
        "account-id-trailing-newline",
        "pipeline.account_id: '123456789012\\n' has spaces or a line break around it",
        replace(PROD, 'account_id: "123456789012"', 'account_id: "123456789012\\n"'),
    ),
    Case(
        "account-id-unquoted",
        "pipeline.account_id: expected a string, got a whole number",
        replace(PROD, '"123456789012"', "123456789012"),
    ),
    Case(
        "timeout-nan",
        "pipeline.poll_max_interval: nan is not a number of seconds",
        replace(PROD, "  deploy_timeout: 2400", "  deploy_timeout: 2400\n  poll_max_interval: .nan"),
    ),
    Case(
        "timeout-inf",
        "pipeline.poll_max_interval: inf is not a number of seconds",
        replace(PROD, "  deploy_timeout: 2400", "  deploy_timeout: 2400\n  poll_max_interval: .inf"),
    ),
    Case(
        "timeout-negative-zero",
        "pipeline.poll_max_interval: -0.0 is not a number of seconds",
        replace(PROD, "  deploy_timeout: 2400", "  deploy_timeout: 2400\n  poll_max_interval: -0.0"),
    ),
    Case(
        "timeout-absurd",
        "pipeline.deploy_timeout: 315360000 seconds is absurd",
        replace(PROD, "deploy_timeout: 2400", "deploy_timeout: 315360000"),
    ),
    Case(
        "timeout-zero",
        "pipeline.deploy_timeout: 0 seconds is too short for a stack",
        replace(PROD, "deploy_timeout: 2400", "deploy_timeout: 0"),
    ),
    Case(
        "timeout-float",
        "pipeline.deploy_timeout: expected a whole number, got a number",
        replace(PROD, "deploy_timeout: 2400", "deploy_timeout: 1.0e+400"),
    ),
    Case(
        "registry-other-account",
        "pipeline.registry: '999999999999.dkr.ecr.eu-central-1.amazonaws.com' is the ECR registry of account 999999999999",
        replace(STAGING, "registry: 210987654321.dkr", "registry: 999999999999.dkr"),
        argv=("deploy", "--account=staging"),
    ),
    Case(
        "registry-as-url",
        "pipeline.registry: invalid value 'https://210987654321.dkr.ecr",
        replace(STAGING, "registry: 210987654321", "registry: https://210987654321"),
        argv=("accounts",),
    ),
    Case(
        "lizzy-url-credentials",
        "pipeline.lizzy_url: carries credentials (user:password@) in the URL (not shown)",
        replace(PROD, "lizzy_url: http://", "lizzy_url: https://deployer:hunter2hunter2@"),
        secret="hunter2hunter2",
    ),
    Case(
        "lizzy-url-http",
        "is not an https URL",
        replace(STAGING, "https://lizzy.staging", "http://lizzy.staging"),
        argv=("deploy", "--account=staging"),
    ),
    Case(
        "lizzy-url-shared",
        "pipeline.lizzy_url: is also prod's agent",
        lambda root: replace(STAGING, "https://lizzy.staging.example.org", lizzy_url_of(root, PROD))(root),
        argv=("accounts",),
    ),
    Case(
        "deploy-role-arn",
        "pipeline.deploy_role: 'arn:aws:iam::999999999999:role/deployer' is an ARN of account 999999999999",
        replace(DEFAULTS, "deploy_role: ghe-backup-deployer", "deploy_role: arn:aws:iam::999999999999:role/deployer"),
    ),
    Case(
        "token-command-unclosed-quote",
        "pipeline.lizzy_token_command: cannot be split into words",
        replace(
            DEFAULTS,
            "lizzy_token_env: CORPUS_LIZZY_TOKEN",
            'lizzy_token_env: CORPUS_LIZZY_TOKEN\n  lizzy_token_command: "zign token \'lizzy"',
        ),
    ),
    Case(
        "image-source-elsewhere",
        "TaupageConfig.source: 'docker.io/library/busybox:latest' is not the pushed image",
        replace(BASE, '"${registry}/${image}:{{Arguments.ImageVersion}}"', "docker.io/library/busybox:latest"),
    ),
    Case(
        "kms-placeholder-left",
        "kms_private_ssh_key: is not KMS ciphertext",
        replace(PROD, '          kms_private_ssh_key: "aws:kms:AQICAHhprodPLACEHOLDERciphertext=="\n', ""),
    ),
    Case(
        "key-look-alike",
        "pipeline.'\\u0430pproval': unknown key (it has non-ASCII letters that look like ASCII ones; did you mean 'approval'?)",
        replace(PROD, "  approval: true", "  аpproval: true"),
    ),
    Case("key-zero-width-space", "unknown key", replace(PROD, "  approval: true", "  approval\u200b: true")),
    Case(
        "unknown-key",
        "pipeline.regoin: unknown key (did you mean 'region'?)",
        replace(PROD, "  region: eu-central-1", "  regoin: eu-central-1"),
    ),
]

DATA_VOLUME = [
    Case(
        "erase-on-boot",
        "mounts./data.erase_on_boot: true would erase the data volume, and every backup on it, at each boot",
        replace(BASE, "erase_on_boot: false", "erase_on_boot: true"),
    ),
    Case(
        "erase-on-boot-overlay",
        "erase_on_boot: true would erase the data volume",
        replace(
            PROD,
            "        TaupageConfig:\n",
            "        TaupageConfig:\n          mounts:\n            /data:\n              erase_on_boot: true\n",
        ),
    ),
    Case(
        "erase-on-boot-removed",
        "erase_on_boot: missing: it must say false, explicitly",
        replace(BASE, "            erase_on_boot: false\n", ""),
    ),
    Case(
        "remount-elsewhere",
        "no mount at /data (it is mounted at /backup instead)",
        replace(BASE, "          /data:\n", "          /backup:\n"),
    ),
    Case(
        "mount-other-disk",
        "mounts./data.partition: '/dev/xvdg' is not the data volume's device",
        replace(BASE, "partition: /dev/xvdf", "partition: /dev/xvdg"),
    ),
    Case(
        "data-mount-moved",
        "environment.DATA_MOUNT: '/mnt/data' is not where the data volume is mounted (/data)",
        base_env("DATA_MOUNT: /data", "DATA_MOUNT: /mnt/data"),
    ),
    Case(
        "data-dir-outside",
        "GHE_DATA_DIR: '/var/backups' is not a directory inside the data volume",
        base_env("GHE_DATA_DIR: /data/ghe-data", "GHE_DATA_DIR: /var/backups"),
    ),
    Case(
        "data-dir-escapes",
        "GHE_DATA_DIR: '/data/../var' is not a directory inside the data volume",
        prod_env("GHE_DATA_DIR: /data/../var"),
    ),
    Case(
        "data-dir-is-the-mount",
        "GHE_DATA_DIR: '/data' is not a directory inside the data volume",
        prod_env("GHE_DATA_DIR: /data"),
    ),
    Case(
        "require-mount-off",
        "REQUIRE_DATA_MOUNT: 0 lets the container back up onto the root disk",
        prod_env("REQUIRE_DATA_MOUNT: 0"),
    ),
    Case(
        "volume-renamed",
        "volumes.ebs: the data volume ghe-backup-data names /dev/sdf: ghe-backup-data-v2 instead",
        replace(BASE, "/dev/sdf: ghe-backup-data", "/dev/sdf: ghe-backup-data-v2"),
    ),
    Case(
        "volume-detached",
        "the data volume ghe-backup-data is missing",
        replace(BASE, "        volumes:\n          ebs:\n            /dev/sdf: ghe-backup-data\n", ""),
    ),
    Case(
        "volume-as-resource",
        "senza.Resources: unknown key (stack resources are deleted with the stack: the data volume must never be one",
        replace(PROD, "senza:\n", "senza:\n  Resources:\n    DataVolume:\n      Type: AWS::EC2::Volume\n"),
    ),
    Case(
        "volume-as-block-device",
        "BlockDeviceMappings.0: maps /dev/sdf, the data volume's device, to a volume the stack creates",
        replace(
            PROD,
            "        InstanceType: m5.large\n",
            "        InstanceType: m5.large\n        BlockDeviceMappings:\n          - DeviceName: /dev/sdf\n            Ebs: {VolumeSize: 500}\n",
        ),
    ),
    Case(
        "scaled-to-zero",
        "AutoScaling.Minimum: 0 would stop the backup instance: no backups would run",
        replace(
            PROD,
            "        InstanceType: m5.large\n",
            "        InstanceType: m5.large\n        AutoScaling:\n          Minimum: 0\n          Maximum: 0\n",
        ),
    ),
    Case(
        "desired-zero",
        "AutoScaling.DesiredCapacity: 0 would stop the backup instance",
        replace(BASE, "        Maximum: 1\n", "        Maximum: 1\n        DesiredCapacity: 0\n"),
    ),
    Case(
        "scaled-to-two",
        "AutoScaling.Maximum: 2: one EBS volume attaches to one instance",
        replace(BASE, "        Maximum: 1", "        Maximum: 2"),
    ),
    Case(
        "stack-renamed",
        "SenzaInfo.StackName: 'ghe-backup-v2' is not 'ghe-backup'",
        replace(BASE, "StackName: ghe-backup", "StackName: ghe-backup-v2"),
    ),
    Case(
        "stack-renamed-in-overlay",
        "SenzaInfo.StackName: 'backups' is not 'ghe-backup'",
        replace(PROD, "senza:\n", "senza:\n  SenzaInfo:\n    StackName: backups\n"),
    ),
    Case(
        "second-group",
        "2 Taupage groups (AppServer, Spare) would compete for the one data volume",
        append(PROD, "    - Spare:\n        Type: Senza::TaupageAutoScalingGroup\n        InstanceType: t3.small\n"),
    ),
]

HANGS_AND_CRASHES = [
    Case("alias-bomb", "expands to more than 20000 values (aliases used many times over)", billion_laughs),
    Case("overlay-fifo", "config/accounts/prod.yaml: is a named pipe (FIFO), not a file", swap(PROD, os.mkfifo)),
    Case(
        "overlay-dev-zero",
        "config/accounts/prod.yaml: is a character device, not a file",
        swap(PROD, lambda p: p.symlink_to("/dev/zero")),
    ),
    Case(
        "overlay-dev-random",
        "is a character device, not a file",
        swap(STAGING, lambda p: p.symlink_to("/dev/urandom")),
        argv=("accounts",),
    ),
    Case("overlay-directory", "config/accounts/prod.yaml: is a directory, not a file", swap(PROD, Path.mkdir)),
    Case(
        "overlay-broken-link",
        "config/accounts/prod.yaml: a symbolic link to a missing file",
        swap(PROD, lambda p: p.symlink_to(p.parent / "gone.yaml")),
    ),
    Case("defaults-directory", "config/defaults.yaml: is a directory, not a file", swap(DEFAULTS, Path.mkdir)),
    Case("base-missing", "senza/ghe-backup.yaml: file not found", lambda root: (root / BASE).unlink()),
    Case(
        "accounts-dir-is-a-file",
        "config/accounts: is not a directory",
        lambda root: (shutil.rmtree(root / "config/accounts"), (root / "config/accounts").write_text("prod\n")),
    ),
    Case(
        "deep-nesting", "nested more than 32 levels deep", append(PROD, "deep: " + "[" * 50_000 + "]" * 50_000 + "\n")
    ),
    Case(
        "deep-mapping",
        "nested more than 32 levels deep",
        append(PROD, "".join("  " * i + f"k{i}:\n" for i in range(60))),
    ),
    Case(
        "huge-file",
        "config/accounts/prod.yaml: larger than 256 KB, too large for a config file",
        append(PROD, ("# padding\n" * 30_000)),
    ),
    Case(
        "key-true",
        "config/accounts/prod.yaml:1: key true is a boolean, not a name",
        lambda root: (root / PROD).write_text("true: 1\n" + (root / PROD).read_text()),
    ),
    Case(
        "key-one",
        "config/accounts/prod.yaml:1: key 1 is a number, not a name",
        lambda root: (root / PROD).write_text("1: x\n" + (root / PROD).read_text()),
    ),
    Case(
        "key-in-pipeline-number",
        "pipeline: key 8 is a number, not a name",
        replace(PROD, "  approval: true", "  8: true"),
    ),
    Case("key-null", "key ~ is empty (null), not a name", replace(PROD, "  approval: true", "  ~: true")),
    Case("key-complex", "config/accounts/prod.yaml:20: a key is a list, not a name", append(PROD, "? [a, b]\n: 1\n")),
    Case(
        "python-tag",
        "YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed",
        replace(PROD, "approval: true", 'approval: !!python/object/apply:os.system ["true"]'),
    ),
    Case(
        "tab-indent",
        "config/accounts/prod.yaml:8: malformed YAML: found character '\\t' that cannot start any token (indent with spaces, not tabs)",
        replace(PROD, "  approval: true", "\tapproval: true"),
    ),
    Case(
        "nul-byte",
        "config/accounts/prod.yaml:8: control character #x0000 is not allowed in YAML",
        replace(PROD, "approval: true", "approval: true\x00"),
    ),
    Case(
        "utf16-file",
        "config/accounts/prod.yaml: is UTF-16 or UTF-32 text (save it as UTF-8)",
        lambda root: (root / PROD).write_text((root / PROD).read_text(), encoding="utf-16"),
    ),
    Case(
        "latin1-file",
        "config/accounts/prod.yaml:1: not UTF-8 text (byte 0xe9)",
        lambda root: (root / PROD).write_bytes(b"# caf\xe9\n" + (root / PROD).read_bytes()),
    ),
    Case(
        "two-documents", "a second YAML document ('---'); a config file holds one", append(PROD, "---\npipeline: {}\n")
    ),
    Case(
        "empty-defaults",
        "config/defaults.yaml: the file is empty (it holds 'pipeline:' and 'senza:' defaults for every account; restore it from git)",
        write(DEFAULTS, ""),
    ),
    Case("comment-only-overlay", "config/accounts/prod.yaml: the file is empty", write(PROD, "# prod: TODO\n")),
    Case("empty-base", "senza/ghe-backup.yaml: the file is empty", write(BASE, "\n")),
    Case(
        "overlay-is-a-list",
        "config/accounts/prod.yaml:1: (top level): is a list, not a mapping",
        write(PROD, "- pipeline\n- senza\n"),
    ),
    Case(
        "overlay-is-a-string",
        "config/accounts/prod.yaml:1: (top level): is a single value ('prod'), not a mapping",
        write(PROD, "prod\n"),
    ),
    Case(
        "pipeline-null",
        "config/accounts/prod.yaml:2: pipeline: expected a mapping, got null (empty)",
        replace(PROD, "pipeline:\n  account_id", "pipeline: ~\nx:\n  account_id"),
    ),
    Case(
        "senza-null",
        "config/accounts/prod.yaml:11: senza: expected a mapping, got null (empty)",
        replace(PROD, "senza:\n", "senza: null\nsenza_:\n"),
    ),
    Case(
        "taupage-is-a-list",
        "TaupageConfig: expected a mapping, got a list",
        replace(PROD, "        TaupageConfig:\n", "        TaupageConfig: []\n        TaupageConfig_:\n"),
    ),
    Case(
        "approval-null",
        "pipeline.approval: expected a boolean, got null (empty) (write true or false)",
        replace(PROD, "approval: true", "approval:"),
    ),
    Case(
        "overlay-yml",
        "config/accounts/dev.yml: account overlays end in .yaml (rename it to dev.yaml)",
        lambda root: shutil.copy(root / PROD, root / "config/accounts/dev.yml"),
    ),
    Case(
        "overlay-bad-name",
        "config/accounts/Prod Copy.yaml: 'Prod Copy' is not an account name",
        lambda root: shutil.copy(root / PROD, root / "config/accounts/Prod Copy.yaml"),
    ),
    Case(
        "overlay-unicode-name",
        "'pr\\u043ed' is not an account name",
        lambda root: shutil.copy(root / PROD, root / "config/accounts/prоd.yaml"),
    ),
]

SECRETS = [
    Case(
        "token-as-token-env",
        "pipeline.lizzy_token_env: got what looks like a token (JWT), not shown",
        replace(DEFAULTS, "lizzy_token_env: CORPUS_LIZZY_TOKEN", f"lizzy_token_env: {JWT}"),
        secret=JWT,
    ),
    Case(
        "private-key-as-kms",
        "kms_private_ssh_key: got what looks like a private key, not shown",
        replace(PROD, '"aws:kms:AQICAHhprodPLACEHOLDERciphertext=="', f'"{PEM}"'),
        secret="b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
    ),
    Case(
        "private-key-as-kms-after-prefix",
        "kms_private_ssh_key: holds private key, not KMS ciphertext (not shown)",
        replace(PROD, '"aws:kms:AQICAHhprodPLACEHOLDERciphertext=="', f'"aws:kms:{PEM}"'),
        secret="b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
    ),
    Case(
        "github-token-in-env",
        "environment.GITHUB_TOKEN: looks like a GitHub token (not shown)",
        prod_env(f"GITHUB_TOKEN: {GITHUB_TOKEN}"),
        secret=GITHUB_TOKEN,
    ),
    Case(
        "aws-secret-in-env",
        "environment.AWS_SECRET_ACCESS_KEY: looks like a token or key (not shown)",
        prod_env(f"AWS_SECRET_ACCESS_KEY: {AWS_SECRET}"),
        secret=AWS_SECRET,
    ),
    Case(
        "token-as-hostname",
        "GHE_HOSTNAME: looks like a token (JWT) (not shown)",
        replace(DEFAULTS, "GHE_HOSTNAME: github.example.org", f"GHE_HOSTNAME: {JWT}"),
        secret=JWT,
    ),
    Case(
        "token-as-image",
        "pipeline.image: got what looks like a token (JWT), not shown",
        replace(DEFAULTS, "image: ghe-backup", f"image: {JWT}"),
        secret=JWT,
    ),
    Case(
        "token-as-region",
        "pipeline.region: got what looks like a token or key, not shown",
        replace(PROD, "region: eu-central-1", f"region: {AWS_SECRET}"),
        secret=AWS_SECRET,
    ),
    Case(
        "token-as-account-name",
        "--account: a value that looks like a token (JWT) (not shown) is not an account name",
        argv=("deploy", f"--account={JWT}"),
        secret=JWT,
    ),
    Case(
        "token-as-a-word",
        "No idea what a value that looks like a token (JWT) (not shown) is!",
        argv=(*DEPLOY, JWT),
        secret=JWT,
    ),
    Case(
        "token-as-sandbox-switch",
        "INVOKE_GHE_SANDBOX: a value that looks like a token (JWT) (not shown) is not a yes/no value",
        env={"INVOKE_GHE_SANDBOX": JWT},
        secret=JWT,
    ),
    Case("token-as-unknown-key", "unknown key", append(PROD, f"{GITHUB_TOKEN}: 1\n"), secret=GITHUB_TOKEN),
    Case(
        "token-with-newline",
        "prod: the Lizzy token from $CORPUS_LIZZY_TOKEN has spaces, line breaks or non-ASCII characters (not shown)",
        env={"CORPUS_LIZZY_TOKEN": f"{TOKEN}\nX-Injected: yes"},
        secret=TOKEN,
    ),
    Case(
        "debug-does-not-echo",
        "pipeline.lizzy_token_env: got what looks like a token (JWT), not shown",
        replace(DEFAULTS, "lizzy_token_env: CORPUS_LIZZY_TOKEN", f"lizzy_token_env: {JWT}"),
        argv=("--debug", *DEPLOY),
        secret=JWT,
    ),
]

SETTINGS_AND_COMMAND_LINE = [
    Case(
        "runtime-config-missing",
        "-f /nonexistent/ghe.yaml: file not found",
        argv=("-f", "/nonexistent/ghe.yaml", *DEPLOY),
    ),
    Case(
        "runtime-config-fifo",
        "runtime.yaml: is a named pipe (FIFO), not a file",
        lambda root: os.mkfifo(root / "runtime.yaml"),
        argv=("-f", "runtime.yaml", *DEPLOY),
    ),
    Case(
        "runtime-config-sandbox-typo",
        "runtime.yaml:2: ghe.sandbx: unknown setting (did you mean 'sandbox'?)",
        lambda root: (root / "runtime.yaml").write_text("ghe:\n  sandbx: true\n"),
        argv=("-f", "runtime.yaml", *DEPLOY),
    ),
    Case("sandbox-maybe", "INVOKE_GHE_SANDBOX: 'maybe' is not a yes/no value", env={"INVOKE_GHE_SANDBOX": "maybe"}),
    Case(
        "sandbox-maybe-any-task",
        "INVOKE_GHE_SANDBOX: 'maybe' is not a yes/no value",
        env={"INVOKE_GHE_SANDBOX": "maybe"},
        argv=("accounts",),
    ),
    Case(
        "sandbox-typo-variable",
        "INVOKE_GHE_SANDBX: not a setting (Invoke would ignore it) (did you mean INVOKE_GHE_SANDBOX?)",
        env={"INVOKE_GHE_SANDBX": "1"},
    ),
    Case("debug-maybe", "GHE_BACKUP_DEBUG: 'loud' is not a yes/no value", env={"GHE_BACKUP_DEBUG": "loud"}),
    Case(
        "root-missing",
        "GHE_BACKUP_ROOT: '/nonexistent/checkout' is not a directory",
        env={"GHE_BACKUP_ROOT": "/nonexistent/checkout"},
    ),
    Case("user-with-newline", "GHE_BACKUP_USER: not a user name", env={"GHE_BACKUP_USER": "ci\nforged entry"}),
    Case("task-misspelled", "No idea what 'deplyo' is!; did you mean 'deploy'?", argv=("deplyo", "--account=prod")),
    Case("flag-misspelled", "No idea what '--acount' is!; did you mean '--account'?", argv=("deploy", "--acount=prod")),
    Case("flag-without-value", "--limit needs a value", argv=("history", "--limit")),
    Case("flag-unknown-core", "No idea what '--dry-run' is!", argv=("--dry-run", "deploy", "--account=prod")),
    Case("stray-word", "No idea what 'now' is!", argv=("deploy", "--account=prod", "now")),
    Case("no-account", "no account given (pass --account=NAME", argv=("deploy",)),
    Case(
        "account-unknown",
        "unknown account 'dev' (no config/accounts/dev.yaml) (known accounts: prod, staging)",
        argv=("deploy", "--account=dev"),
    ),
    Case("account-path", "--account: '../prod' is not an account name", argv=("deploy", "--account=../prod")),
    Case(
        "account-absolute-path",
        "--account: '/etc/passwd' is not an account name",
        argv=("push", "--account=/etc/passwd"),
    ),
    Case("account-look-alike", "--account: 'pr\\u043ed' is not an account name", argv=("deploy", "--account=prоd")),
    Case("account-empty", "no account given", argv=("deploy", "--account=")),
    Case(
        "account-second-bad",
        "--account: 'staging;rm' is not an account name",
        argv=("deploy", "--account=prod", "--account=staging;rm"),
    ),
    Case("limit-zero", "--limit: '0' is not a positive whole number", argv=("history", "--limit=0")),
    Case("limit-words", "--limit: 'ten' is not a positive whole number", argv=("history", "--limit=ten")),
    Case("account-upper-case", "--account: 'PROD' is not an account name", argv=("deploy", "--account=PROD", "--yes")),
    Case("limit-negative-zero", "--limit: '-0' is not a positive whole number", argv=("history", "--limit=-0")),
    Case("limit-float", "--limit: '1e3' is not a positive whole number", argv=("history", "--limit=1e3")),
    Case(
        "pip-cert-missing",
        "the CA bundle for pip (/nonexistent/ca.pem, from PIP_CERT) is not a file",
        env={"PIP_CERT": "/nonexistent/ca.pem"},
    ),
    Case(
        "image-source-unknown",
        "ghe.image.backup_utils_source (Invoke config): 'svn' is not allowed",
        env={"INVOKE_GHE_IMAGE_BACKUP_UTILS_SOURCE": "svn"},
    ),
    Case(
        "sandbox-port-base-words",
        "GHE_SANDBOX_PORT_BASE: 'high' is not a port base",
        env={"GHE_SANDBOX_PORT_BASE": "high"},
        argv=("push", "--account=prod", "--sandbox"),
    ),
    Case(
        "approval-without-terminal",
        "prod: deployment needs approval and there is no terminal to ask on",
        argv=("deploy", "--account=prod"),
    ),
]

FOUND_LATE = [
    Case("token-rejected", "Lizzy at http://127.0.0.1:", env={"CORPUS_LIZZY_TOKEN": "not-the-token"}),
    Case("token-forbidden", "refused the token (403)", env={"CORPUS_AGENT_STATUS": "403"}),
    Case("token-missing", "prod: no Lizzy token: $CORPUS_LIZZY_TOKEN is empty", env={"CORPUS_LIZZY_TOKEN": ""}),
    Case("agent-down", "unreachable", env={"CORPUS_AGENT_DOWN": "1"}, code=3),
    Case("registry-down", "the registry 127.0.0.1:", env={"CORPUS_REGISTRY_DOWN": "1"}, code=3),
    Case(
        "registry-down-on-push",
        "does not answer",
        env={"CORPUS_REGISTRY_DOWN": "1"},
        argv=("push", "--account=prod"),
        code=3,
    ),
    Case(
        "role-refused",
        "prod: cannot assume arn:aws:iam::123456789012:role/ghe-backup-deployer: AccessDenied",
        sts="denied",
    ),
]

MISLEADING_MESSAGES = [
    Case(
        "null-instance-type",
        "InstanceType: expected a string, got null (empty)",
        replace(PROD, "InstanceType: m5.large", "InstanceType: ~"),
    ),
    Case(
        "components-as-mapping",
        "senza.SenzaComponents: expected a list, got a mapping",
        replace(PROD, "  SenzaComponents:\n    - AppServer:", "  SenzaComponents:\n    AppServer:"),
    ),
    Case(
        "entry-with-two-keys",
        "each entry must be a mapping with exactly one key",
        replace(PROD, "    - AppServer:\n", "    - Other: {}\n      AppServer:\n"),
    ),
    Case("complex-key-not-a-tag", "a key is a mapping, not a name", append(PROD, "? {a: 1}\n: 1\n")),
    Case("empty-defaults-blames-defaults", "config/defaults.yaml: the file is empty", write(DEFAULTS, "# emptied\n")),
    Case(
        "missing-key-names-both-files",
        "pipeline.image: missing required key (add 'image:' under 'pipeline:' in config/accounts/prod.yaml (or config/defaults.yaml))",
        replace(DEFAULTS, "  image: ghe-backup\n", ""),
    ),
]

GROUPS = {
    "values that pass validation but are wrong": VALUES,
    "changes that would put the backups at risk": DATA_VOLUME,
    "inputs that hang or crash": HANGS_AND_CRASHES,
    "secrets echoed by error messages": SECRETS,
    "settings and command lines read loosely": SETTINGS_AND_COMMAND_LINE,
    "found late": FOUND_LATE,
    "messages that mislead": MISLEADING_MESSAGES,
}
CORPUS = [case for cases in GROUPS.values() for case in cases]


# --- the harness --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agent_server():
    """The account's Lizzy agent and registry: one small server on loopback (one request per probe)."""
    state = SimpleNamespace(seen=[])

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            state.seen.append((self.command, self.path))
            good = self.headers.get("Authorization") == f"Bearer {TOKEN}"
            forced = os.environ.get("CORPUS_AGENT_STATUS")
            status = 401 if self.path == "/v2/" else int(forced) if forced else 200 if good else 401
            body = json.dumps([] if status == 200 else {"title": "Unauthorized", "detail": "token not valid"}).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    state.host = f"127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()


@pytest.fixture
def agent(agent_server):
    """The agent and registry, with what this test asked of them only."""
    agent_server.seen = []
    return agent_server


class FakeSts:
    def __init__(self, answer):
        self.answer = answer

    def client(self, *args, **kwargs):
        return self

    def assume_role(self, **_):
        from botocore.exceptions import ClientError

        if self.answer == "denied":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")
        return {"Credentials": {"AccessKeyId": "ASIAFAKE", "SecretAccessKey": "fake", "SessionToken": "fake"}}


@pytest.fixture
def tree(config_tree, agent, monkeypatch):
    """The fixture tree, with prod's agent and registry on the loopback server and its token in the environment."""
    replace(PROD, "lizzy_url: https://lizzy.prod.example.org", f"lizzy_url: http://{agent.host}")(config_tree)
    replace(PROD, "registry: 123456789012.dkr.ecr.eu-central-1.amazonaws.com", f"registry: {agent.host}")(config_tree)
    replace(DEFAULTS, "lizzy_token_env: LIZZY_TOKEN", "lizzy_token_env: CORPUS_LIZZY_TOKEN")(config_tree)
    monkeypatch.setenv("CORPUS_LIZZY_TOKEN", TOKEN)
    return config_tree


@pytest.fixture
def stages(monkeypatch):
    log = []

    def stage(name, result=None):
        def run(*args, **options):  # as every real stage does before its first change
            deferred.before_change()
            log.append(name)
            return result

        return run

    monkeypatch.setattr(gate, "run_unit_tests", stage("test"))
    monkeypatch.setattr(image_build, "build_image", stage("image"))
    monkeypatch.setattr(push_stage, "push_image", stage("push", []))
    monkeypatch.setattr(deploy_run, "deploy_accounts", stage("deploy", Outcome()))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False, raising=False)
    return log


def run_case(case: Case, tree: Path, agent, monkeypatch, capsys):
    from ghe_backup.delivery.deploy import reachability

    if case.edit:
        case.edit(tree)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if os.environ.get("CORPUS_AGENT_DOWN"):
        monkeypatch.setattr(reachability, "LIZZY_TIMEOUT", 1.0)
        replace(PROD, f"lizzy_url: http://{agent.host}", "lizzy_url: http://127.0.0.1:9")(tree)
    if os.environ.get("CORPUS_REGISTRY_DOWN"):
        replace(PROD, f"registry: {agent.host}", "registry: 127.0.0.1:9")(tree)
    monkeypatch.setattr("ghe_backup.plumbing.aws.base_session", lambda region, credentials=None: FakeSts(case.sts))
    root_logger = logging.getLogger()
    handlers, level = list(root_logger.handlers), root_logger.level
    try:
        PipelineProgram(namespace=tasks.ns).run(["inv", *case.argv])
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    finally:  # --debug turns on logging to this test's captured stderr: undo it
        root_logger.handlers[:], root_logger.level = handlers, level
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CORPUS, ids=[c.id for c in CORPUS])
def test_bad_input_is_refused_before_anything_runs(case, tree, agent, stages, monkeypatch, capsys):
    code, out, err = run_case(case, tree, agent, monkeypatch, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == case.code, err
    assert len(errors) == 1 and errors[0] == err.splitlines()[-1], err  # one line, the last one
    assert case.says in errors[0], errors[0]
    if "--debug" not in case.argv:
        assert "Traceback" not in err
    assert "NoneType" not in err and "YAML tag tag " not in err
    if case.secret:
        assert case.secret not in out + err
    # nothing tested, built, pushed or deployed; no record written; the agent was only read
    assert stages == []
    assert not (tree / ".state").exists()
    assert all(method == "GET" for method, _ in agent.seen)


def test_the_corpus_covers_every_group_with_several_cases():
    assert {name: len(cases) >= 3 for name, cases in GROUPS.items()} == dict.fromkeys(GROUPS, True)
    assert len({c.id for c in CORPUS}) == len(CORPUS) >= 87


def test_the_good_tree_passes_the_same_harness(tree, agent, stages, monkeypatch, capsys):
    """The harness can tell: without a bad input, every stage runs (recorded) and the probes pass."""
    code, _, err = run_case(Case("good", ""), tree, agent, monkeypatch, capsys)
    assert (code, stages) == (0, ["test", "image", "push", "deploy"]), err
    assert f"prod: preflight: Lizzy at http://{agent.host} accepts the token (0 stacks)" in err
    assert ("GET", "/api/stacks") in agent.seen and ("GET", "/v2/") in agent.seen


@pytest.mark.parametrize(
    "accepted",
    [
        replace(PROD, "# Prod", "\ufeff# Prod"),  # a byte-order mark from an editor
        lambda root: (root / PROD).write_bytes(b"\xef\xbb\xbf" + (root / PROD).read_bytes()),
        replace(BASE, '["${region}a"]', '["${region}b"]'),  # another zone of the region
        replace(BASE, "8080: 8080", '"8080": 8080'),  # a quoted port
        replace(PROD, "GHE_NUM_SNAPSHOTS: 72", "GHE_NUM_SNAPSHOTS: 1000"),
        replace(STAGING, '"0 1-23/2 * * *"', '"0 1-23/2 * * mon-sun"'),
        lambda root: (root / "config/accounts/.prod.yaml.swp").write_bytes(b"\x00swap"),  # an editor's file
        # another table for the pipeline: the container is given it (no STATE_TABLE to keep in step)
        replace(PROD, "  deploy_timeout: 2400\n", "  deploy_timeout: 2400\n  state_table: prod-state\n"),
        prod_env(f"SSH_HOST_KEY_POLICY: pinned\n            {PINNED_KEYS}"),  # keys pinned as documented
    ],
    ids=[
        "bom-in-text",
        "bom-bytes",
        "zone-b",
        "quoted-port",
        "snapshots-max",
        "weekdays",
        "swap-file",
        "state-table",
        "pinned-keys",
    ],
)
def test_near_misses_are_accepted(accepted, tree, agent, stages, monkeypatch, capsys):
    code, _, err = run_case(Case("near-miss", "", accepted), tree, agent, monkeypatch, capsys)
    assert (code, stages) == (0, ["test", "image", "push", "deploy"]), err


@pytest.mark.parametrize(
    "argv",
    [
        ("accounts",),
        ("config", "--account=prod"),
        ("push", "--account=prod"),
        ("status", "--account=staging"),
        ("history", "--account=prod"),
        ("image",),
    ],
)
def test_every_task_that_reads_the_config_refuses_it(argv, tree, agent, stages, monkeypatch, capsys):
    case = Case(
        "erase-on-boot-any-task",
        "erase_on_boot: true would erase",
        replace(BASE, "erase_on_boot: false", "erase_on_boot: true"),
        argv=argv,
    )
    if argv == ("image",):  # image reads no account: it builds; the config is the deploy's business
        code, _, _ = run_case(case, tree, agent, monkeypatch, capsys)
        assert (code, stages) == (0, ["test", "image"])
        return
    code, _, err = run_case(case, tree, agent, monkeypatch, capsys)
    assert (code, stages) == (2, []) and case.says in err


# --- the installed inv ----------------------------------------------------------------------------


def run_inv(*argv, root, env=None, cwd=REPO):
    env = {**os.environ, "GHE_BACKUP_ROOT": str(root), **(env or {})}
    return subprocess.run(
        [str(Path(sys.executable).parent / "inv"), *argv], cwd=cwd, capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    "argv, env, says",
    [
        (("deplyo",), {}, "error: No idea what 'deplyo' is!; did you mean 'deploy'?"),
        (("deploy", "--account"), {}, "error: no account given"),
        (
            ("accounts",),
            {"INVOKE_GHE_SANDBOX": "false-ish"},
            "error: INVOKE_GHE_SANDBOX: 'false-ish' is not a yes/no value",
        ),
    ],
)
@pytest.mark.process
def test_the_installed_inv_exits_2_with_one_line(config_tree, argv, env, says):
    result = run_inv(*argv, root=config_tree, env=env)
    assert result.returncode == 2 and result.stderr.startswith(says) and result.stderr.count("\n") == 1, result.stderr
    assert not (config_tree / ".state").exists()


@pytest.mark.process
def test_the_installed_inv_refuses_a_fifo_overlay_without_hanging(config_tree):
    swap(PROD, os.mkfifo)(config_tree)
    result = run_inv("accounts", root=config_tree)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {config_tree}/config/accounts/prod.yaml: is a named pipe (FIFO), not a file (give a regular file)\n"
    )
